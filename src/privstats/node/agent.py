"""The node agent: declares its datasets, decides on jobs by policy, runs approved roles.

It only ever connects *out* to the hub. Each round it lists the jobs it is a party of;
a job awaiting approval is checked against the local policy and approved or rejected with
the node's signature, or left for a person (``privstats node approve``). Before it runs an
approved job it rebuilds the manifest's hash and checks its own approval signature
against it, so a job changed after approval is refused. While a role runs, a heartbeat
tells the hub the node is alive and at which step. A job that releases records holds its
result here until the data owner releases it (:mod:`privstats.node.release_review`).

The node's ledger (:mod:`privstats.node.ledger`) is spent when a job is approved (its
privacy budget, checked against the dataset's total cap) and told what each job
released from a dataset (the tables its release guard was shown, recorded as soon as the
role reports them, even if the job fails afterwards).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privstats.crypto.keys import NodeKeys, PublicKeys, verify
from privstats.disclosure.history import HistoryGuard
from privstats.disclosure.owner import ReleaseGuard
from privstats.errors import (
    CryptoError,
    DatasetError,
    ParameterError,
    PrivstatsError,
    ServiceError,
)
from privstats.files import write_text_atomically
from privstats.jobs.kind import RoleContext
from privstats.jobs.kinds import get_kind
from privstats.node import policy, release_review
from privstats.node.approval import approve_and_spend
from privstats.node.config import NodeConfig, check_job_id
from privstats.node.hub_client import NodeHub
from privstats.node.ledger import node_ledger
from privstats.node.policy import Decision
from privstats.service.http import allow_plain_http
from privstats.service.manifest import Manifest, approval_bytes
from privstats.service.models import JobView, parse
from privstats.transport.relay import RelayChannel
from privstats.version import __version__

__all__ = ["NodeAgent", "check_approved_manifest", "decide"]

Say = Callable[[str], None]
_KNOWN_PARTIES = "known_parties.json"


def decide(
    job: JobView | Mapping[str, Any], config: NodeConfig
) -> tuple[Manifest | None, Decision]:
    """The policy's decision on ``job``, with the manifest rebuilt from what the hub sent."""
    if isinstance(job, JobView):
        sent, digest = job.manifest, job.manifest_hash
    else:
        sent, digest = job["manifest"], job["manifest_hash"]
    try:
        manifest = Manifest.model_validate(sent)
    except ValueError as exc:
        return None, Decision("reject", (f"the job's manifest is malformed: {exc}",))
    if manifest.digest() != digest:
        return manifest, Decision(
            "reject", ("the hub's manifest hash does not match the manifest",)
        )
    decision = policy.evaluate(manifest, config)
    if manifest.code_version.split(".")[:2] != __version__.split(".")[:2]:
        reason = (
            f"the job was made for privstats {manifest.code_version}; this node runs {__version__}"
        )
        failed = decision.reasons if decision.action == "reject" else ()
        return manifest, Decision("reject", (*failed, reason))
    return manifest, decision


def check_approved_manifest(
    job: JobView | Mapping[str, Any], party: str, keys: NodeKeys
) -> Manifest | None:
    """The manifest, if this node's approval signature still matches it; else None."""
    try:
        view = job if isinstance(job, JobView) else JobView.model_validate(job)
        manifest = Manifest.model_validate(view.manifest)
    except ValueError:
        return None
    approval = view.approval_of(party)
    if approval is None or approval.decision != "approve":
        return None
    signed = approval_bytes(view.id, manifest.digest(), "approve", approval.reason)
    try:
        signature = bytes.fromhex(approval.signature)
    except ValueError:
        return None
    return manifest if verify(keys.public.sign, signed, signature) else None


@dataclass
class _Running:
    step: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class NodeAgent:
    """One node's loop; ``run`` until ``stop`` is set."""

    def __init__(self, config: NodeConfig, *, say: Say = print) -> None:
        self.config = config
        self.keys = NodeKeys.load(config.keys)
        with allow_plain_http() if config.insecure else nullcontext():
            self.hub = NodeHub(config.hub, config.name, self.keys)
        self.say = say
        self.ledger = node_ledger(config.path)
        self._asked: set[str] = set()
        self._done: set[str] = set()
        self._refused: set[str] = set()

    def declare_datasets(self) -> None:
        for name, dataset in self.config.datasets.items():
            schema = dataset.schema()
            changed = self.hub.declare_dataset(
                name,
                dataset.format,
                schema.rows,
                [[column, kind] for column, kind in schema.columns],
                list(dataset.key_columns),
            )
            state = "declared" if changed else "unchanged"
            self.say(
                f"dataset {name!r}: {_counted(schema.rows, 'row')}, "
                f"{_counted(len(schema.columns), 'column')} ({state})"
            )

    def run(self, stop: threading.Event) -> None:
        self.declare_datasets()
        self.say(f"node {self.config.name!r} connected to {self.config.hub}; waiting for jobs")
        while not stop.is_set():
            try:
                self.poll_once()
            except ServiceError as exc:  # hub down or refusing: say so, keep trying
                self.say(f"hub unavailable, retrying: {exc}")
            stop.wait(self.config.poll_seconds)

    def poll_once(self) -> None:
        """Act once on each job the hub lists: decide, run, release a held result, or
        report a part that cannot resume.

        The listing is routed on the few fields it needs (id, state, this node's approval
        and progress); a job is parsed into a :class:`JobView` before the node acts on it,
        and one the hub sent malformed is skipped with a word, not a crash.
        """
        for job in self.hub.active_jobs():
            if not isinstance(job, dict):
                self._refuse_listing(f"{type(job).__name__} where a job was expected")
                continue
            try:
                check_job_id(job.get("id"))
            except ParameterError as exc:
                self._refuse_listing(str(exc))
                continue
            if job["id"] in self._done:
                continue
            mine = [a for a in job["approvals"] if a["party"] == self.config.name]
            if job["state"] == "awaiting_approval" and not mine:
                if (view := self._view(job)) is not None:
                    self._on_proposed(view)
            elif job["state"] in ("approved", "running"):
                member = next(p for p in job["parties"] if p["party"] == self.config.name)
                if member["started_at"] is None:
                    if (view := self._view(job)) is not None:
                        self._done.add(view.id)
                        self._run_job(view)
                elif member["completed_at"] is None:
                    if release_review.is_held(self.results_folder(job["id"])):
                        if (view := self._view(job)) is not None:
                            self._on_held(view, member["role"])
                        continue
                    # started by an earlier run of this node, which is gone: cannot resume
                    self._done.add(job["id"])
                    reason = (
                        f"node {self.config.name!r} was restarted while running this job; "
                        "its part cannot resume, submit the job again"
                    )
                    self.say(f"job {job['id']}: {reason}")
                    self.hub.fail(job["id"], member["step"], reason)

    def _view(self, job: dict[str, Any]) -> JobView | None:
        """``job`` parsed; None (said once) if the hub sent it in another shape."""
        try:
            return parse(JobView, job, f"job {job['id']}")
        except ServiceError as exc:
            self._refuse_listing(str(exc))
            return None

    def _refuse_listing(self, reason: str) -> None:
        """Say once that the hub listed a job this node will not touch, and why."""
        if reason not in self._refused and len(self._refused) < 1000:
            self._refused.add(reason)
            self.say(f"ignoring a job the hub listed: {reason}")

    def _on_proposed(self, job: JobView) -> None:
        manifest, decision = decide(job, self.config)
        digest = manifest.digest() if manifest else job.manifest_hash
        if decision.action == "approve" and manifest is not None:
            decision = approve_and_spend(
                self.hub, self.config, self.ledger, job.id, manifest, "approved by policy"
            )
        if decision.action == "approve":
            self.say(f"job {job.id} ({job.kind}): {decision.reason}")
        elif decision.action == "reject":
            reason = " ".join(decision.reasons)
            self.hub.decide(job.id, digest, "reject", reason)
            self.say(f"job {job.id} ({job.kind}): rejected — {reason}")
        elif job.id not in self._asked:
            self._asked.add(job.id)
            self.say(
                f"job {job.id} ({job.kind}, submitted by {job.submitted_by}) awaits "
                f"your decision: privstats node approve {job.id} --config {self.config.path}"
                f"   (or: privstats node reject {job.id} --reason …)"
            )

    def _run_job(self, job: JobView) -> None:
        job_id = job.id
        manifest = check_approved_manifest(job, self.config.name, self.keys)
        if manifest is None:
            reason = (
                f"node {self.config.name!r} refuses to run job {job_id}: its manifest is not "
                "the one this node approved"
            )
            self.say(reason)
            self.hub.fail(job_id, "manifest check", reason)
            return
        role = manifest.role_of(self.config.name)
        assert role is not None  # an approved manifest names this node
        running = _Running(step="start")
        beat = threading.Thread(
            target=self._heartbeat, args=(job_id, running), name="heartbeat", daemon=True
        )
        try:
            self.ledger.mark_started(job_id)  # from here on, its spend is never refunded
            self.hub.start(job_id)
            beat.start()
            self.say(f"job {job_id}: running as {role}")
            result, release = self._run_role(job_id, manifest, role, running)
            if release and result is not None and get_kind(manifest.kind).releases_records:
                self._hold(job_id, result, running)
                return
            running.step = "release"
            self.hub.complete(job_id, role, result, release)
            self.say(f"job {job_id}: done")
        except Exception as exc:
            reason = str(exc) if isinstance(exc, PrivstatsError) else f"{type(exc).__name__}: {exc}"
            self.say(f"job {job_id}: failed at step {running.step!r}: {reason}")
            try:
                self.hub.fail(job_id, running.step, f"{self.config.name}: {reason}")
            except PrivstatsError as report:
                self.say(f"job {job_id}: could not report the failure: {report}")
        finally:
            running.stop.set()
            if beat.is_alive():
                beat.join(timeout=5)

    def _hold(self, job_id: str, result: dict[str, Any], running: _Running) -> None:
        """Keep a record-level result here until the data owner releases or withholds it."""
        folder = self.results_folder(job_id)
        release_review.hold(folder, result)
        running.step = release_review.AWAITING_REVIEW
        self.hub.heartbeat(job_id, running.step)
        self._done.discard(job_id)
        self.say(
            f"job {job_id}: the result waits for your review in {folder} (report.html is what "
            "would be released, owner-report.html, where present, compares it with your data); "
            f"release it: privstats node release {job_id} --config {self.config.path}   "
            f"(or: privstats node withhold {job_id} --reason … --config {self.config.path})"
        )

    def _on_held(self, job: JobView, role: str) -> None:
        """Send a held result once its owner released it, or fail the job if withheld."""
        job_id = job.id
        folder = self.results_folder(job_id)
        decision = release_review.decision_of(folder)
        if decision is None:
            return
        if check_approved_manifest(job, self.config.name, self.keys) is None:
            self._done.add(job_id)
            self.hub.fail(
                job_id,
                release_review.AWAITING_REVIEW,
                f"node {self.config.name!r} will not release: the job's manifest is not the "
                "one this node approved",
            )
            return
        if decision.action == "withhold":
            self.hub.fail(
                job_id,
                release_review.AWAITING_REVIEW,
                f"{self.config.name}: the data owner withheld the release: {decision.note}",
            )
            self._done.add(job_id)
            self.say(f"job {job_id}: release withheld ({decision.note})")
            return
        self.hub.complete(job_id, role, release_review.held_result(folder), True)
        self._done.add(job_id)
        release_review.forget_held(folder)
        self.say(f"job {job_id}: released by the data owner; done")

    def _registered_path(self, name: str) -> str:
        """The file of a dataset this node offers, for a further input a spec names."""
        if name not in self.config.datasets:
            raise DatasetError(
                f"{self.config.name}: the job names a dataset {name!r} this node does not "
                f"offer; register it in {self.config.path} (offered: "
                f"{', '.join(sorted(self.config.datasets))})"
            )
        return str(self.config.datasets[name].path)

    def _run_role(
        self, job_id: str, manifest: Manifest, role: str, running: _Running
    ) -> tuple[dict[str, Any] | None, bool]:
        kind = get_kind(manifest.kind)
        spec = kind.parse(manifest.parameters)
        path = (
            ""
            if role in kind.dataless_roles
            else str(self.config.datasets[manifest.datasets[role].dataset].path)
        )
        keys = self._pinned(self.hub.public_keys(), manifest)
        peers = {
            party: keys[party] for party in manifest.parties.values() if party != self.config.name
        }
        channel = RelayChannel(self.config.name, job_id, self.keys, peers, self.hub.mailbox(job_id))

        def progress(step: str, _done: int, _total: int) -> None:
            running.step = step

        owner = policy.owner_rules(
            manifest, self.config, role, job_id=job_id, history=self.ledger.history
        )
        context = RoleContext(
            peer_rows=self._declared_rows(manifest, role),
            owner=owner,
            further_dataset=self._registered_path,
        )
        running.step = "load"
        try:
            with channel:
                output = kind.run_role(
                    role, channel, manifest.parties, path, spec, progress, context
                )
        finally:  # a release the kind reported is kept, even if the job fails afterwards
            self._record_releases(manifest, role, owner.guard)
        for warning in output.warnings:
            self.say(f"job {job_id}: warning: {warning}")
        if output.local_files:
            running.step = "keep files"
            folder = self.results_folder(job_id)
            for name, text in output.local_files.items():
                write_text_atomically(folder / name, text, private=True)
            self.say(f"job {job_id}: kept {', '.join(output.local_files)} in {folder}")
        return output.result, role == kind.result_role

    def _record_releases(self, manifest: Manifest, role: str, guard: ReleaseGuard | None) -> None:
        """Keep in the ledger what the role's guard was told the job released."""
        if not isinstance(guard, HistoryGuard) or not guard.pending:
            return
        dataset = manifest.datasets[role].dataset
        for release in guard.pending:
            self.ledger.record_release(dataset, release)
        guard.pending.clear()

    def _declared_rows(self, manifest: Manifest, own_role: str) -> dict[str, int]:
        """Role → the row count the hub lists for that role's dataset (other roles only).

        A peer holds at most that many identifiers, so a protocol can stop a peer that
        announces more; a count the hub does not list is left out (no bound).
        """
        wanted: dict[tuple[object, object], str] = {
            (use.party, use.dataset): role
            for role, use in manifest.datasets.items()
            if role != own_role
        }
        if not wanted:
            return {}
        rows: dict[str, int] = {}
        listed = self.hub.http.get("/datasets")
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict):
                continue
            role = wanted.get((entry.get("party"), entry.get("name")))
            count = entry.get("rows")
            if role is not None and type(count) is int and count >= 0:
                rows[role] = count
        return rows

    def results_folder(self, job_id: str) -> Path:
        return self.config.results_folder(job_id)

    def _pinned(self, listed: dict[str, PublicKeys], manifest: Manifest) -> dict[str, PublicKeys]:
        """Peers' keys as the hub lists them, checked against the keys first seen (pinned).

        A hub that swapped a peer's box key for its own could read that peer's envelopes;
        the node keeps the keys it first saw for each peer and refuses any change.
        """
        path = Path(self.config.keys) / _KNOWN_PARTIES
        known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for party in manifest.parties.values():
            if party == self.config.name:
                continue
            if party not in listed:
                raise ServiceError(f"party {party!r} of this job is not enrolled at the hub")
            current = listed[party].as_hex()
            if party in known and known[party] != current:
                raise CryptoError(
                    f"the hub lists other keys for party {party!r} than this node pinned in "
                    f"{path}; if {party!r} really re-enrolled, confirm its keys out of band "
                    "and remove its entry from that file"
                )
            known[party] = current
        path.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
        return listed

    def _heartbeat(self, job_id: str, running: _Running) -> None:
        while not running.stop.wait(self.config.heartbeat_seconds):
            try:
                self.hub.heartbeat(job_id, running.step)
            except PrivstatsError:
                continue

    def close(self) -> None:
        self.hub.close()


def _counted(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``0 rows``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
