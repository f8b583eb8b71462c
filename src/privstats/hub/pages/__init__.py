"""The hub's web pages under ``/``: sign-in, overview, submit, job, audit (server-rendered).

Pages are for people only and reuse the API's own rules: a person signs in with the bearer
token the API accepts (``hub.auth.person``), sees what ``hub.access`` lets them see, and
submits through ``hub.jobs.submit``. There is no page that decides on a job for a node:
approvals stay the node's signed API request. :func:`mount` adds the pages to the app.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from privstats.hub.pages import audit_pages, common, job_pages, signin
from privstats.web import STATIC_DIR

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Serve the pages, their static files and their sessions from ``app``."""
    app.state.web_sessions = common.new_sessions()
    app.exception_handler(common.SignInRequiredError)(common.to_signin)
    app.exception_handler(common.PageRefusedError)(common.refusal_page)
    for router in (signin.router, job_pages.router, audit_pages.router):
        app.include_router(router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
