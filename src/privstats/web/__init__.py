"""Server-rendered web pages: what the hub's and the node's pages share.

Jinja2 templates (autoescaped), the stylesheet and vendored htmx (package data, never a
CDN), server-side sessions with CSRF tokens, SVG charts, spec-generated forms, and a job's
manifest told in plain words from its kind's declaration. Nothing here touches the hub's
store: the hub's routes (``hub.pages``) and the node's pages hand it what to show.
"""

from __future__ import annotations

from privstats.web.rendering import CONTENT_SECURITY_POLICY, STATIC_DIR, TEMPLATE_DIR, page
from privstats.web.sessions import CSRF_FIELD, WebSession, WebSessions

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CSRF_FIELD",
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "WebSession",
    "WebSessions",
    "page",
]
