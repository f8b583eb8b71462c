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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from privstats.data.identifiers import IdentifierRule
from privstats.data.readers import IdentifierSet, check_data_file, load_identifiers
from privstats.disclosure.cells import withheld_cells
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.local import PartyOutcome, ProgressSink, run_local
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols import psi
from privstats.protocols.psi import DEFAULT_CHUNK_SIZE, IntersectionCounts
from privstats.stats.coverage import dual_system_estimate, proportion_interval
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
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


class NormalizationSpec(BaseModel):
    """How both sides normalise identifiers before hashing; they must agree exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strip: bool = True
    casefold: bool = True
    unicode_form: Literal["NFC", "NFKC"] | None = "NFKC"
    remove: str | None = None

    def rule(self) -> IdentifierRule:
        return IdentifierRule(
            strip=self.strip,
            casefold=self.casefold,
            unicode_form=self.unicode_form,
            remove=self.remove,
        )


class CoverageSpec(Spec):
    """Everything both parties must agree on before a coverage computation runs."""

    _option: ClassVar[str] = "coverage option"

    key: str = Field(min_length=1)
    source_key: str | None = None
    by: tuple[str, ...] = ()
    confidence: float = Field(0.95, gt=0, lt=1)
    method: Literal["wilson", "clopper-pearson"] = "wilson"
    min_domain: int = Field(10, ge=1)
    normalization: NormalizationSpec = NormalizationSpec()
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=1, le=262_144)

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
        return (spec.source_key or spec.key,)
    raise ParameterError(f"unknown coverage role {role!r}; use 'register' or 'source'")


def load_role_data(role: str, path: str | Path, spec: CoverageSpec) -> IdentifierSet:
    """Read and normalise one party's identifiers (and, for the register, its domains)."""
    rule = spec.normalization.rule()
    if role == REGISTER:
        return load_identifiers(path, spec.key, by=spec.by, rule=rule)
    if role == SOURCE:
        return load_identifiers(path, spec.source_key or spec.key, rule=rule)
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
    withheld = withheld_cells(sizes, spec.min_domain) if spec.by else set()
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
    by_domain: list[dict[str, Any]] = []
    # without domain columns the single group is the whole register: no per-domain rows
    for g, domain in enumerate(released if spec.by else ()):
        share = proportion_interval(
            counts.matched[g], counts.group_sizes[g], confidence=spec.confidence, method=spec.method
        )
        by_domain.append(
            {
                "domain": dict(zip(spec.by, domain, strict=True)),
                "register_size": counts.group_sizes[g],
                "matched": counts.matched[g],
                "estimate": share.estimate,
                "ci_low": share.ci_low,
                "ci_high": share.ci_high,
                "suppressed": False,
            }
        )
    for domain in withheld:
        by_domain.append(
            {
                "domain": dict(zip(spec.by, domain, strict=True)),
                "register_size": None,
                "matched": None,
                "estimate": None,
                "ci_low": None,
                "ci_high": None,
                "suppressed": True,
            }
        )
    by_domain.sort(key=lambda entry: tuple(entry["domain"].values()))
    return {
        "computation": "coverage",
        "register_size": counts.receiver_size,
        "source_size": counts.sender_size,
        "matched": counts.total,
        "coverage": overall.as_dict(),
        "by_domain": by_domain,
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
    released = [d for d in result.get("by_domain", []) if not d.get("suppressed")]
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


def _register_process(
    channel: Channel, progress: Progress, *, path: str, spec: CoverageSpec
) -> tuple[dict[str, Any], list[str]]:
    data = load_role_data(REGISTER, path, spec)
    return register_role(channel, SOURCE, data, spec, progress), data.warnings()


def _source_process(
    channel: Channel, progress: Progress, *, path: str, spec: CoverageSpec
) -> tuple[dict[str, Any], list[str]]:
    data = load_role_data(SOURCE, path, spec)
    return source_role(channel, REGISTER, data, spec, progress), data.warnings()


@dataclass(frozen=True)
class CoverageRun:
    """The released result of a local coverage run, with what it cost each party."""

    result: dict[str, Any]
    warnings: list[str]
    outcomes: dict[str, PartyOutcome]


def run_local_coverage(
    register: str | Path,
    source: str | Path,
    spec: CoverageSpec,
    *,
    progress: ProgressSink | None = None,
) -> CoverageRun:
    """Run both roles, each in its own process on loopback; ``result`` includes ``seconds``."""
    for label, path in (("register", register), ("source", source)):
        check_data_file(path, f"{label} file")
    started = time.perf_counter()
    outcomes = run_local(
        {
            REGISTER: (_register_process, {"path": str(register), "spec": spec}),
            SOURCE: (_source_process, {"path": str(source), "spec": spec}),
        },
        progress=progress,
    )
    seconds = time.perf_counter() - started
    result, register_warnings = outcomes[REGISTER].output
    _, source_warnings = outcomes[SOURCE].output
    return CoverageRun(
        {**result, "seconds": round(seconds, 3)},
        [*register_warnings, *source_warnings],
        outcomes,
    )
