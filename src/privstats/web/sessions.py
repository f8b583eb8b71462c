"""Server-side sessions of the web pages, each with its CSRF token.

A session id is 256 random bits from ``secrets``; the cookie carries only that id
(HttpOnly, SameSite=Strict, Secure over TLS). Sessions live in memory with an absolute
lifetime and an idle timeout, so a restart signs everyone out. A session starts anonymous
(it carries the sign-in form's CSRF token) and gets a fresh id when a person signs in, so a
fixed id cannot be carried into a signed-in session. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["CSRF_FIELD", "WebSession", "WebSessions"]

CSRF_FIELD = "csrf_token"
"""The hidden form field every HTML form carries."""

U = TypeVar("U")


@dataclass
class WebSession(Generic[U]):
    """One browser's session: who signed in (None before sign-in) and its CSRF token."""

    id: str
    csrf: str
    created: float
    seen: float
    user: U | None = None
    data: dict[str, str] = field(default_factory=dict)

    def csrf_ok(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant-time comparison)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class WebSessions(Generic[U]):
    """The sessions of one server, in memory, bounded in number and lifetime."""

    def __init__(
        self, *, lifetime: float = 8 * 3600, idle: float = 3600, max_sessions: int = 10_000
    ) -> None:
        if lifetime <= 0 or idle <= 0 or max_sessions < 1:
            raise ValueError("session lifetime, idle timeout and maximum must be positive")
        self.lifetime = lifetime
        self.idle = idle
        self.max_sessions = max_sessions
        self._sessions: dict[str, WebSession[U]] = {}
        self._lock = threading.Lock()

    def _live(self, session: WebSession[U], now: float) -> bool:
        return now - session.created < self.lifetime and now - session.seen < self.idle

    def start(self, user: U | None = None, *, now: float | None = None) -> WebSession[U]:
        """A new session (anonymous if ``user`` is None) with a fresh id and CSRF token."""
        now = time.time() if now is None else now
        session = WebSession[U](
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
            user=user,
        )
        with self._lock:
            for key in [k for k, s in self._sessions.items() if not self._live(s, now)]:
                del self._sessions[key]
            while len(self._sessions) >= self.max_sessions:  # drop the oldest
                del self._sessions[next(iter(self._sessions))]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, *, now: float | None = None) -> WebSession[U] | None:
        """The live session ``session_id`` names (touching it), or None."""
        if not session_id:
            return None
        now = time.time() if now is None else now
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if not self._live(session, now):
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str | None) -> None:
        """Forget a session (sign-out); an unknown id is ignored."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
