"""Request-body limits enforced before any other work: a pure ASGI middleware.

A body is refused with HTTP 413 and a JSON error when its ``Content-Length`` announces more
than the limit, before a byte of it is read, or, for a body sent without a length
(chunked), as soon as the bytes received pass the limit. Nothing else — authentication,
routing, parsing — has run by then, so an unauthenticated caller cannot make the hub hold
more than one limit's worth of memory per connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _TooLargeError(Exception):
    """Raised inside the app's ``receive`` once the body passed its limit (and 413 was sent)."""


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (``route_limits``: other limits by path)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        route_limits: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.route_limits = tuple((re.compile(pattern), limit) for pattern, limit in route_limits)

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.route_limits:
            if pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await _refuse(send, limit, f"{announced} bytes announced")
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit, f"more than {limit} bytes sent")
                    raise _TooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is out; drop what the app answers to the exception
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLargeError:
            if not refused:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int, what: str) -> None:
    body = json.dumps(
        {
            "detail": f"request body too large ({what}); this hub accepts at most {limit} bytes "
            "(see --max-body-bytes of 'privstats hub')"
        }
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
