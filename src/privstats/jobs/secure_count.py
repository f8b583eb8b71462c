"""Secure count: how many records the parties hold together — the smallest complete kind.

This module is the worked example of "Adding a kind" in docs/architecture.md: everything
the service needs to know of the kind is declared here, and its one line in
:mod:`privstats.jobs.kinds` registers it.

Two to ten parties each count the records of their file and add the counts by secure
sum (:func:`privstats.protocols.sharing.secure_sum`: additive secret sharing, semi-honest
parties, no collusion of all but one; the hub relays sealed envelopes and sees none of
them). Every party learns the total, and only the total. A total below ``min_cell`` (or
the larger minimum of a party's node), a party's own count between 1 and its node's
``min_matched`` − 1, or a total that a party's release history makes computable (its
guard) is withheld from the release; the parties themselves still see the total. Whether a
party withholds is added by a second secure sum, so the parties learn how many withhold,
not which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from privstats.data.tables import read_table
from privstats.disclosure.owner import CandidateRelease
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
    context: RoleContext,
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
    owner = context.owner
    candidate = CandidateRelease("secure_count", (), {(): count}, measures=("count",))
    reasons = dict(owner.guard.check(candidate)) if owner.guard else {}
    if count < owner.cell_floor(spec.min_cell):
        reasons[()] = f"fewer than {owner.cell_floor(spec.min_cell)} records"
    if 0 < rows < owner.min_matched:
        reasons[()] = f"a party holds fewer than its floor of {owner.min_matched} records"
    # every party must release the same: a party's own reason to withhold is shared
    vote = ring.from_ints([int(bool(reasons))], parties=len(order))
    votes = secure_sum(channel, order, vote, ring)
    suppressed = votes is not None and ring.to_ints(votes)[0] > 0
    if owner.guard:
        owner.guard.published(candidate, [()] if suppressed else [])
    result: dict[str, Any] = {
        "computation": "secure_count",
        "parties": len(order),
        "count": None if suppressed else count,
        "suppressed": suppressed,
        "min_cell": spec.min_cell,
    }
    if suppressed:  # the same words at every party; a party's own reason stays with it
        result["reason"] = (
            f"fewer than {spec.min_cell} records"
            if count < spec.min_cell
            else "withheld by the release rules of one or more parties"
        )
    return RoleOutput(result, [f"this party withholds the total: {reasons[()]}"] if reasons else [])


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
