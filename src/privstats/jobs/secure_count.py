"""Secure count: how many records the parties hold together — the smallest complete kind.

This module is the worked example of "Adding a kind" in docs/architecture.md: everything
the service needs to know of the kind is declared here, and its one line in
:mod:`privstats.jobs.kinds` registers it.

Two to ten parties each count the records of their file and add the counts by secure
sum (:func:`privstats.protocols.sharing.secure_sum`: additive secret sharing, semi-honest
parties, no collusion of all but one; the hub relays sealed envelopes and sees none of
them). Every party learns the total, and only the total; a total below ``min_cell`` is
suppressed, so no party learns the others' count then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from privstats.data.tables import read_table
from privstats.errors import ProtocolError
from privstats.jobs.kind import JobKind, RoleContext, RoleOutput
from privstats.jobs.render import figures_view
from privstats.jobs.roles import numbered_parties
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols.sharing import Ring, secure_sum
from privstats.transport.channel import Channel

__all__ = ["KIND", "SecureCountSpec"]


class SecureCountSpec(Spec):
    """What the parties agree on: the smallest total that may be released."""

    _option: ClassVar[str] = "secure-count option"

    min_cell: int = Field(10, ge=1, description="A total below this is suppressed.")


def _run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: SecureCountSpec,
    progress: Progress | None,
    _context: RoleContext,
) -> RoleOutput:
    order = numbered_parties(parties, "secure_count")
    if progress:
        progress("count", 0, 1)
    rows = read_table(path).rows
    ring = Ring()
    total = secure_sum(channel, order, ring.from_ints([rows], parties=len(order)), ring)
    if total is None:  # cannot happen: every party is a recipient of the sum
        raise ProtocolError("the secure sum gave this party no total", step="count")
    count = ring.to_ints(total)[0]
    suppressed = count < spec.min_cell
    result: dict[str, Any] = {
        "computation": "secure_count",
        "parties": len(order),
        "count": None if suppressed else count,
        "suppressed": suppressed,
        "min_cell": spec.min_cell,
    }
    return RoleOutput(result, [])


KIND = JobKind(
    name="secure_count",
    title="How many records the parties hold together, by secure sum.",
    description="Every party learns the total and nothing of another's count.",
    roles=(),
    role_help={"party": "A party and its records"},
    result_role="party1",
    spec_type=SecureCountSpec,
    columns=lambda _spec, _role: (),
    disclosure=lambda spec: {"min_cell": spec.min_cell},
    run_role=_run_role,
    parties=(2, 10),
    render=lambda result: [
        figures_view(
            f"Records of {result['parties']} parties",
            [("records", "suppressed" if result["suppressed"] else f"{result['count']:,}")],
            f"totals below {result['min_cell']} are suppressed",
        )
    ],
)
