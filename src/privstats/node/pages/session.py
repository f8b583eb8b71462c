"""Sign-in to the data owner's pages: a one-time code, a session, a CSRF token per session.

The node prints one link with a random code when it starts; whoever can read the node's
console or log may open it. The code works once: opening it starts a session (a random
cookie value) and the code is spent, so a link copied later from the log opens nothing.
Each session has its own CSRF token, put in every form and checked on every POST. All
values come from :mod:`secrets` and are compared in constant time. Sessions live in this
process only: a restart of the node ends them and prints a new link.
"""

from __future__ import annotations

import hmac
import secrets
import threading

__all__ = ["COOKIE", "Sessions"]

COOKIE = "privstats_node_session"


class Sessions:
    """The one-time sign-in code of this node run and the sessions it started."""

    def __init__(self) -> None:
        self._code: str | None = secrets.token_urlsafe(24)
        self.code = self._code
        self._sessions: dict[str, str] = {}  # session id → its CSRF token
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the code and sessions are secrets
        return f"Sessions({len(self._sessions)} open)"

    def redeem(self, code: str) -> str | None:
        """A new session id if ``code`` is the unused sign-in code (then spent); else None."""
        with self._lock:
            if self._code is None or not hmac.compare_digest(code.encode(), self._code.encode()):
                return None
            self._code = None
            session = secrets.token_urlsafe(32)
            self._sessions[session] = secrets.token_urlsafe(32)
            return session

    def csrf_of(self, session: str | None) -> str | None:
        """The CSRF token of ``session``; None if it is not an open session."""
        if not session:
            return None
        with self._lock:
            for known, token in self._sessions.items():
                if hmac.compare_digest(known.encode(), session.encode()):
                    return token
        return None

    def check_csrf(self, session: str | None, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of the open ``session``."""
        expected = self.csrf_of(session)
        return (
            expected is not None
            and token is not None
            and hmac.compare_digest(expected.encode(), token.encode())
        )

    def end(self, session: str | None) -> None:
        """Sign ``session`` out (nothing if it is not open)."""
        with self._lock:
            for known in list(self._sessions):
                if session and hmac.compare_digest(known.encode(), session.encode()):
                    del self._sessions[known]
