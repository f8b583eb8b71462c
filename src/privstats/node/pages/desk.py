"""What the data owner's pages ask of the node: jobs awaiting a decision, and the decisions.

A :class:`NodeDesk` holds the node's config, its own signed link to the hub and its ledger.
Approving goes through the same two steps as ``privstats node approve``: the policy's
decision on the manifest rebuilt from what the hub sent (:func:`privstats.node.agent.
decide`), then :func:`privstats.node.approval.approve_and_spend`, which spends the
budget in the ledger and signs the approval with the node's key. Rejecting signs a
rejection as ``privstats node reject`` does, and a release review writes the owner's
decision with :func:`privstats.node.release_review.decide`, as ``privstats node release``
and ``withhold`` do. The hub never signs anything here; it only carries what the node
signed.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError, PrivstatsError
from privstats.node import policy, release_review
from privstats.node.agent import decide
from privstats.node.approval import approve_and_spend
from privstats.node.config import DatasetSchema, NodeConfig, check_job_id
from privstats.node.hub_client import NodeHub
from privstats.node.ledger import Ledger, node_ledger
from privstats.node.ledger_report import budget_report, releases_report
from privstats.node.pages.plain import budget_in_words
from privstats.node.policy import Decision
from privstats.service.http import allow_plain_http
from privstats.service.manifest import Manifest

__all__ = ["DEFAULT_APPROVAL_NOTE", "NodeDesk", "Review"]

DEFAULT_APPROVAL_NOTE = "approved by the data owner on the node's page"
_REVIEW_FILES = ("report.html", "owner-report.html")


@dataclass(frozen=True)
class Review:
    """A job awaiting (or past) the data owner's decision: the job, its manifest, and what
    the policy would decide."""

    job: dict[str, Any]
    manifest: Manifest | None
    decision: Decision
    party: str

    @property
    def mine(self) -> dict[str, Any] | None:
        """This node's recorded decision on the job, if any."""
        approvals: list[dict[str, Any]] = self.job.get("approvals", [])
        return next((a for a in approvals if a.get("party") == self.party), None)

    @property
    def awaiting_me(self) -> bool:
        """Whether the job waits for this node's decision."""
        return self.job.get("state") == "awaiting_approval" and self.party in self.job.get(
            "pending_approvals", []
        )


class NodeDesk:
    """The node's side of every page: reads from the hub and the ledger, signs decisions."""

    def __init__(self, config: NodeConfig, hub: NodeHub | None = None) -> None:
        self.config = config
        if hub is None:
            with allow_plain_http() if config.insecure else nullcontext():
                hub = NodeHub(
                    config.hub, config.name, NodeKeys.load(config.keys), retry_seconds=5.0
                )
        self.hub = hub
        self.ledger: Ledger = node_ledger(config.path)
        self._schemas: dict[tuple[str, int, int], DatasetSchema] = {}

    @property
    def name(self) -> str:
        return self.config.name

    # -- reading --------------------------------------------------------------------------

    def jobs(self, *, active: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """The hub's listing of this node's jobs, newest first (only well-formed entries)."""
        params: dict[str, Any] = {"limit": limit}
        if active:
            params["active"] = "true"
        listed = self.hub.http.get("/jobs", **params)
        return [job for job in listed if _is_job(job)] if isinstance(listed, list) else []

    def pending(self) -> list[dict[str, Any]]:
        """Jobs awaiting this node's approval."""
        return [
            job
            for job in self.jobs(active=True)
            if job["state"] == "awaiting_approval" and self.name in job["pending_approvals"]
        ]

    def held(self) -> list[dict[str, Any]]:
        """Running jobs whose result this node holds for the owner's review, undecided."""
        held = []
        for job in self.jobs(active=True):
            folder = self.config.results_folder(job["id"])
            if release_review.is_held(folder) and release_review.decision_of(folder) is None:
                held.append(job)
        return held

    def review(self, job_id: str) -> Review:
        """A job with the manifest rebuilt from what the hub sent, and the policy's view."""
        job = self.hub.job(check_job_id(job_id))
        manifest, decision = decide(job, self.config)
        return Review(job, manifest, decision, self.name)

    def schema(self, name: str) -> DatasetSchema:
        """Dataset ``name``'s columns and rows; counted again only when its file changed."""
        dataset = self.config.datasets[name]
        try:
            stat = dataset.path.stat()
            key = (name, stat.st_mtime_ns, stat.st_size)
        except OSError:
            return dataset.schema()  # says what is wrong with the file
        if key not in self._schemas:
            self._schemas = {
                key: dataset.schema(),
                **{k: v for k, v in self._schemas.items() if k[0] != name},
            }
        return self._schemas[key]

    def budget_words(self, manifest: Manifest) -> str | None:
        """The job's spend beside its dataset's budget so far; None if it spends none here."""
        try:
            use = policy.budget_use(manifest, self.config)
        except (PrivstatsError, ValidationError):
            return None  # parameters that cannot run: the policy's reasons say so
        if use is None:
            return None
        dataset, asked, caps = use
        return budget_in_words(dataset, asked, caps, self.ledger.spent(dataset))

    def touching(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``jobs`` that read one of this node's datasets, each with ``dataset`` set."""
        found = []
        for job in jobs:
            datasets = job.get("manifest", {}).get("datasets", {})
            names = sorted(
                use.get("dataset", "")
                for use in datasets.values()
                if isinstance(use, dict) and use.get("party") == self.name
            )
            if names:
                found.append({**job, "dataset": ", ".join(names)})
        return found

    def budget(self) -> dict[str, Any]:
        return budget_report(self.config, self.ledger)

    def releases(self) -> dict[str, Any]:
        return releases_report(self.ledger)

    def review_files(self, job_id: str) -> list[str]:
        """The report files of a held result that a page may show (those present)."""
        folder = self.config.results_folder(job_id)
        return [name for name in _REVIEW_FILES if (folder / name).is_file()]

    def review_file(self, job_id: str, name: str) -> Path:
        if name not in _REVIEW_FILES:
            raise ParameterError(f"{name!r} is not a report file", parameter="name")
        return self.config.results_folder(job_id) / name

    def release_decision(self, job_id: str) -> release_review.ReleaseDecision | None:
        return release_review.decision_of(self.config.results_folder(job_id))

    def is_held(self, job_id: str) -> bool:
        return release_review.is_held(self.config.results_folder(job_id))

    # -- deciding -------------------------------------------------------------------------

    def approve(self, job_id: str, note: str) -> Decision:
        """Approve as ``privstats node approve`` does: the policy still applies, the budget
        is spent in the ledger and the approval signed with the node's key."""
        review = self.review(job_id)
        manifest, decision = review.manifest, review.decision
        if decision.action == "reject" or manifest is None:
            raise ParameterError(
                f"job {job_id} breaks this node's policy, so it cannot be approved: "
                + " ".join(decision.reasons)
            )
        decision = approve_and_spend(
            self.hub, self.config, self.ledger, job_id, manifest, note or DEFAULT_APPROVAL_NOTE
        )
        if decision.action == "reject":
            raise ParameterError(
                f"job {job_id} cannot be approved: {decision.reason}; reject it instead"
            )
        return decision

    def reject(self, job_id: str, reason: str) -> None:
        """Reject as ``privstats node reject`` does: a signed rejection stops the job."""
        if not reason.strip():
            raise ParameterError("say why the job is rejected (Reason)", parameter="reason")
        manifest = Manifest.model_validate(self.hub.job(check_job_id(job_id))["manifest"])
        self.hub.decide(job_id, manifest.digest(), "reject", reason)

    def decide_release(
        self, job_id: str, action: Literal["release", "withhold"], note: str
    ) -> release_review.ReleaseDecision:
        """Release or withhold a held result, as ``privstats node release``/``withhold``."""
        state = self.hub.job(check_job_id(job_id))["state"]
        if state != "running":
            raise ParameterError(f"job {job_id} is {state} at the hub; there is nothing to decide")
        return release_review.decide(self.config.results_folder(job_id), job_id, action, note)

    def close(self) -> None:
        self.hub.close()


def _is_job(job: object) -> bool:
    """A listing entry with what the pages read; a malformed one is left out."""
    if not isinstance(job, dict) or not isinstance(job.get("manifest"), dict):
        return False
    try:
        check_job_id(job.get("id"))
    except ParameterError:
        return False
    return isinstance(job.get("state"), str) and isinstance(job.get("pending_approvals"), list)
