"""``Federation``: the Python door to a hub, for analysts and admins.

fed = Federation("https://hub.example.org", token)
job = fed.submit_coverage(register="nso", register_dataset="population",
                          source="telco", source_dataset="customers",
                          key="person_id", source_key="customer_id", by=["region"])
result = job.wait().result
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from privstats.errors import JobFailedError, ParameterError, ServiceError
from privstats.service.audit import AuditEntry, AuditVerification, verify_chain
from privstats.service.http import HubHttp, bearer

__all__ = ["Federation", "Job"]

TERMINAL = ("succeeded", "failed", "rejected", "cancelled")


class Job:
    """A job at the hub; :meth:`refresh` fetches its current state."""

    def __init__(self, federation: Federation, info: dict[str, Any]) -> None:
        self._federation = federation
        self.info = info

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
                    f"job {self.id} is still {self.state} after {timeout:g} s; wait longer "
                    f"with 'privstats job wait {self.id}'"
                )
            time.sleep(poll)
        if self.state != "succeeded":
            failure = self.info.get("failure") or {}
            raise JobFailedError(
                f"job {self.id} {self.state}: {failure.get('reason') or 'no reason recorded'}",
                job_id=self.id,
                state=self.state,
                party=failure.get("party"),
                step=failure.get("step"),
            )
        return self

    @property
    def result(self) -> dict[str, Any]:
        """The released result (only for the job's named recipients)."""
        result: dict[str, Any] = self._federation.http.get(f"/jobs/{self.id}/result")
        return result

    def cancel(self) -> Job:
        self.info = self._federation.http.post(f"/jobs/{self.id}/cancel")
        return self

    def __repr__(self) -> str:
        return f"Job({self.id!r}, kind={self.info.get('kind')!r}, state={self.state!r})"


class Federation:
    """A connection to one hub with one person's token."""

    def __init__(self, url: str, token: str, *, retry_seconds: float = 10.0) -> None:
        self.http = HubHttp(url, bearer(token), retry_seconds=retry_seconds)

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
        """Submit a job of any kind; the hub checks it and asks each party's node."""
        body = {
            "kind": kind,
            "parameters": dict(parameters),
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
        key: str,
        source_key: str | None = None,
        by: Sequence[str] = (),
        confidence: float = 0.95,
        method: str = "wilson",
        min_domain: int = 10,
        normalization: Mapping[str, Any] | None = None,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
    ) -> Job:
        """Coverage of ``register``'s dataset by ``source``'s, by private set intersection."""
        parameters: dict[str, Any] = {
            "key": key,
            "source_key": source_key,
            "by": list(by),
            "confidence": confidence,
            "method": method,
            "min_domain": min_domain,
        }
        if normalization is not None:
            parameters["normalization"] = dict(normalization)
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
        stats: Sequence[str] = ("count",),
        by: Sequence[str] = (),
        weight: str | None = None,
        ols: str | None = None,
        min_cell: int = 10,
        levels: Mapping[str, Sequence[str]] | None = None,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
    ) -> Job:
        """Statistics of the pooled records of several parties, by secure sums.

        ``datasets`` maps each party to its dataset (all with the same columns), e.g.
        ``{"nso_a": "trade", "nso_b": "trade", "nso_c": "trade"}``.
        """
        if len(datasets) < 2:
            raise ParameterError(
                "an aggregate job needs at least two parties' datasets", parameter="datasets"
            )
        parameters: dict[str, Any] = {
            "stats": list(stats),
            "by": list(by),
            "weight": weight,
            "ols": ols,
            "min_cell": min_cell,
        }
        if levels is not None:
            parameters["levels"] = {column: list(values) for column, values in levels.items()}
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
        key: str,
        right_key: str | None = None,
        by: Sequence[str] = (),
        left_values: Sequence[str] = (),
        right_values: Sequence[str] = (),
        min_cell: int = 10,
        decimals: int = 2,
        normalization: Mapping[str, Any] | None = None,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
    ) -> Job:
        """Count, sum and mean of value columns per ``left``'s groups, over matched records.

        Private join-and-compute: neither party learns who matched; ``right`` learns
        nothing of ``left``'s groups; ``left`` learns no individual value.
        """
        parameters: dict[str, Any] = {
            "key": key,
            "right_key": right_key,
            "by": list(by),
            "left_values": list(left_values),
            "right_values": list(right_values),
            "min_cell": min_cell,
            "decimals": decimals,
        }
        if normalization is not None:
            parameters["normalization"] = dict(normalization)
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
        min_cell: int = 10,
        recipients: Sequence[str] | None = None,
        node_timeout: float | None = None,
    ) -> Job:
        """Score ``querier``'s records with ``model_holder``'s model, encrypted (CKKS).

        The model holder sees only ciphertexts; the querier keeps each record's prediction
        at its node and releases the counts per predicted class (and, with ``label``, the
        accuracy). The features are the model dataset's declared columns.
        """
        features = [name for name, _ in self._declared(model_holder, model_dataset)]
        return self.submit(
            "he_inference",
            {"features": features, "label": label, "min_cell": min_cell},
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
        return str(answer["enrolment_token"])

    def add_token(self, name: str, role: str = "analyst") -> str:
        """Create a person's bearer token (admin); shown only here."""
        return str(self.http.post("/tokens", {"name": name, "role": role})["token"])

    def audit(self) -> list[AuditEntry]:
        """Every audit entry, oldest first."""
        entries: list[AuditEntry] = []
        while True:
            page = self.http.get("/audit", after=entries[-1].seq if entries else 0, limit=1000)
            entries.extend(AuditEntry.from_dict(item) for item in page)
            if len(page) < 1000:
                return entries

    def verify_audit(self) -> AuditVerification:
        """Recompute the audit chain here and check every signature against enrolled keys."""
        enrolled = {
            p["name"]: bytes.fromhex(p["sign_key"]) for p in self.parties() if p["sign_key"]
        }
        return verify_chain(self.audit(), enrolled)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _numeric(arrow_type: str) -> bool:
    """Whether a declared column type (pyarrow's name) holds numbers."""
    return arrow_type.startswith(("int", "uint", "float", "double", "halffloat", "decimal"))
