"""The computation kinds a job can name, and what the service needs to know of each.

A :class:`JobKind` tells the hub how to validate a job's parameters and which columns of
each role's dataset it reads (so the manifest can name them), and tells a node how to run
its role once the job is approved. Adding a computation to the service means adding one
entry to :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from privstats.disclosure.budget import Budget
from privstats.errors import ParameterError
from privstats.jobs import (
    aggregate,
    coverage,
    fl_train,
    he_inference,
    join_aggregate,
    synthesize,
)
from privstats.jobs.spec import spec_error
from privstats.progress import Progress
from privstats.transport.channel import Channel

__all__ = ["KINDS", "JobKind", "RoleOutput", "get_kind"]


@dataclass(frozen=True)
class RoleOutput:
    """What one role produced: the released result (or None) and data warnings.

    ``local_files`` (file name → text) stay with the party: the node writes them to its
    own results folder and never sends them to the hub (a querier's predictions, the
    trained model an office received).
    """

    result: dict[str, Any] | None
    warnings: list[str]
    local_files: Mapping[str, str] = field(default_factory=dict)


RoleRunner = Callable[
    [str, Channel, Mapping[str, str], str, Any, Progress | None, Mapping[str, int]], RoleOutput
]
"""``run(role, channel, parties (role → party), dataset path, spec, progress, peer_rows)``.

``peer_rows``: role → the row count the other roles' datasets declare (as the hub lists
them; a role missing when unknown), which bounds what a peer may announce.
"""


@dataclass(frozen=True)
class JobKind:
    """One computation the service can run.

    ``roles`` names a kind's fixed roles. A kind with ``parties`` = (least, most) also
    takes any number of like parties in that range, as roles ``party1`` … ``partyN``.
    ``dataless_roles`` are fixed roles whose party brings no dataset (a coordinator).
    A kind that ``releases_records`` (synthetic microdata) may not read key columns, and
    its result waits at the node for the data owner's review before it is released.
    """

    name: str
    roles: tuple[str, ...]
    result_role: str
    spec_type: type[BaseModel]
    columns: Callable[[Any, str], tuple[str, ...]]
    disclosure: Callable[[Any], dict[str, Any]]
    run_role: RoleRunner
    parties: tuple[int, int] | None = None
    dataless_roles: tuple[str, ...] = ()
    releases_records: bool = False
    budget: Callable[[Any], Budget | None] = lambda _spec: None
    """The privacy budget a job of this kind spends (None: it spends none)."""

    def check_roles(self, roles: Collection[str]) -> tuple[str, ...]:
        """The roles of a job in their canonical order; a ParameterError if they do not fit."""
        if self.parties is None:
            if set(roles) != set(self.roles):
                raise ParameterError(
                    f"a {self.name} job needs parties for roles {', '.join(self.roles)}; got "
                    f"{', '.join(sorted(roles)) or 'none'}",
                    parameter="parties",
                )
            return self.roles
        least, most = self.parties
        numbered = len(roles) - len(self.roles)
        expected = (*self.roles, *(f"party{i}" for i in range(1, numbered + 1)))
        if not least <= numbered <= most or set(roles) != set(expected):
            fixed = f"a party in role {', '.join(self.roles)} and " if self.roles else ""
            raise ParameterError(
                f"a {self.name} job needs {fixed}{least} to {most} parties in roles party1, "
                f"party2, …; got {', '.join(sorted(roles)) or 'none'}",
                parameter="parties",
            )
        return expected

    def parse(self, parameters: Mapping[str, Any]) -> Any:
        """Validate ``parameters``; errors become a ParameterError naming the field."""
        try:
            return self.spec_type(**parameters)
        except ValidationError as exc:
            raise spec_error(exc, f"{self.name} parameter") from exc


def _run_coverage(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: Any,
    progress: Progress | None,
    peer_rows: Mapping[str, int],
) -> RoleOutput:
    data = coverage.load_role_data(role, path, spec)
    if role == coverage.REGISTER:
        bound = peer_rows.get(coverage.SOURCE)
        result = coverage.register_role(
            channel, parties[coverage.SOURCE], data, spec, progress, max_peer_size=bound
        )
    else:
        bound = peer_rows.get(coverage.REGISTER)
        result = coverage.source_role(
            channel, parties[coverage.REGISTER], data, spec, progress, max_peer_size=bound
        )
    return RoleOutput(result, data.warnings())


def _from_tuple(run: Callable[..., tuple[Any, ...]]) -> RoleRunner:
    """A role runner from a job module's ``run_role`` returning (result, warnings[, files])."""

    def run_role(
        role: str,
        channel: Channel,
        parties: Mapping[str, str],
        path: str,
        spec: Any,
        progress: Progress | None,
        _peer_rows: Mapping[str, int],
    ) -> RoleOutput:
        return RoleOutput(*run(role, channel, parties, path, spec, progress))

    return run_role


KINDS: dict[str, JobKind] = {
    "coverage": JobKind(
        name="coverage",
        roles=(coverage.REGISTER, coverage.SOURCE),
        result_role=coverage.REGISTER,
        spec_type=coverage.CoverageSpec,
        columns=coverage.columns_used,
        disclosure=lambda spec: {"min_domain": spec.min_domain},
        run_role=_run_coverage,
    ),
    "aggregate": JobKind(
        name="aggregate",
        roles=(),
        result_role="party1",
        spec_type=aggregate.AggregateSpec,
        columns=lambda spec, _role: aggregate.columns_used(spec),
        disclosure=lambda spec: {"min_cell": spec.min_cell},
        run_role=_from_tuple(aggregate.run_role),
        parties=(2, aggregate.MAX_PARTIES),
    ),
    "join_aggregate": JobKind(
        name="join_aggregate",
        roles=(join_aggregate.LEFT, join_aggregate.RIGHT),
        result_role=join_aggregate.LEFT,
        spec_type=join_aggregate.JoinAggregateSpec,
        columns=join_aggregate.columns_used,
        disclosure=lambda spec: {"min_cell": spec.min_cell},
        run_role=_from_tuple(join_aggregate.run_role),
    ),
    "fl_train": JobKind(
        name="fl_train",
        roles=(fl_train.COORDINATOR,),
        result_role=fl_train.COORDINATOR,
        spec_type=fl_train.FlTrainSpec,
        columns=fl_train.columns_used,
        disclosure=fl_train.disclosure,
        run_role=_from_tuple(fl_train.run_role),
        parties=(2, 10),
        budget=lambda spec: (
            None if spec.epsilon is None else Budget(epsilon=spec.epsilon, delta=spec.delta)
        ),
        dataless_roles=(fl_train.COORDINATOR,),
    ),
    "he_inference": JobKind(
        name="he_inference",
        roles=(he_inference.QUERIER, he_inference.MODEL_HOLDER),
        result_role=he_inference.QUERIER,
        spec_type=he_inference.HeInferenceSpec,
        columns=he_inference.columns_used,
        disclosure=lambda spec: {"min_cell": spec.min_cell},
        run_role=_from_tuple(he_inference.run_role),
    ),
    "synthesize": JobKind(
        name="synthesize",
        roles=(synthesize.OWNER,),
        result_role=synthesize.OWNER,
        spec_type=synthesize.SynthesizeSpec,
        columns=synthesize.columns_used,
        disclosure=synthesize.disclosure,
        run_role=_from_tuple(synthesize.run_role),
        releases_records=True,
        budget=lambda spec: (
            Budget(epsilon=spec.epsilon, delta=spec.delta) if spec.method == "mst" else None
        ),
    ),
}


def get_kind(name: str) -> JobKind:
    """The kind called ``name``; a ParameterError listing the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ParameterError(
            f"unknown computation kind {name!r}; known kinds: {', '.join(sorted(KINDS))}",
            parameter="kind",
        ) from None
