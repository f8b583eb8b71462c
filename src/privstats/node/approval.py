"""Approving a job at the node: spend its privacy budget in the ledger, then sign and send.

The node's loop (``approval = "auto"``) and ``privstats node approve`` both come here, so a
job's spend is checked against the dataset's total cap and recorded in one ledger
transaction before the approval leaves the node. The approval's signed reason states the
spend (dataset, ε, δ and the total after it); the hub keeps that reason verbatim in its
audit chain, so each spend is mirrored as an entry signed by the node's key, with no
change to the hub. An approval the hub refuses (the job is no longer awaiting it) cannot
start the job here, so its spend is refunded; any other failure keeps it spent.
"""

from __future__ import annotations

from typing import Protocol

from privstats.errors import ServiceError
from privstats.node import policy
from privstats.node.config import NodeConfig
from privstats.node.ledger import Ledger
from privstats.node.policy import Decision
from privstats.service.manifest import Manifest

__all__ = ["approve_and_spend"]


class _Hub(Protocol):
    def decide(self, job_id: str, manifest_digest: str, decision: str, reason: str) -> None: ...


def approve_and_spend(
    hub: _Hub, config: NodeConfig, ledger: Ledger, job_id: str, manifest: Manifest, note: str
) -> Decision:
    """Spend the job's budget and send the signed approval; or, over budget, send nothing
    and return a ``reject`` decision whose reason names the dataset, spent, asked and cap.
    """
    use = policy.budget_use(manifest, config)
    reason = note
    if use is not None:
        dataset, budget, caps = use
        outcome = ledger.spend(dataset, job_id, manifest.kind, budget, caps)
        if outcome.spend is None:
            return Decision("reject", (outcome.refused,))
        reason = f"{note}; {outcome.statement}"
    try:
        hub.decide(job_id, manifest.digest(), "approve", reason)
    except ServiceError as exc:
        if use is not None and exc.status is not None and 400 <= exc.status < 500:
            ledger.refund(job_id, f"the hub refused the approval: {exc}")
        raise
    return Decision("approve", (reason,))
