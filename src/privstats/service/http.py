"""The one HTTP client of the hub's API, shared by nodes and people's clients.

It adds the caller's credentials (a bearer token, or a node's request signature), retries
while the hub is unreachable (so a hub restart does not break a running job), and turns
refusals into :class:`ServiceError` with the hub's own explanation.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from privstats.crypto.keys import NodeKeys
from privstats.errors import AuthenticationError, ServiceError
from privstats.service.signing import (
    HEADER_NONCE,
    HEADER_PARTY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_bytes,
)

__all__ = ["Credentials", "HubHttp", "bearer", "node_signature"]

Credentials = Callable[[str, str, bytes], dict[str, str]]
"""``credentials(method, path_with_query, body) -> headers``."""

API = "/api/v1"
_GATEWAY_DOWN = frozenset({502, 503, 504})


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
    """Requests to one hub with one identity."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        retry_seconds: float = 60.0,
        timeout: float = 60.0,
    ) -> None:
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
