"""The data owner's pages at the node: a small Starlette app, for this machine only.

Routes (every one refuses a client that is not on loopback with 403, and every one but
the sign-in routes and the stylesheet redirects to ``/signin`` without a session):

``GET /signin/{code}``
    the one-time link the node prints at start: starts a session (cookie
    ``privstats_node_session``, HttpOnly, SameSite=Strict) and redirects to ``/``.
``GET /signin``
    says how to sign in (open the printed link); no access.
``POST /signout``
    ends the session.
``GET /``
    jobs awaiting this node's approval (links ``/approvals/{job_id}``) and results held
    for review (links ``/releases/{job_id}``).
``GET /approvals/{job_id}``, ``POST /approvals/{job_id}``
    the manifest in plain words beside the node's policy and what it would decide; a
    "Reason" text and the buttons "Approve" / "Reject" (``action`` = approve | reject).
``GET /releases/{job_id}``, ``POST /releases/{job_id}``
    a held synthetic-data result's report; "Release" / "Withhold" with a "Reason".
``GET /releases/{job_id}/{report}``
    the report file itself (``report.html``, ``owner-report.html``), sandboxed.
``GET /datasets``
    the node's datasets, recent jobs that read them, budget spent and release history.

Every form carries ``csrf_token``; a POST without the session's token is refused (403).
Pages use no script and load nothing from elsewhere (Content-Security-Policy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from privstats.errors import ParameterError, PrivstatsError
from privstats.node.config import check_job_id
from privstats.node.pages.desk import NodeDesk
from privstats.node.pages.plain import decision_in_words, manifest_in_words, policy_in_words
from privstats.node.pages.session import COOKIE, Sessions

__all__ = ["create_app", "is_loopback_client"]

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_HOSTS = ("127.0.0.1", "localhost", "::1")

Form = Mapping[str, str]
Endpoint = Callable[[Request, Form], Response]


def is_loopback_client(host: str | None) -> bool:
    """Whether a request's client address is this machine (127.0.0.0/8 or ::1)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class _LoopbackOnly:
    """Refuse (403) every request whose client is not on loopback, or that names another
    host (a page of another site resolving its name to 127.0.0.1)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            host = _host_name(dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1"))
            if not is_loopback_client(client[0] if client else None) or host not in _HOSTS:
                response = Response(
                    "The node's pages answer only on this machine (127.0.0.1).",
                    status_code=403,
                    media_type="text/plain",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_name(header: str) -> str:
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Pages:
    """The route handlers, bound to one node's desk and sessions."""

    def __init__(self, desk: NodeDesk, sessions: Sessions) -> None:
        self.desk = desk
        self.sessions = sessions
        self.templates = Environment(
            loader=PackageLoader("privstats.node.pages", "templates"),
            autoescape=select_autoescape(("html",)),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -- helpers --------------------------------------------------------------------------

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        session = request.cookies.get(COOKIE)
        page = self.templates.get_template(name).render(
            node=self.desk.name,
            csrf_token=self.sessions.csrf_of(session) or "",
            signed_in=self.sessions.csrf_of(session) is not None,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(page, status_code=status_code, headers=_HEADERS)

    def problem(self, request: Request, status_code: int, message: str) -> HTMLResponse:
        return self.render(request, "problem.html", status_code, message=message)

    def signed_in(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """``endpoint`` for a session only; a POST also needs the session's CSRF token.

        The endpoint runs in a worker thread, since it waits for the hub.
        """

        async def guarded(request: Request) -> Response:
            session = request.cookies.get(COOKIE)
            if self.sessions.csrf_of(session) is None:
                return RedirectResponse("/signin", status_code=303, headers=_HEADERS)
            form: dict[str, str] = {}
            if request.method == "POST":
                sent = await request.form()
                form = {key: value for key, value in sent.items() if isinstance(value, str)}
                if not self.sessions.check_csrf(session, form.get("csrf_token")):
                    return self.problem(
                        request,
                        403,
                        "This form was not sent from the node's own page (no "
                        "valid CSRF token); open the page again and resend it.",
                    )
            return await run_in_threadpool(endpoint, request, form)

        return guarded

    @staticmethod
    def job_id(request: Request) -> str:
        return check_job_id(request.path_params["job_id"])

    # -- sign-in --------------------------------------------------------------------------

    async def signin_help(self, request: Request) -> Response:
        return self.render(request, "signin.html", 200)

    async def signin(self, request: Request) -> Response:
        session = self.sessions.redeem(request.path_params["code"])
        if session is None:
            return self.render(request, "signin.html", 403, refused=True)
        response = RedirectResponse("/", status_code=303, headers=_HEADERS)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    def signout(self, request: Request, _form: Form) -> Response:
        self.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/signin", status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def stylesheet(self, _request: Request) -> Response:
        css = resources.files("privstats.node.pages").joinpath("templates/node.css")
        return Response(
            css.read_text(encoding="utf-8"),
            media_type="text/css",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )

    # -- pages ----------------------------------------------------------------------------

    def index(self, request: Request, _form: Form) -> Response:
        try:
            pending, held = self.desk.pending(), self.desk.held()
        except PrivstatsError as exc:
            return self.problem(request, 502, f"The hub cannot be reached: {exc}")
        return self.render(request, "pending.html", pending=pending, held=held)

    def approval(self, request: Request, form: Form) -> Response:
        try:
            job_id = self.job_id(request)
        except ParameterError as exc:
            return self.problem(request, 404, str(exc))
        if request.method == "POST":
            return self._decide(request, job_id, form)
        return self._approval_page(request, job_id)

    def _approval_page(
        self, request: Request, job_id: str, status_code: int = 200, error: str | None = None
    ) -> Response:
        try:
            review = self.desk.review(job_id)
        except PrivstatsError as exc:
            return self.problem(request, _status_of(exc), str(exc))
        headline, reasons = decision_in_words(review.decision)
        words = (
            manifest_in_words(review.manifest, party=self.desk.name)
            if review.manifest is not None
            else ["The manifest the hub sent cannot be read."]
        )
        return self.render(
            request,
            "approval.html",
            status_code,
            job=review.job,
            review=review,
            words=words,
            policy=policy_in_words(self.desk.config),
            budget=None if review.manifest is None else self.desk.budget_words(review.manifest),
            headline=headline,
            reasons=reasons,
            error=error,
        )

    def _decide(self, request: Request, job_id: str, form: Form) -> Response:
        action, reason = form.get("action"), form.get("reason", "").strip()
        try:
            if action == "approve":
                self.desk.approve(job_id, reason)
            elif action == "reject":
                self.desk.reject(job_id, reason)
            else:
                raise ParameterError("press Approve or Reject", parameter="action")
        except PrivstatsError as exc:
            return self._approval_page(request, job_id, 400, error=str(exc))
        return RedirectResponse(f"/approvals/{job_id}", status_code=303, headers=_HEADERS)

    def release(self, request: Request, form: Form) -> Response:
        try:
            job_id = self.job_id(request)
        except ParameterError as exc:
            return self.problem(request, 404, str(exc))
        if request.method == "POST":
            action, note = form.get("action"), form.get("reason", "").strip()
            try:
                if action not in ("release", "withhold"):
                    raise ParameterError("press Release or Withhold", parameter="action")
                chosen: Literal["release", "withhold"] = (
                    "release" if action == "release" else "withhold"
                )
                if chosen == "withhold" and not note:
                    raise ParameterError(
                        "say why the release is withheld (Reason)", parameter="reason"
                    )
                self.desk.decide_release(job_id, chosen, note or "released by the data owner")
            except PrivstatsError as exc:
                return self._release_page(request, job_id, 400, error=str(exc))
            return RedirectResponse(f"/releases/{job_id}", status_code=303, headers=_HEADERS)
        return self._release_page(request, job_id)

    def _release_page(
        self, request: Request, job_id: str, status_code: int = 200, error: str | None = None
    ) -> Response:
        held = self.desk.is_held(job_id)
        decision = self.desk.release_decision(job_id)
        if not held and decision is None:
            return self.problem(request, 404, f"job {job_id} has no result held at this node")
        return self.render(
            request,
            "release.html",
            status_code,
            job_id=job_id,
            files=self.desk.review_files(job_id),
            decision=decision,
            held=held,
            error=error,
        )

    def report(self, request: Request, _form: Form) -> Response:
        try:
            path = self.desk.review_file(self.job_id(request), request.path_params["report"])
        except ParameterError as exc:
            return self.problem(request, 404, str(exc))
        if not path.is_file():
            return self.problem(request, 404, f"{path.name} is not at this node")
        return HTMLResponse(
            path.read_text(encoding="utf-8"),
            headers={
                "Content-Security-Policy": _REPORT_CSP,
                "X-Frame-Options": "SAMEORIGIN",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    def datasets(self, request: Request, _form: Form) -> Response:
        datasets = []
        for name, dataset in self.desk.config.datasets.items():
            try:
                schema: Any = self.desk.schema(name)
                problem = None
            except PrivstatsError as exc:
                schema, problem = None, str(exc)
            datasets.append({"name": name, "config": dataset, "schema": schema, "problem": problem})
        try:
            jobs, hub_problem = self.desk.touching(self.desk.jobs(limit=50)), None
        except PrivstatsError as exc:
            jobs, hub_problem = [], f"The hub cannot be reached: {exc}"
        return self.render(
            request,
            "datasets.html",
            datasets=datasets,
            jobs=jobs,
            hub_problem=hub_problem,
            budget=self.desk.budget()["datasets"],
            releases=self.desk.releases()["releases"],
        )


def _status_of(exc: PrivstatsError) -> int:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and 400 <= status < 500 else 502


def create_app(desk: NodeDesk, sessions: Sessions) -> ASGIApp:
    """The pages' ASGI app for ``desk``'s node, signed in through ``sessions``."""
    pages = _Pages(desk, sessions)
    guard = pages.signed_in
    routes = [
        Route("/signin", pages.signin_help, methods=["GET"]),
        Route("/signin/{code}", pages.signin, methods=["GET"]),
        Route("/signout", guard(pages.signout), methods=["POST"]),
        Route("/node.css", pages.stylesheet, methods=["GET"]),
        Route("/", guard(pages.index), methods=["GET"]),
        Route("/approvals/{job_id}", guard(pages.approval), methods=["GET", "POST"]),
        Route("/releases/{job_id}", guard(pages.release), methods=["GET", "POST"]),
        Route("/releases/{job_id}/{report}", guard(pages.report), methods=["GET"]),
        Route("/datasets", guard(pages.datasets), methods=["GET"]),
    ]
    return _LoopbackOnly(Starlette(routes=routes))
