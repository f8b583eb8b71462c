"""The pages' server-side sessions: random ids, CSRF tokens, lifetime, idle timeout, bound."""

from __future__ import annotations

import pytest

from privstats.web.sessions import WebSessions


def test_a_session_has_a_random_id_and_csrf_token() -> None:
    sessions = WebSessions[str]()
    first, second = sessions.start("alice"), sessions.start("alice")

    assert first.id != second.id and first.csrf != second.csrf
    assert len(first.id) >= 43 and len(first.csrf) >= 43  # 256 bits, url-safe
    assert first.csrf_ok(first.csrf)
    assert not first.csrf_ok(second.csrf)
    assert not first.csrf_ok(None) and not first.csrf_ok("")
    assert sessions.get(first.id) is first
    assert sessions.get("forged") is None and sessions.get(None) is None


def test_sessions_expire_by_lifetime_and_idleness() -> None:
    sessions = WebSessions[str](lifetime=100, idle=30)
    kept = sessions.start("alice", now=0)
    idle = sessions.start("bob", now=0)

    assert sessions.get(kept.id, now=25) is kept  # touched
    assert sessions.get(kept.id, now=50) is kept
    assert sessions.get(idle.id, now=50) is None  # idle for more than 30 s
    assert sessions.get(kept.id, now=75) is kept
    assert sessions.get(kept.id, now=101) is None  # older than its lifetime


def test_sign_out_ends_a_session_and_the_store_is_bounded() -> None:
    sessions = WebSessions[str](max_sessions=3)
    ids = [sessions.start(f"p{i}").id for i in range(5)]
    sessions.end(ids[-1])
    sessions.end("unknown")

    assert len(sessions) == 2
    assert sessions.get(ids[0]) is None and sessions.get(ids[-1]) is None
    assert sessions.get(ids[3]) is not None


def test_session_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        WebSessions[str](idle=0)
