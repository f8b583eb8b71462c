"""The one HTTP client of the hub's API, shared by nodes and people's clients.

It adds the caller's credentials (a bearer token, or a node's request signature), retries
while the hub is unreachable (so a hub restart does not break a running job), and turns
refusals into :class:`ServiceError` with the hub's own explanation.

It talks plain ``http://`` only to this machine (a loopback address or ``localhost``):
bearer tokens, signed requests and results would otherwise cross the network in the
clear. Anything else must be ``https://``, unless the caller says ``insecure=True`` (or
builds the client inside :func:`allow_plain_http`, for code that creates its clients
itself), which is meant for a trial on a network the user trusts.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from privstats.crypto.keys import NodeKeys
from privstats.errors import AuthenticationError, ParameterError, ServiceError
from privstats.service.signing import (
    HEADER_NONCE,
    HEADER_PARTY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_bytes,
)

__all__ = [
    "Credentials",
    "HubHttp",
    "allow_plain_http",
    "bearer",
    "check_hub_url",
    "is_loopback",
    "node_signature",
]

Credentials = Callable[[str, str, bytes], dict[str, str]]
"""``credentials(method, path_with_query, body) -> headers``."""

API = "/api/v1"
_GATEWAY_DOWN = frozenset({502, 503, 504})
_PLAIN_HTTP_ALLOWED: ContextVar[bool] = ContextVar("plain_http_allowed", default=False)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback IP addresses."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_hub_url(url: str, *, insecure: bool = False, option: str = "--insecure") -> str:
    """``url`` if it is an https:// URL, or an http:// URL of this machine (or ``insecure``).

    A ParameterError otherwise, saying to use https; ``option`` names how the caller's user
    allows plain http (a command-line flag or a config key).
    """
    if not isinstance(url, str):
        raise TypeError(f"the hub URL must be a string, not {type(url).__name__}")
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise ParameterError(
            f"the hub URL {url!r} is not an https:// URL such as 'https://hub.example.org'",
            parameter="hub",
        )
    if parts.scheme == "http" and not insecure and not is_loopback(host):
        raise ParameterError(
            f"the hub URL {url!r} is plain http:// to another machine ({host}): tokens, "
            "signed requests and results would cross the network unencrypted; use https:// "
            f"(the hub behind a TLS proxy), or {option} for a trial on a network you trust",
            parameter="hub",
        )
    return url


@contextmanager
def allow_plain_http() -> Iterator[None]:
    """Clients built inside this block may use plain http:// to another machine.

    For callers that build their :class:`HubHttp` through code that takes no ``insecure``
    argument; the user must have asked for it (``--insecure``, ``insecure = true``).
    """
    token = _PLAIN_HTTP_ALLOWED.set(True)
    try:
        yield
    finally:
        _PLAIN_HTTP_ALLOWED.reset(token)


def bearer(token: str) -> Credentials:
    """Credentials of a person: ``Authorization: Bearer <token>``."""

    def headers(_method: str, _path: str, _body: bytes) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return headers


def node_signature(party: str, keys: NodeKeys) -> Credentials:
    """Credentials of a node: a fresh timestamp and nonce, signed with its Ed25519 key."""

    def headers(method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = f"{time.time():.3f}"
        nonce = secrets.token_hex(16)
        signature = keys.sign(request_bytes(method, path, body, timestamp, nonce, party))
        return {
            HEADER_PARTY: party,
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature.hex(),
        }

    return headers


class HubHttp:
    """Requests to one hub with one identity.

    Refuses (ParameterError) an ``http://`` URL of another machine unless ``insecure``.
    """

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        retry_seconds: float = 60.0,
        timeout: float = 60.0,
        insecure: bool = False,
    ) -> None:
        check_hub_url(url, insecure=insecure or _PLAIN_HTTP_ALLOWED.get())
        self.url = url.rstrip("/")
        self._credentials = credentials
        self.retry_seconds = retry_seconds
        self._client = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request to ``/api/v1`` + ``path``; retry while the hub is unreachable."""
        full = API + path
        if params:
            full += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        body = content if content is not None else b""
        headers = {}
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            # signed anew on every attempt: a nonce must never be sent twice
            all_headers = {**headers, **self._credentials(method, full, body)}
            try:
                response = self._client.request(
                    method,
                    full,
                    content=body,
                    headers=all_headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if time.monotonic() + delay > deadline:
                    raise ServiceError(
                        f"cannot reach the hub at {self.url}: {exc}; is 'privstats hub' running "
                        "there, and does the firewall allow this connection?"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if response.status_code in _GATEWAY_DOWN and time.monotonic() + delay <= deadline:
                time.sleep(delay)  # a proxy in front of a hub that is restarting
                delay = min(delay * 2, 2.0)
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body if body is not None else {}).json()

    def close(self) -> None:
        self._client.close()


def _error(response: httpx.Response) -> ServiceError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
        )
    message = f"the hub refused the request ({response.status_code}): {detail}"
    if response.status_code == 401:
        return AuthenticationError(message, status=401)
    return ServiceError(message, status=response.status_code)
