"""The data owner's web pages, served by ``privstats node run`` on 127.0.0.1 only.

Pending approvals (the manifest in plain words beside the node's policy), the release
review of held synthetic data, and the node's datasets, recent jobs, budget and release
history. Decisions are signed by the node, as ``privstats node approve`` signs them; the
hub only carries them. :class:`PagesServer` runs the pages in a thread of the node;
:func:`create_app` is the ASGI app; :mod:`.plain` words a manifest for a person.
"""

from privstats.node.pages.app import create_app, is_loopback_client
from privstats.node.pages.desk import NodeDesk
from privstats.node.pages.plain import decision_in_words, manifest_in_words, policy_in_words
from privstats.node.pages.server import PagesServer
from privstats.node.pages.session import COOKIE, Sessions

__all__ = [
    "COOKIE",
    "NodeDesk",
    "PagesServer",
    "Sessions",
    "create_app",
    "decision_in_words",
    "is_loopback_client",
    "manifest_in_words",
    "policy_in_words",
]
