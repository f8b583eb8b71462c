"""Coverage of a register by a source without a common identifier: private linkage.

Three roles. The *register* and the *source* hold people's names, dates of birth, sex and
addresses (``fields``; the source's columns may be named differently, ``source_fields``,
in the same order); the *linker* is a third node that brings no data. The register draws
an encoding key and gives it to the source only; both send Bloom-filter encodings to the
linker, which finds the matches and tells the register how many of its records matched
in each of its domains (:mod:`privstats.protocols.linkage`, whose docstring is the threat
model). The release then follows the coverage kind's rules (:mod:`.coverage_release`):
both data owners' terms, primary and secondary suppression on the register sizes and the
matched counts, both owners' release guards, the source's check of the proposal.

The result is a coverage release (``groups``, ``margins``, intervals) with a ``linkage``
block: threshold and how it was chosen, candidate pairs, and the linker's score
histograms (each register record's best candidate; the accepted pairs), and an
``adjusted`` block: the linkage error rates and every released cell's coverage adjusted
for them (:mod:`privstats.stats.linkage_error`). The rates are those given
(``linkage_errors``), else those of the register's clerical review (``review``:
:mod:`.linkage_review`; the ``linkage.review`` block gives its counts), else those of a
mixture fitted to the first histogram.
Matched counts are those of the linkage: they include false matches and miss missed ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from privstats.data.readers import read_columns
from privstats.disclosure.owner import CandidateRelease, OwnerRules
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs import linkage_adjust, linkage_review
from privstats.jobs.coverage import Objection, Proposal, Release, agree_terms
from privstats.jobs.coverage_figures import check_release, release
from privstats.jobs.coverage_release import CoverageTerms, Label, protect_release
from privstats.jobs.kind import CliField, JobKind, RoleContext, RoleOutput
from privstats.jobs.local import ProgressSink
from privstats.jobs.local_run import LocalRun, run_kind_locally
from privstats.jobs.render import coverage_view
from privstats.jobs.spec import Spec
from privstats.linkage.blocking import BlockingSpec
from privstats.linkage.bloom import DEFAULT_HASHES, EncodingSpec, FieldEncoding
from privstats.linkage.linker import HISTOGRAM_BINS
from privstats.progress import Progress
from privstats.protocols import linkage
from privstats.stats.linkage_error import LinkageErrors, errors_from_mixture
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "LinkageCoverageSpec",
    "columns_used",
    "encoding_spec",
    "run_local_linkage_coverage",
]

REGISTER, SOURCE, LINKER = "register", "source", "linker"


class LinkageCoverageSpec(Spec):
    """What the register, the source and the linker agree on before they run."""

    _option: ClassVar[str] = "linkage-coverage option"

    fields: tuple[str, ...] = Field(
        min_length=1,
        description="Linkage fields of the register, e.g. first_name,surname,dob,sex,postcode.",
    )
    source_fields: tuple[str, ...] | None = Field(
        None, description="The same fields' columns in the source, if named differently."
    )
    by: tuple[str, ...] = Field((), description="Domain columns of the register, e.g. region.")
    threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Dice score from which a pair is a match (default: chosen from the "
        "scores' two-component mixture).",
    )
    weights: tuple[str, ...] = Field(
        (),
        description=f"Bits per q-gram of a field, FIELD=K (default {DEFAULT_HASHES} each), "
        "e.g. surname=20,sex=4.",
    )
    length: int = Field(1024, ge=128, le=8192, description="Bits of an encoding.")
    salt_field: str | None = Field(
        None, description="A stable linkage field whose value salts the others' grams."
    )
    salt_chars: int = Field(
        0, ge=0, description="Characters of the salt field used (0: all; 4 of a date: year)."
    )
    hardening: Literal["none", "xor_fold", "balance"] = Field(
        "none", description="Hardening of the encodings: none, xor_fold or balance."
    )
    flip_probability: float = Field(
        0.0, ge=0, lt=0.5, description="BLIP: probability that each bit is flipped."
    )
    bands: int = Field(256, ge=1, le=1000, description="LSH blocking: bands.")
    band_bits: int | None = Field(
        None,
        ge=1,
        le=64,
        description="LSH blocking: sampled bits per band (default: from the file sizes).",
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    method: Literal["wilson", "clopper-pearson"] = Field(
        "wilson", description="Interval method: wilson or clopper-pearson."
    )
    min_cell: int = Field(
        10, ge=1, description="Cells with fewer persons (register or matched) are suppressed."
    )
    linkage_errors: tuple[float, ...] = Field(
        (),
        description=linkage_adjust.FIELD_DESCRIPTION
        + " Without them, the rates come from the review, else from the linker's score "
        "mixture.",
    )
    review: str | None = Field(
        None,
        description="A clerical-review sample of the register: a file (a dataset the register's "
        "node offers, at a hub) with the --review-key column and in_source (1 or 0); the "
        "linkage error rates are estimated from it.",
    )
    review_key: str | None = Field(
        None, description="The register's person column that the review file names persons by."
    )
    max_review: int = Field(
        1000,
        ge=1,
        description="At most this many reviewed persons: the register learns whether each "
        "was linked.",
    )

    @field_validator("fields", "by")
    @classmethod
    def _distinct(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(columns)) != len(columns) or any(not c for c in columns):
            raise ValueError(f"columns must be distinct and non-empty, got {list(columns)}")
        return columns

    @model_validator(mode="after")
    def _consistent(self) -> LinkageCoverageSpec:
        if self.source_fields is not None and len(self.source_fields) != len(self.fields):
            raise ValueError(
                f"--source-fields names {len(self.source_fields)} columns for "
                f"{len(self.fields)} fields; give them in the same order"
            )
        encoding_spec(self)  # the weights and the salt field name linkage fields
        if (self.review is None) != (self.review_key is None):
            raise ValueError(
                "--review and --review-key go together: the review file and the register "
                "column (e.g. person_id) that names persons in both"
            )
        try:
            linkage_adjust.given_errors(self.linkage_errors)
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        return self


def _weights(spec: LinkageCoverageSpec) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in spec.weights:
        name, sep, value = item.partition("=")
        if not sep or name not in spec.fields or not value.strip().isdigit():
            raise ValueError(
                f"weight {item!r} must be FIELD=K with FIELD one of {list(spec.fields)}"
            )
        out[name] = int(value)
    return out


def encoding_spec(spec: LinkageCoverageSpec) -> EncodingSpec:
    """The encoding both data owners use (named by the register's field names)."""
    weights = _weights(spec)
    try:
        return EncodingSpec(
            tuple(FieldEncoding(f, weights.get(f, DEFAULT_HASHES)) for f in spec.fields),
            length=spec.length,
            salt_field=spec.salt_field,
            salt_chars=spec.salt_chars,
            hardening=spec.hardening,
            flip_probability=spec.flip_probability,
        )
    except ParameterError as exc:
        raise ValueError(str(exc)) from exc


def columns_used(spec: LinkageCoverageSpec, role: str) -> tuple[str, ...]:
    """The columns of ``role``'s dataset that a linkage-coverage job reads."""
    if role == REGISTER:
        return (*spec.fields, *spec.by, *((spec.review_key,) if spec.review_key else ()))
    if role == SOURCE:
        return spec.source_fields or spec.fields
    if role == LINKER:
        return ()
    raise ParameterError(
        f"unknown linkage-coverage role {role!r}; use 'register', 'source' or 'linker'"
    )


def _records(path: str | Path, columns: Sequence[str]) -> list[tuple[str, ...]]:
    table = read_columns(path, columns)
    values = [table.column(c).to_pylist() for c in columns]
    return list(zip(*values, strict=True))


def _domains(
    path: str | Path, by: Sequence[str], rows: int
) -> tuple[npt.NDArray[np.intp], list[Label]]:
    """Each row's domain number and the domains, sorted."""
    if not by:
        return np.zeros(rows, dtype=np.intp), [()]
    tuples = _records(path, by)
    labels = sorted(set(tuples))
    number = {label: i for i, label in enumerate(labels)}
    return np.array([number[t] for t in tuples], dtype=np.intp), labels


def _candidate(spec: LinkageCoverageSpec, counts: Mapping[Label, int], withheld: Any) -> Any:
    return CandidateRelease(
        kind="linkage_coverage",
        dims=spec.by,
        counts=dict(counts),
        withheld=frozenset(withheld),
        measures=("matched",),
        population="linked",
    )


def _linkage_block(counts: linkage.LinkCounts) -> dict[str, Any]:
    return {
        "method": "bloom-filter encodings (CLK), Dice, greedy one-to-one",
        "threshold": counts.threshold,
        "threshold_source": counts.threshold_source,
        "candidates": counts.candidates,
        "score_bins": HISTOGRAM_BINS,
        "score_histogram": counts.histogram,  # each register record's best candidate
        "matched_score_histogram": counts.matched_histogram,
    }


def _adjusted(
    result: dict[str, Any], spec: LinkageCoverageSpec, reviewed: LinkageErrors | None
) -> None:
    """The coverage adjusted for linkage error, in every released cell: at the rates
    ``linkage_errors`` gives, else at those of the review, else at rates from a mixture
    fitted to the linker's best-score histogram (scores at the bins' midpoints) — biased
    where true matches with errors score like non-matches. ``adjusted`` is None when the
    total is withheld, a note when no mixture fits (:mod:`.linkage_adjust`)."""
    given = linkage_adjust.given_errors(spec.linkage_errors)
    if given is not None:
        linkage_adjust.add_adjusted(result, given)
        return
    if reviewed is not None:
        linkage_adjust.add_adjusted(result, reviewed, review_in_register=True)
        return
    link = result["linkage"]
    if result["matched"] is None or result["register_size"] is None:
        result["adjusted"] = None
        return
    width = 1.0 / link["score_bins"]
    histogram = link["score_histogram"]
    scores = np.repeat((np.arange(len(histogram)) + 0.5) * width, histogram)
    try:
        errors = errors_from_mixture(scores.tolist(), link["threshold"])
        linkage_adjust.add_adjusted(result, errors)
    except ParameterError as exc:
        result["adjusted"] = {"note": f"not estimated: {exc}"}


def _register(
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: LinkageCoverageSpec,
    progress: Progress | None,
    context: RoleContext,
) -> tuple[dict[str, Any], LinkageErrors | None]:
    peer, owner = parties[SOURCE], context.owner
    records = _records(path, spec.fields)
    if not records:
        raise DatasetError(f"{path}: the register has no records; coverage needs one", path=path)
    sample = None
    if spec.review is not None and spec.review_key is not None:
        sample = linkage_review.read_review(
            context.further_dataset(spec.review), path, spec.review_key, spec.max_review
        )
    codes, labels = _domains(path, spec.by, len(records))
    terms = agree_terms(channel, peer, CoverageTerms.of(spec.min_cell, owner))
    view = linkage.register(
        channel,
        peer,
        parties[LINKER],
        records,
        codes,
        len(labels),
        encoding_spec(spec),
        progress,
        review=sample.rows if sample else (),
    )
    sizes = dict(zip(labels, np.bincount(codes, minlength=len(labels)).tolist(), strict=True))
    matched = dict(zip(labels, view.matched, strict=True))
    decisions = protect_release(sizes, matched, spec.by, terms)
    named: dict[Label, str] = {}
    if owner.guard:
        named = dict(owner.guard.check(_candidate(spec, matched, decisions.withheld(labels))))
        if named:
            decisions = protect_release(sizes, matched, spec.by, terms, named)
    source_rows = view.counts.source_rows
    proposal = release(spec, terms, decisions, sizes, matched, source_rows)
    proposal["linkage"] = _linkage_block(view.counts)
    channel.send(peer, Proposal(proposal))
    objection = channel.recv(peer, Objection)
    objected = {
        tuple(cell): why for cell, why in zip(objection.cells, objection.reasons, strict=False)
    }
    if len(objection.cells) != len(objection.reasons) or any(
        cell not in decisions.cells for cell in objected
    ):
        raise ProtocolError("objection: cells this table does not have", peer=peer)
    if objected:
        named |= {cell: f"the source's release history: {why}" for cell, why in objected.items()}
        shown = [cell for cell, decision in decisions.cells.items() if decision.withheld]
        decisions = protect_release(sizes, matched, spec.by, terms, named, shown)
    result = release(spec, terms, decisions, sizes, matched, source_rows)
    result["linkage"] = _linkage_block(view.counts)
    channel.send(peer, Release(result))
    if owner.guard:
        final = decisions.withheld(labels)
        owner.guard.published(_candidate(spec, matched, final), final)
    if sample is None:
        return result, None
    block, errors = linkage_review.review_block(sample, view.reviewed_linked)
    result["linkage"]["review"] = block
    return result, errors


def _source(
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: LinkageCoverageSpec,
    progress: Progress | None,
    owner: OwnerRules,
) -> dict[str, Any]:
    peer = parties[REGISTER]
    records = _records(path, spec.source_fields or spec.fields)
    if not records:
        raise DatasetError(f"{path}: the source has no records; linkage needs one", path=path)
    mine = CoverageTerms.of(spec.min_cell, owner)
    terms = agree_terms(channel, peer, mine)
    del terms  # the register applies the merged terms; the source checks its own
    linkage.source(channel, peer, parties[LINKER], records, encoding_spec(spec), progress)
    proposal = channel.recv(peer, Proposal).result
    check_release(proposal, spec.by, mine, len(records), peer)
    named: dict[Label, str] = {}
    if owner.guard:
        seen = _released(proposal, spec)
        named = dict(owner.guard.check(_candidate(spec, *seen)))
    channel.send(peer, Objection([list(c) for c in named], list(named.values())))
    result = channel.recv(peer, Release).result
    check_release(result, spec.by, mine, len(records), peer)
    counts, withheld = _released(result, spec)
    if any(cell not in withheld for cell in named):
        raise ProtocolError(
            "release: the register released a cell this source's release history withholds",
            peer=peer,
            step="release",
        )
    if owner.guard:
        owner.guard.published(_candidate(spec, counts, withheld), withheld)
    return result


def _released(
    result: Mapping[str, Any], spec: LinkageCoverageSpec
) -> tuple[dict[Label, int], set[Label]]:
    """The released domains' matched counts, and the withheld domains."""
    domains: dict[Label, Any] = {
        tuple(entry["by"][d] for d in spec.by): entry.get("matched")
        for entry in result.get("groups", [])
    }
    if not spec.by:
        domains = {(): result.get("matched")}
    counts = {label: m for label, m in domains.items() if m is not None}
    return counts, {label for label, m in domains.items() if m is None}


def _run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: LinkageCoverageSpec,
    progress: Progress | None,
    context: RoleContext,
) -> RoleOutput:
    if role == LINKER:
        linkage.linker(
            channel,
            parties[REGISTER],
            parties[SOURCE],
            threshold=spec.threshold,
            blocking=BlockingSpec(spec.bands, spec.band_bits),
            progress=progress,
            max_review=spec.max_review if spec.review else 0,
            declared_rows={
                parties[r]: context.peer_rows[r]
                for r in (REGISTER, SOURCE)
                if r in context.peer_rows
            },
        )
        return RoleOutput(None, [])
    if role == REGISTER:
        result, reviewed = _register(channel, parties, path, spec, progress, context)
        result["computation"] = "linkage_coverage"
        _adjusted(result, spec, reviewed)
        return RoleOutput(result, [])
    result = _source(channel, parties, path, spec, progress, context.owner)
    result["computation"] = "linkage_coverage"
    return RoleOutput(result, [])


def run_local_linkage_coverage(
    register: str | Path,
    source: str | Path,
    spec: LinkageCoverageSpec,
    *,
    progress: ProgressSink | None = None,
    owners: Mapping[str, OwnerRules] | None = None,
) -> LocalRun:
    """Run the register, the source and the linker, each in its own process on loopback."""
    return run_kind_locally(
        KIND, {REGISTER: register, SOURCE: source}, spec, progress=progress, owners=owners
    )


KIND = JobKind(
    name="linkage_coverage",
    title="Coverage of a register by a source without a common identifier, by private "
    "probabilistic linkage (Bloom-filter encodings, a linker).",
    description=(
        "The register and the source encode names, dates and addresses with a key only they "
        "hold; a linker compares the encodings and tells the register the matched count of "
        "each (opaquely labelled) domain. Released as coverage, with the coverage kind's "
        "suppression rules and the linkage's threshold and score histograms."
    ),
    roles=(REGISTER, SOURCE, LINKER),
    dataless_roles=(LINKER,),
    role_help={
        REGISTER: "The register (linkage fields with domain columns).",
        SOURCE: "The third-party source (the same linkage fields).",
        LINKER: "The linkage unit: brings no data, sees only encodings.",
    },
    result_role=REGISTER,
    spec_type=LinkageCoverageSpec,
    columns=columns_used,
    disclosure=lambda spec: {
        "min_cell": spec.min_cell,
        **({"review_max": spec.max_review} if spec.review else {}),
    },
    run_role=_run_role,
    render=lambda result: [coverage_view(result)],
    cli={
        "bands": CliField(hidden=True),
        "band_bits": CliField(hidden=True),
        "length": CliField(hidden=True),
    },
)
