"""``Federation``: the Python door to a hub, for analysts and admins.

fed = Federation("https://hub.example.org", token)
job = fed.submit_coverage(register="nso", register_dataset="population",
                          source="telco", source_dataset="customers",
                          key="person_id", peer_key="customer_id", by=["region"])
result = job.wait().result
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from privstats.crypto.keys import verify
from privstats.errors import JobFailedError, ParameterError, ServiceError
from privstats.jobs.kinds import get_kind
from privstats.service.audit import (
    HEADER_AUDIT_VIEW,
    HEADER_RESULT_SALT,
    SIGNED_ACTIONS,
    AuditEntry,
    AuditVerification,
    verify_chain,
)
from privstats.service.canonical import canonical_json, result_commitment, sha256_hex
from privstats.service.http import HubHttp, bearer
from privstats.service.models import (
    AuditPage,
    JobView,
    PartyInvitation,
    PartyView,
    TokenCreated,
    parse,
)
from privstats.service.signing import statement_bytes

__all__ = ["Federation", "Job"]

TERMINAL = ("succeeded", "failed", "rejected", "cancelled")
_MISMATCH = (
    "job {job}: the result does not match the commitment in the audit log; do not use it "
    "and tell the hub's admin"
)


class Job:
    """A job at the hub; :meth:`refresh` fetches its current state.

    ``info`` is the job as the hub sent it (a JSON object); ``view`` is the same parsed
    into a :class:`~privstats.service.models.JobView`.
    """

    def __init__(self, federation: Federation, info: dict[str, Any]) -> None:
        self._federation = federation
        self.info = info

    @property
    def view(self) -> JobView:
        """The job, typed; a ServiceError if the hub sent it in another shape."""
        return parse(JobView, self.info, f"job {self.info.get('id')!r}")

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def state(self) -> str:
        return str(self.info["state"])

    def refresh(self) -> Job:
        self.info = self._federation.http.get(f"/jobs/{self.id}")
        return self

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float = 0.5,
        on_change: Callable[[Job], None] | None = None,
    ) -> Job:
        """Wait until the job ends; raise JobFailedError unless it succeeded."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            self.refresh()
            if on_change is not None and self.state != seen:
                on_change(self)
            seen = self.state
            if self.state in TERMINAL:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise ServiceError(
                    f"job {self.id} is still {self.state}{self.waiting_for()} after "
                    f"{timeout:g} s; wait longer with 'privstats job wait {self.id}'"
                )
            time.sleep(poll)
        if self.state != "succeeded":
            failure = self.view.failure
            raise JobFailedError(
                f"job {self.id} {self.state}: "
                f"{failure.reason if failure else 'no reason recorded'}",
                job_id=self.id,
                state=self.state,
                party=failure.party if failure else None,
                step=failure.step if failure else None,
            )
        return self

    def waiting_for(self) -> str:
        """`` (not yet approved by a, b)`` while parties have not decided, else ``""``."""
        pending = self.view.pending_approvals
        return f" (not yet approved by {', '.join(pending)})" if pending else ""

    @property
    def result(self) -> dict[str, Any]:
        """The released result (only for the job's named recipients), checked against the
        commitment its producing node signed in the audit log."""
        response = self._federation.http.request("GET", f"/jobs/{self.id}/result")
        result: dict[str, Any] = response.json()
        self._federation.check_result(self.id, result, response.headers.get(HEADER_RESULT_SALT))
        return result

    def cancel(self) -> Job:
        self.info = self._federation.http.post(f"/jobs/{self.id}/cancel")
        return self

    def __repr__(self) -> str:
        return f"Job({self.id!r}, kind={self.info.get('kind')!r}, state={self.state!r})"


class Federation:
    """A connection to one hub with one person's token."""

    def __init__(
        self, url: str, token: str, *, retry_seconds: float = 10.0, insecure: bool = False
    ) -> None:
        """``insecure=True`` allows a plain http:// URL of another machine (a trial only)."""
        self.http = HubHttp(url, bearer(token), retry_seconds=retry_seconds, insecure=insecure)

    def submit(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        parties: Mapping[str, str],
        datasets: Mapping[str, str],
        *,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
    ) -> Job:
        """Submit a job of any kind; the hub checks it and asks each party's node.

        ``parameters`` are the kind's spec fields (a field left out takes the spec's
        default); they are checked here first, with the messages the hub would give.
        ``parties`` and ``datasets`` map each role to its party and dataset.
        """
        spec = get_kind(kind).parse(parameters)
        given = spec.model_dump(mode="json", include=set(spec.model_fields_set))
        body = {
            "kind": kind,
            "parameters": given,
            "parties": dict(parties),
            "datasets": dict(datasets),
            "recipients": list(recipients) if recipients is not None else None,
            "node_timeout": node_timeout,
        }
        return Job(self, self.http.post("/jobs", body))

    def submit_coverage(
        self,
        *,
        register: str,
        register_dataset: str,
        source: str,
        source_dataset: str,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **parameters: Any,
    ) -> Job:
        """Coverage of ``register``'s dataset by ``source``'s, by private set intersection.

        ``parameters`` are :class:`~privstats.jobs.coverage.CoverageSpec` fields (``key``,
        ``peer_key``, ``by``, ``confidence``, ``method``, ``min_cell``, ``normalization``);
        the spec holds their defaults.
        """
        return self.submit(
            "coverage",
            parameters,
            {"register": register, "source": source},
            {"register": register_dataset, "source": source_dataset},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def submit_aggregate(
        self,
        *,
        datasets: Mapping[str, str],
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **parameters: Any,
    ) -> Job:
        """Statistics of the pooled records of several parties, by secure sums.

        ``datasets`` maps each party to its dataset (all with the same columns), e.g.
        ``{"nso_a": "trade", "nso_b": "trade", "nso_c": "trade"}``; ``parameters`` are
        :class:`~privstats.jobs.aggregate.AggregateSpec` fields (``stats``, ``by``,
        ``weight``, ``ols``, ``min_cell``, ``levels`` …).
        """
        roles = {f"party{i}": party for i, party in enumerate(datasets, start=1)}
        return self.submit(
            "aggregate",
            parameters,
            roles,
            {role: datasets[party] for role, party in roles.items()},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def submit_join_aggregate(
        self,
        *,
        left: str,
        left_dataset: str,
        right: str,
        right_dataset: str,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **parameters: Any,
    ) -> Job:
        """Count, sum and mean of value columns per ``left``'s groups, over matched records.

        Private join-and-compute: neither party learns who matched; ``right`` learns
        nothing of ``left``'s groups; ``left`` learns no individual value. ``parameters``
        are :class:`~privstats.jobs.join_aggregate.JoinAggregateSpec` fields (``key``,
        ``peer_key``, ``by``, ``left_values``, ``right_values``, ``min_cell`` …).
        """
        return self.submit(
            "join_aggregate",
            parameters,
            {"left": left, "right": right},
            {"left": left_dataset, "right": right_dataset},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def submit_fl_train(
        self,
        *,
        coordinator: str,
        datasets: Mapping[str, str],
        label: str = "activity",
        subject: str | None = None,
        features: Sequence[str] | None = None,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **options: Any,
    ) -> Job:
        """Federated training over the offices' ``datasets`` ({party: dataset}).

        ``coordinator`` is a party that brings no data: it combines the offices' updates
        by secure aggregation and releases the trained model and its pooled held-out
        evaluation to the recipients. ``features`` defaults to the numeric columns the
        first office declared, other than ``label`` and ``subject``. ``options`` are further
        :class:`~privstats.jobs.fl_train.FLSpec` fields (``model``, ``rounds``,
        ``strategy``, ``dp_epsilon`` …).
        """
        if len(datasets) < 2:
            raise ParameterError(
                "federated training needs at least two offices' datasets", parameter="datasets"
            )
        if features is None:
            first = next(iter(datasets.items()))
            reserved = {label, subject}
            features = [
                n for n, kind in self._declared(*first) if n not in reserved and _numeric(kind)
            ]
        parameters = {
            "label": label,
            "subject": subject,
            "features": list(features),
            **options,
        }
        roles = {f"party{i}": party for i, party in enumerate(datasets, start=1)}
        return self.submit(
            "fl_train",
            parameters,
            {"coordinator": coordinator, **roles},
            {role: datasets[party] for role, party in roles.items()},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def submit_he_inference(
        self,
        *,
        querier: str,
        querier_dataset: str,
        model_holder: str,
        model_dataset: str,
        label: str | None = None,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **parameters: Any,
    ) -> Job:
        """Score ``querier``'s records with ``model_holder``'s model, encrypted (CKKS).

        The model holder sees only ciphertexts; the querier keeps each record's prediction
        at its node and releases the counts per predicted class (and, with ``label``, the
        accuracy). The features are the model dataset's declared columns.
        """
        features = [name for name, _ in self._declared(model_holder, model_dataset)]
        return self.submit(
            "he_inference",
            {"features": features, "label": label, **parameters},
            {"querier": querier, "model_holder": model_holder},
            {"querier": querier_dataset, "model_holder": model_dataset},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def submit_synthesize(
        self,
        *,
        owner: str,
        dataset: str,
        columns: Sequence[str] | None = None,
        method: str = "cart",
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
        **options: Any,
    ) -> Job:
        """Synthetic microdata of ``owner``'s ``dataset``, made and reviewed at its node.

        ``columns`` defaults to every declared column but the key columns (identifiers are
        never synthesized). The owner's node fits ``method`` (``cart``, ``copula``, ``mst``),
        computes the utility and risk report and holds both until the data owner releases
        them; then the recipients receive the synthetic file and the report
        (:func:`privstats.jobs.synthesize.save_release` writes them out). ``options`` are
        further :class:`~privstats.jobs.synthesize.SynthesizeSpec` fields (``rows``,
        ``quasi_identifiers``, ``epsilon``, ``bounds``, ``target`` …).
        """
        if columns is None:
            entry = self._dataset(owner, dataset)
            keys = set(entry["key_columns"])
            columns = [name for name, _kind in entry["columns"] if name not in keys]
        return self.submit(
            "synthesize",
            {"columns": list(columns), "method": method, **options},
            {"owner": owner},
            {"owner": dataset},
            recipients=recipients,
            node_timeout=node_timeout,
        )

    def _dataset(self, party: str, dataset: str) -> dict[str, Any]:
        """What ``party`` declared for ``dataset`` (columns, key columns, rows)."""
        for entry in self.datasets():
            if entry["party"] == party and entry["name"] == dataset:
                return entry
        raise ParameterError(
            f"party {party!r} has not declared a dataset {dataset!r}", parameter="datasets"
        )

    def _declared(self, party: str, dataset: str) -> list[tuple[str, str]]:
        """The (column, type) pairs ``party`` declared for ``dataset``."""
        return [(name, kind) for name, kind in self._dataset(party, dataset)["columns"]]

    def job(self, job_id: str) -> Job:
        return Job(self, self.http.get(f"/jobs/{job_id}"))

    def jobs(self, *, active: bool = False) -> list[Job]:
        return [Job(self, info) for info in self.http.get("/jobs", active=str(active).lower())]

    def parties(self) -> list[dict[str, Any]]:
        parties: list[dict[str, Any]] = self.http.get("/parties")
        return parties

    def datasets(self) -> list[dict[str, Any]]:
        datasets: list[dict[str, Any]] = self.http.get("/datasets")
        return datasets

    def add_party(self, name: str, description: str = "") -> str:
        """Invite a party (admin); returns its one-time enrolment token."""
        answer = self.http.post("/parties", {"name": name, "description": description})
        return parse(PartyInvitation, answer, "invitation").enrolment_token

    def add_token(self, name: str, role: str = "analyst") -> str:
        """Create a person's bearer token (admin); shown only here."""
        answer = self.http.post("/tokens", {"name": name, "role": role})
        return parse(TokenCreated, answer, "new token").token

    def audit(self, job: str | None = None) -> list[AuditEntry]:
        """The audit entries this token may see (of one ``job`` if given), oldest first.

        Admins and auditors see all; analysts the registry's entries and their own jobs'.
        """
        return self._audit(job)[0]

    def _audit(self, job: str | None = None) -> tuple[list[AuditEntry], bool]:
        """The entries and whether the hub filtered them for this caller (partial view)."""
        entries: list[AuditEntry] = []
        partial = job is not None
        while True:
            response = self.http.request(
                "GET",
                "/audit",
                params={"after": entries[-1].seq if entries else 0, "limit": 1000, "job": job},
            )
            partial = partial or response.headers.get(HEADER_AUDIT_VIEW) != "full"
            page = parse(AuditPage, response.json(), "page of the audit log").root
            entries.extend(page)
            if len(page) < 1000:
                return entries, partial

    def _party_views(self) -> list[PartyView]:
        """The hub's parties, parsed."""
        return [parse(PartyView, party, "party listing") for party in self.parties()]

    def verify_audit(self) -> AuditVerification:
        """Recompute the audit chain here and check every signature against enrolled keys.

        With an analyst's token the hub shows only the registry's and the analyst's own
        jobs' entries: each one's hash, the links between consecutive ones, the signatures
        and the manifests are checked, and the report says the view was partial. Proving
        that no entry is missing needs an admin's or auditor's token.
        """
        enrolled = {p.name: bytes.fromhex(p.sign_key) for p in self._party_views() if p.sign_key}
        entries, partial = self._audit()
        return verify_chain(entries, enrolled, partial=partial)

    def check_result(self, job_id: str, result: dict[str, Any], salt: str | None) -> None:
        """Check a received result against the commitment its producing node signed.

        The audit log holds ``sha256(salt ‖ result)`` in the producing node's signed
        completion; the salt comes only with the result, to its recipients. Raises
        ServiceError if the result, the salt or the signature do not match.
        """
        entries = self.audit(job_id)
        released = [e for e in entries if e.action == "result.released"]
        if not released:
            raise ServiceError(f"job {job_id}: the audit log records no released result")
        payload = released[-1].payload
        if salt is None and "result_sha256" in payload:  # released by a hub before commitments
            if payload["result_sha256"] != sha256_hex(canonical_json(result)):
                raise ServiceError(_MISMATCH.format(job=job_id))
            return
        try:
            salt_bytes = bytes.fromhex(salt or "")
            commitment = result_commitment(salt_bytes, result)
        except ValueError:
            raise ServiceError(
                f"job {job_id}: the hub sent no valid salt with the result"
            ) from None
        if payload.get("result_commitment") != commitment:
            raise ServiceError(_MISMATCH.format(job=job_id))
        producer = payload.get("produced_by")
        keys = {p.name: p.sign_key for p in self._party_views() if p.sign_key}
        for entry in entries:
            if (
                entry.action == "node.completed"
                and entry.signer == producer
                and entry.payload.get("result_commitment") == commitment
                and _signature_verifies(entry, keys.get(str(producer)))
            ):
                return
        raise ServiceError(
            f"job {job_id}: no completion signed by {producer!r} commits to this result; "
            "do not use it and tell the hub's admin"
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _signature_verifies(entry: AuditEntry, key: str | None) -> bool:
    """Whether ``entry`` carries a valid signature by the hex signing ``key``."""
    if key is None or entry.signature is None:
        return False
    try:
        return verify(
            bytes.fromhex(key),
            statement_bytes(SIGNED_ACTIONS[entry.action], entry.payload),
            bytes.fromhex(entry.signature),
        )
    except ValueError:
        return False


def _numeric(arrow_type: str) -> bool:
    """Whether a declared column type (pyarrow's name) holds numbers."""
    return arrow_type.startswith(("int", "uint", "float", "double", "halffloat", "decimal"))
