"""What every hub page shares: the signed-in viewer, CSRF checks, rendering and refusals.

A page's viewer comes from the session cookie (``privstats_session``); without a live,
signed-in session a page redirects to ``/signin``. A POST is refused (403) unless its form
carries the session's ``csrf_token``. The hub's refusals (``ServiceError`` and friends)
become an error page with the status the API would answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from privstats.errors import ParameterError, PrivstatsError, ServiceError
from privstats.hub.auth import Principal
from privstats.web import CSRF_FIELD, WebSession, WebSessions, page
from privstats.web.results import is_suppressed

__all__ = [
    "COOKIE",
    "PageRefusedError",
    "SignInRequiredError",
    "Viewer",
    "checked_form",
    "hub_page",
    "new_sessions",
    "refusals",
    "refused",
    "sessions_of",
    "set_session_cookie",
    "viewer",
]

COOKIE = "privstats_session"
HubSession = WebSession[Principal]


class SignInRequiredError(Exception):
    """No signed-in session: the page redirects to the sign-in form."""


class PageRefusedError(Exception):
    """A page the hub refuses, with the status the API would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_sessions() -> WebSessions[Principal]:
    return WebSessions[Principal]()


def sessions_of(request: Request) -> WebSessions[Principal]:
    return cast(WebSessions[Principal], request.app.state.web_sessions)


def current(request: Request) -> HubSession | None:
    """The request's live session (anonymous or signed in), or None."""
    return sessions_of(request).get(request.cookies.get(COOKIE))


def viewer(request: Request) -> HubSession:
    """The signed-in session of the request; redirects to /signin without one."""
    session = current(request)
    if session is None or session.user is None:
        raise SignInRequiredError
    return session


Viewer = Annotated[HubSession, Depends(viewer)]


def set_session_cookie(request: Request, response: Response, session: HubSession) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure when served over TLS."""
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(sessions_of(request).lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def checked_form(request: Request, session: HubSession | None) -> FormData:
    """The posted form, refused (403) unless it carries the session's CSRF token."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if session is None or not session.csrf_ok(token if isinstance(token, str) else None):
        raise PageRefusedError(
            403, "the form's security token is missing or stale; reload the page"
        )
    return form


def refused(exc: PrivstatsError) -> PageRefusedError:
    """A hub error as the page refusal with the API's status for it."""
    if isinstance(exc, ServiceError) and exc.status:
        return PageRefusedError(exc.status, str(exc))
    return PageRefusedError(422 if isinstance(exc, ParameterError) else 400, str(exc))


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the hub's refusals inside the block into refused pages."""
    try:
        yield
    except PrivstatsError as exc:
        raise refused(exc) from exc


def hub_page(
    session: HubSession | None,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A hub page with the viewer and its CSRF token in the context."""
    base = {
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "site_name": "privstats hub",
        "is_suppressed": is_suppressed,
    }
    return page(template, {**base, **context}, status=status, headers=headers)


_HEADINGS = {403: "Not allowed", 404: "Not found", 409: "Not yet", 422: "Not valid"}


async def refusal_page(request: Request, exc: Exception) -> Response:
    """A refused page: the reason, with the refusal's status."""
    assert isinstance(exc, PageRefusedError)
    session = current(request)
    signed_in = session if session is not None and session.user is not None else None
    heading = _HEADINGS.get(exc.status, "Refused")
    return hub_page(
        signed_in, "error.html", {"heading": heading, "message": exc.message}, status=exc.status
    )


async def to_signin(request: Request, _exc: Exception) -> Response:
    """Redirect to the sign-in form; an htmx poll gets ``HX-Redirect`` so that the whole
    page goes there (a redirect would swap the form into the polled fragment)."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": "/signin"})
    return RedirectResponse("/signin", status_code=303)
