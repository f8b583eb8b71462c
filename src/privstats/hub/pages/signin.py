"""Sign-in and sign-out pages: a person's bearer token into a server-side session.

The sign-in form carries the CSRF token of an anonymous session; a valid token (checked by
``hub.auth.person``, exactly as for the API) starts a new session under a fresh id, so the
anonymous id cannot be carried into the signed-in one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from privstats.errors import AuthenticationError
from privstats.hub import auth
from privstats.hub.context import hub_state
from privstats.hub.pages.common import (
    COOKIE,
    checked_form,
    current,
    hub_page,
    sessions_of,
    set_session_cookie,
)

__all__ = ["router"]

router = APIRouter()


@router.get("/signin")
def signin_form(request: Request) -> Response:
    """The sign-in form (an anonymous session holds its CSRF token)."""
    session = current(request)
    if session is None:
        session = sessions_of(request).start()
    response = hub_page(None, "signin.html", {"csrf": session.csrf, "error": None})
    set_session_cookie(request, response, session)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the token as the API does; on success a new signed-in session, then ``/``."""
    session = current(request)
    form = await checked_form(request, session)
    assert session is not None
    token = form.get("token")
    try:
        who = auth.person(
            hub_state(request).store, f"Bearer {token if isinstance(token, str) else ''}"
        )
    except AuthenticationError as exc:
        context = {"csrf": session.csrf, "error": f"Sign-in refused: {exc}."}
        return hub_page(None, "signin.html", context, status=401)
    sessions = sessions_of(request)
    sessions.end(session.id)
    signed_in = sessions.start(who)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, signed_in)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session (CSRF-protected) and go back to the sign-in form."""
    session = current(request)
    await checked_form(request, session)
    assert session is not None
    sessions_of(request).end(session.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
