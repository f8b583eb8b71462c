"""The hub's REST API under ``/api/v1`` (FastAPI), with its OpenAPI document.

People call it with bearer tokens; nodes with signed requests (see ``hub.auth``). The
routes, by concern, are in ``hub.routes`` (registry, jobs, relay, audit); they share one
:class:`~privstats.hub.context.HubState`. Bodies are bounded before anything else runs
(``hub.limits``); a watchdog thread fails jobs whose nodes fall silent.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from privstats.errors import ParameterError, PrivstatsError, ServiceError
from privstats.hub.context import HubState
from privstats.hub.limits import BodyLimit
from privstats.hub.pages import mount as mount_pages
from privstats.hub.routes import audit, jobs, registry, relay
from privstats.hub.settings import HubSettings
from privstats.hub.store import Store
from privstats.version import __version__

__all__ = ["API_PREFIX", "HubSettings", "create_app"]

API_PREFIX = "/api/v1"


def create_app(store: Store, settings: HubSettings | None = None) -> FastAPI:
    """The hub application over ``store``."""
    state = HubState(store, settings or HubSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(
            target=state.watch_silent_nodes, name="privstats-watchdog", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            state.stop.set()
            state.waiters.notify()
            thread.join(timeout=5)

    app = FastAPI(
        title="privstats hub",
        version=__version__,
        description="Registry, jobs, approvals, sealed relay and audit log of a federation.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads its script from a CDN: pages name no outside URL
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.hub = state
    app.add_middleware(
        BodyLimit,
        max_bytes=state.settings.body_limit,
        route_limits=((rf"{API_PREFIX}/jobs/[^/]+/complete", state.settings.max_result_bytes),),
    )
    app.exception_handler(PrivstatsError)(_privstats_error)
    for router in (registry.router, jobs.router, relay.router, audit.router):
        app.include_router(router, prefix=API_PREFIX)
    mount_pages(app)
    return app


async def _privstats_error(_request: Request, exc: PrivstatsError) -> JSONResponse:
    """A refusal as ``{"detail": …}``: a ServiceError's own status, 422 for a bad
    parameter, else 400."""
    if isinstance(exc, ServiceError) and exc.status:
        status = exc.status
    elif isinstance(exc, ParameterError):
        status = 422
    else:
        status = 400
    return JSONResponse({"detail": str(exc)}, status_code=status)
