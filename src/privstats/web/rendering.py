"""Templates to HTML responses, with the headers every page carries.

The environment autoescapes everything (``.html`` templates and strings alike); pages get
a Content-Security-Policy of ``default-src 'self'`` so that no inline script or style and
no external URL runs: the stylesheet and htmx are served from the package's ``static``
folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from privstats.web.plain import state_word

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "environment",
    "page",
]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers of every page: no inline script, no framing, nothing cached (pages show results)."""


@lru_cache(maxsize=8)
def environment(extra_dirs: tuple[str, ...] = ()) -> Environment:
    """The Jinja environment over ``extra_dirs`` (searched first) and the shared templates."""
    loaders = [FileSystemLoader(d) for d in extra_dirs] + [FileSystemLoader(str(TEMPLATE_DIR))]
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["state_word"] = state_word
    return env


def page(
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    template_dirs: Sequence[str] = (),
) -> HTMLResponse:
    """``template`` rendered with ``context``, as an HTML response with the security headers."""
    html = environment(tuple(template_dirs)).get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
