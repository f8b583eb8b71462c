"""Coverage of a population register by a third-party source, per domain.

Two roles. The *register* (an NSO, holding person identifiers with domain attributes) is
the PSI receiver; the *source* (a telecom or bank, holding its customers' identifiers) is
the PSI sender. Before the protocol, the register applies the minimum-domain rule to its
own domain sizes (``privstats.disclosure.cells``): released domains become PSI groups of
their own, and all withheld domains are pooled into one group, so the source never sees a
withheld domain's size or count. After the protocol the register computes the estimates
and sends the release — the only figures either side outputs — to the source, which
checks it against the counts it learnt itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from privstats.data.identifiers import NormalizationSpec
from privstats.data.readers import IdentifierSet, load_identifiers
from privstats.disclosure.cells import withheld_cells
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.kind import CliField, JobKind, RoleContext, RoleOutput
from privstats.jobs.local import ProgressSink
from privstats.jobs.local_run import LocalRun, run_kind_locally
from privstats.jobs.render import coverage_view
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols import psi
from privstats.protocols.psi import DEFAULT_CHUNK_SIZE, IntersectionCounts
from privstats.stats.coverage import dual_system_estimate, proportion_interval
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "KIND",
    "CoverageRun",
    "CoverageSpec",
    "NormalizationSpec",
    "columns_used",
    "load_role_data",
    "register_role",
    "run_local_coverage",
    "source_role",
]

REGISTER, SOURCE = "register", "source"


class CoverageSpec(Spec):
    """Everything both parties must agree on before a coverage computation runs."""

    _option: ClassVar[str] = "coverage option"

    _renamed: ClassVar[dict[str, str]] = {"source_key": "peer_key", "min_domain": "min_cell"}

    key: str = Field(
        min_length=1, description="Identifier column of the register (and of the source)."
    )
    peer_key: str | None = Field(
        None, description="Identifier column of the source, if named differently."
    )
    by: tuple[str, ...] = Field(
        (), description="Domain columns of the register, e.g. region,age_group."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    method: Literal["wilson", "clopper-pearson"] = Field(
        "wilson", description="Interval method: wilson or clopper-pearson."
    )
    min_cell: int = Field(
        10, ge=1, description="Domains with fewer register persons are suppressed."
    )
    normalization: NormalizationSpec = Field(
        NormalizationSpec(), description="How identifiers are normalised before matching."
    )
    chunk_size: int = Field(
        DEFAULT_CHUNK_SIZE, ge=1, le=262_144, description="Identifiers per protocol message."
    )

    @field_validator("by")
    @classmethod
    def _distinct_columns(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(by)) != len(by) or any(not col for col in by):
            raise ValueError(f"domain columns must be distinct and non-empty, got {list(by)}")
        return by


@message("coverage.release", 1)
class Release(Message):
    result: dict[str, Any]


def columns_used(spec: CoverageSpec, role: str) -> tuple[str, ...]:
    """The columns of ``role``'s dataset that a coverage job reads."""
    if role == REGISTER:
        return (spec.key, *spec.by)
    if role == SOURCE:
        return (spec.peer_key or spec.key,)
    raise ParameterError(f"unknown coverage role {role!r}; use 'register' or 'source'")


def load_role_data(role: str, path: str | Path, spec: CoverageSpec) -> IdentifierSet:
    """Read and normalise one party's identifiers (and, for the register, its domains)."""
    rule = spec.normalization.rule()
    if role == REGISTER:
        return load_identifiers(path, spec.key, by=spec.by, rule=rule)
    if role == SOURCE:
        return load_identifiers(path, spec.peer_key or spec.key, rule=rule)
    raise ParameterError(f"unknown coverage role {role!r}; use 'register' or 'source'")


def register_role(
    channel: Channel,
    peer: str,
    data: IdentifierSet,
    spec: CoverageSpec,
    progress: Progress | None = None,
    *,
    max_peer_size: int | None = None,
) -> dict[str, Any]:
    """The register's side: run PSI by domain, compute and release the estimates.

    ``max_peer_size``: the most identifiers the source may announce (the row count its
    dataset declares; None: no bound).
    """
    if not data.ids:
        raise DatasetError(
            f"{data.path}: the register has no identifiers; coverage needs at least one",
            path=data.path,
            column=data.key,
        )
    if data.domain_codes is None:
        codes = np.zeros(len(data.ids), dtype=np.intp)
        labels: list[tuple[str, ...]] = [()]
    else:
        codes, labels = data.domain_codes, data.domain_labels
    sizes = dict(zip(labels, np.bincount(codes, minlength=len(labels)).tolist(), strict=True))
    withheld = withheld_cells(sizes, spec.min_cell) if spec.by else set()
    released = [domain for domain in labels if domain not in withheld]  # labels are sorted
    pool = len(released)
    group_of_domain = {domain: g for g, domain in enumerate(released)}
    group_of_code = np.array([group_of_domain.get(d, pool) for d in labels], dtype=np.intp)
    groups = group_of_code[codes].tolist()
    counts = psi.receiver(
        channel,
        peer,
        data.ids,
        groups,
        n_groups=pool + (1 if withheld else 0),
        chunk_size=spec.chunk_size,
        progress=progress,
        distinct=True,  # IdentifierSet.ids holds each identifier once
        max_peer_size=max_peer_size,
    )
    result = _release(spec, counts, released, sorted(withheld))
    channel.send(peer, Release(result))
    return result


def source_role(
    channel: Channel,
    peer: str,
    data: IdentifierSet,
    spec: CoverageSpec,
    progress: Progress | None = None,
    *,
    max_peer_size: int | None = None,
) -> dict[str, Any]:
    """The source's side: run PSI, receive the release and check it against own counts.

    ``max_peer_size``: the most identifiers the register may announce (the row count its
    dataset declares; None: no bound).
    """
    counts = psi.sender(
        channel,
        peer,
        data.ids,
        chunk_size=spec.chunk_size,
        progress=progress,
        distinct=True,
        max_peer_size=max_peer_size,
    )
    result = channel.recv(peer, Release).result
    _check_release(result, counts, peer)
    return result


def _release(
    spec: CoverageSpec,
    counts: IntersectionCounts,
    released: Sequence[tuple[str, ...]],
    withheld: Sequence[tuple[str, ...]],
) -> dict[str, Any]:
    overall = proportion_interval(
        counts.total, counts.receiver_size, confidence=spec.confidence, method=spec.method
    )
    groups: list[dict[str, Any]] = []
    # without domain columns the single group is the whole register: no per-domain rows
    for g, domain in enumerate(released if spec.by else ()):
        share = proportion_interval(
            counts.matched[g], counts.group_sizes[g], confidence=spec.confidence, method=spec.method
        )
        groups.append(
            {
                "by": dict(zip(spec.by, domain, strict=True)),
                "register_size": counts.group_sizes[g],
                "matched": counts.matched[g],
                "estimate": share.estimate,
                "ci_low": share.ci_low,
                "ci_high": share.ci_high,
                "suppressed": False,
            }
        )
    for domain in withheld:
        groups.append(
            {
                "by": dict(zip(spec.by, domain, strict=True)),
                "register_size": None,
                "matched": None,
                "estimate": None,
                "ci_low": None,
                "ci_high": None,
                "suppressed": True,
            }
        )
    groups.sort(key=lambda entry: tuple(entry["by"].values()))
    return {
        "computation": "coverage",
        "register_size": counts.receiver_size,
        "source_size": counts.sender_size,
        "matched": counts.total,
        "coverage": overall.as_dict(),
        "groups": groups,
        "population_estimate": _population(spec, counts),
    }


def _population(spec: CoverageSpec, counts: IntersectionCounts) -> dict[str, Any]:
    """The dual-system estimate, or None figures with a note when nobody matched."""
    if counts.total == 0:
        return {
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "method": "chapman",
            "note": "undefined: no person is in both lists",
        }
    population = dual_system_estimate(
        counts.receiver_size, counts.sender_size, counts.total, confidence=spec.confidence
    )
    return {
        key: value
        for key, value in population.as_dict().items()
        if key in ("estimate", "ci_low", "ci_high", "method")
    }


def _check_release(result: dict[str, Any], counts: IntersectionCounts, peer: str) -> None:
    """The source's check that the register's release agrees with the protocol's counts."""
    released = [d for d in result.get("groups", []) if not d.get("suppressed")]
    expected = [(d.get("register_size"), d.get("matched")) for d in released]
    groups = list(zip(counts.group_sizes, counts.matched, strict=True))
    consistent = (
        result.get("computation") == "coverage"
        and result.get("matched") == counts.total
        and result.get("register_size") == counts.receiver_size
        and result.get("source_size") == counts.sender_size
        and (not released or expected == groups[: len(released)])
    )
    if not consistent:
        raise ProtocolError(
            "the register's released figures disagree with the counts of the protocol",
            peer=peer,
            step="release",
        )


def _run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: CoverageSpec,
    progress: Progress | None,
    context: RoleContext,
) -> RoleOutput:
    data = load_role_data(role, path, spec)
    peer_rows = context.peer_rows
    if role == REGISTER:
        bound = peer_rows.get(SOURCE)
        result = register_role(channel, parties[SOURCE], data, spec, progress, max_peer_size=bound)
    else:
        bound = peer_rows.get(REGISTER)
        result = source_role(channel, parties[REGISTER], data, spec, progress, max_peer_size=bound)
    return RoleOutput(result, data.warnings())


CoverageRun = LocalRun
"""A local coverage run's result (with ``seconds``), warnings and costs."""


def run_local_coverage(
    register: str | Path,
    source: str | Path,
    spec: CoverageSpec,
    *,
    progress: ProgressSink | None = None,
) -> LocalRun:
    """Run both roles, each in its own process on loopback; ``result`` includes ``seconds``."""
    return run_kind_locally(KIND, {REGISTER: register, SOURCE: source}, spec, progress=progress)


KIND = JobKind(
    name="coverage",
    title="Coverage of a register by a third-party source, by private set intersection.",
    description=(
        "Neither side learns which persons are in the other's file; both learn the released "
        "coverage figures. Domains below --min-cell persons are suppressed, with "
        "complementary suppression so that they cannot be recovered by subtraction."
    ),
    roles=(REGISTER, SOURCE),
    role_help={
        REGISTER: "The register (person identifiers with domain columns).",
        SOURCE: "The third-party source (its customers' identifiers).",
    },
    result_role=REGISTER,
    spec_type=CoverageSpec,
    columns=columns_used,
    disclosure=lambda spec: {"min_cell": spec.min_cell},
    run_role=_run_role,
    render=lambda result: [coverage_view(result)],
    cli={
        "key": CliField(help="Identifier column of the register (and of the source)."),
        "peer_key": CliField(option="--source-key", aliases=("--peer-key",)),
        "min_cell": CliField(aliases=("--min-domain",)),
        "normalization.strip": CliField(hidden=True),
        "normalization.unicode_form": CliField(hidden=True),
        "normalization.remove": CliField(option="--id-remove"),
        "chunk_size": CliField(hidden=True),
    },
)
