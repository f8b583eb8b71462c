"""Coverage of a population register by a third-party source, per domain.

Two roles. The *register* (an NSO, holding person identifiers with domain attributes) is
the PSI receiver; the *source* (a telecom or bank, holding its customers' identifiers) is
the PSI sender. What is released, and who enforces it:

1. **Terms.** Each side sends the rules its data owner imposes (``min_cell``,
   ``min_matched``, table rules; :class:`~.coverage_release.CoverageTerms`); both apply
   the strictest of the job's and both owners'. Each side's ``min_peer_rows`` stops the
   protocol at the PSI hello when the other side brings fewer identifiers.
2. **Sizes.** The register finds the domains its sizes alone withhold (primary and
   secondary, table with margins) and pads each of them with random identifiers up to a
   multiple of the floor, so that the source learns a withheld domain's size only to
   within the floor (every domain below it shows the floor itself).
3. **PSI** (:mod:`privstats.protocols.psi`) with ``reveal_counts=False``: the register
   learns the matched count of every domain (exactly, or with the source's noise share
   under DP); the source learns only the domain sizes of step 2.
4. **Release.** The register applies the rules to both counts of every domain, margin
   and the total, then secondary suppression on both tables (see
   :mod:`.coverage_release`), asks its owner's release guard which further cells earlier
   releases would expose, and sends the proposed release to the source. The source checks
   it against its own terms (a released cell below its floors, a withheld cell the
   published ones pin down: refused), asks its own guard, and sends back the cells to
   withhold further; the register withholds them too (secondary suppression again) and
   sends the final release, which both check, output and record in their guards.

Threat model (semi-honest parties, as the PSI). The register learns per-domain matched
counts from PSI-CA itself, before any rule: the source's ``min_matched`` and guard
protect its customers against the *release* (the analyst, the hub, anyone reading it),
not against the register party; against the register they are bounded only by the
source's ``min_peer_rows`` (a floor on the register's total input, which invented
identifiers can meet) and, under ``--dp-epsilon``, by the source's noise share inside the
protocol (the register then never sees a noiseless count). The source learns the sizes
of the domains released on size, the withheld ones' rounded up to a multiple of the
floor (so a primary domain's size is known to it only to within the floor), the
register's rules and, from the proposal, the counts
of every cell the register's rules release — also those its own guard then withholds.
The register learns the source's rules and the labels of the cells the source's guard
withholds. Both learn the final release.

With ``--dp-epsilon`` (``dp``) the table rules give way to noise (see :mod:`.coverage_dp`).
With ``--match-key RULE`` (``match_keys``) the files need no common identifier: step 3 is
the multi-key PSI of :mod:`privstats.protocols.psi_multikey` and the release adds
per-rule counts (see :mod:`.coverage_keys` and docs/computations/linkage.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from privstats.data.identifiers import NormalizationSpec
from privstats.data.readers import IdentifierSet, load_identifiers
from privstats.disclosure.owner import NO_OWNER_RULES, CandidateRelease, OwnerRules
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs import coverage_dp, coverage_keys, linkage_adjust
from privstats.jobs.coverage_figures import check_release, release
from privstats.jobs.coverage_keys import KeyedRecords
from privstats.jobs.coverage_release import (
    CoverageTerms,
    Decisions,
    Label,
    protect_release,
    withheld_by_size,
)
from privstats.jobs.coverage_spec import CoverageSpec
from privstats.jobs.dp_options import dp_budget, dp_cli_fields
from privstats.jobs.kind import CliField, JobKind, RoleContext, RoleOutput
from privstats.jobs.local import ProgressSink
from privstats.jobs.local_run import LocalRun, run_kind_locally
from privstats.jobs.render import coverage_view
from privstats.linkage.match_keys import fields_of, parse_rules
from privstats.progress import Progress
from privstats.protocols import psi
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "KIND",
    "CoverageRun",
    "CoverageSpec",
    "NormalizationSpec",
    "agree_terms",
    "columns_used",
    "load_role_data",
    "register_role",
    "run_local_coverage",
    "source_role",
]

REGISTER, SOURCE = "register", "source"


@message("coverage.terms", 1)
class Terms(Message):
    min_cell: int
    min_matched: int
    rules: list[str]


@message("coverage.proposal", 1)
class Proposal(Message):
    result: dict[str, Any]


@message("coverage.objection", 1)
class Objection(Message):
    cells: list[list[str]]
    reasons: list[str]


@message("coverage.release", 1)
class Release(Message):
    result: dict[str, Any]


def columns_used(spec: CoverageSpec, role: str) -> tuple[str, ...]:
    """The columns of ``role``'s dataset that a coverage job reads."""
    rules = parse_rules(spec.match_keys) if spec.match_keys else ()
    if role == REGISTER:
        return tuple(dict.fromkeys((spec.key, *spec.by, *fields_of(rules))))
    if role == SOURCE:
        if rules:
            return coverage_keys.source_columns(rules, spec.source_fields)
        return (spec.peer_key or spec.key,)
    raise ParameterError(f"unknown coverage role {role!r}; use 'register' or 'source'")


def load_role_data(role: str, path: str | Path, spec: CoverageSpec) -> IdentifierSet | KeyedRecords:
    """Read and normalise one party's identifiers (and, for the register, its domains);
    with match keys, its records' keys."""
    rule = spec.normalization.rule()
    if spec.match_keys and role == REGISTER:
        return coverage_keys.load_register(path, spec.key, spec.by, spec.match_keys, rule)
    if spec.match_keys and role == SOURCE:
        return coverage_keys.load_source(path, spec.match_keys, spec.source_fields)
    if role == REGISTER:
        return load_identifiers(path, spec.key, by=spec.by, rule=rule)
    if role == SOURCE:
        return load_identifiers(path, spec.peer_key or spec.key, rule=rule)
    raise ParameterError(f"unknown coverage role {role!r}; use 'register' or 'source'")


def agree_terms(channel: Channel, peer: str, mine: CoverageTerms) -> CoverageTerms:
    """Send this side's terms, receive the peer's: the strictest of both."""
    channel.send(peer, Terms(mine.min_cell, mine.min_matched, list(mine.rules)))
    theirs = channel.recv(peer, Terms)
    if theirs.min_cell < 1 or theirs.min_matched < 0:
        raise ProtocolError("terms: impossible floors", peer=peer, step="terms")
    return mine.merge(CoverageTerms(theirs.min_cell, theirs.min_matched, tuple(theirs.rules)))


def _random_ids(count: int) -> list[str | bytes]:
    """Identifiers that match nobody (256 random bits each): padding."""
    return [secrets.token_bytes(32) for _ in range(count)]


def _padded_groups(
    data: IdentifierSet, padding: Sequence[int]
) -> tuple[list[str | bytes], list[int]]:
    """The register's PSI input: one group per domain, ``padding[g]`` random ids added."""
    codes = (
        np.zeros(len(data.ids), dtype=np.intp) if data.domain_codes is None else data.domain_codes
    )
    ids: list[str | bytes] = list(data.ids)
    groups: list[int] = codes.tolist()
    for group, count in enumerate(padding):
        ids += _random_ids(count)
        groups += [group] * count
    return ids, groups


def _size_padding(sizes: Mapping[Label, int], by: Sequence[str], terms: CoverageTerms) -> list[int]:
    """Random ids per domain so that a domain withheld on its size shows the source only
    its size rounded up to a multiple of the floor (a domain below it: the floor)."""
    withheld = withheld_by_size(sizes, by, terms)
    return [-n % terms.min_cell if label in withheld else 0 for label, n in sizes.items()]


def _domain_sizes(data: IdentifierSet | KeyedRecords) -> dict[Label, int]:
    """Each domain's persons, in the register's (sorted) domain order."""
    if data.domain_codes is None:
        return {(): len(data.ids)}
    counts = np.bincount(data.domain_codes, minlength=len(data.domain_labels)).tolist()
    return dict(zip(data.domain_labels, counts, strict=True))


def register_role(
    channel: Channel,
    peer: str,
    data: IdentifierSet | KeyedRecords,
    spec: CoverageSpec,
    progress: Progress | None = None,
    *,
    max_peer_size: int | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> dict[str, Any]:
    """The register's side: run PSI by domain, decide, agree and release the estimates.

    ``max_peer_size``: the most identifiers the source may announce (the row count its
    dataset declares; None: no bound). ``owner``: the register's data owner's rules.
    """
    if not data.ids:
        raise DatasetError(
            f"{data.path}: the register has no identifiers; coverage needs at least one",
            path=data.path,
            column=data.key,
        )
    sizes = _domain_sizes(data)
    labels = list(sizes)
    terms = agree_terms(channel, peer, CoverageTerms.of(spec.min_cell, owner))
    plan = coverage_dp.plan(spec)
    if plan is None:
        padding = _size_padding(sizes, spec.by, terms)
    else:
        padding = coverage_dp.truncated_shares(plan, len(labels))
    if isinstance(data, KeyedRecords):
        return _register_keys(
            channel, peer, data, spec, progress, max_peer_size, owner, terms, padding
        )
    ids, groups = _padded_groups(data, padding)
    counts = psi.receiver(
        channel,
        peer,
        ids,
        groups,
        n_groups=len(labels),
        chunk_size=spec.chunk_size,
        progress=progress,
        distinct=True,  # IdentifierSet.ids holds each identifier once; padding is random
        max_peer_size=max_peer_size,
        min_peer_size=owner.min_peer_rows,
        peer_padding=0 if plan is None else plan.pad,  # the source's noise share
        reveal_counts=False,
        dummy_pad=0 if plan is None else plan.pad,
    )
    matched = dict(zip(labels, counts.matched, strict=True))
    if plan is not None:
        result = coverage_dp.register_release(
            spec, plan, sizes, padding, matched, counts.sender_size
        )
        channel.send(peer, Proposal(result))
        channel.recv(peer, Objection)
        channel.send(peer, Release(result))
        return result
    return _agree_release(channel, peer, spec, terms, owner, sizes, matched, counts.sender_size)


def _register_keys(
    channel: Channel,
    peer: str,
    data: KeyedRecords,
    spec: CoverageSpec,
    progress: Progress | None,
    max_peer_size: int | None,
    owner: OwnerRules,
    terms: CoverageTerms,
    padding: Sequence[int],
) -> dict[str, Any]:
    """The register's side with match keys: the multi-key PSI, then the same release."""
    sizes = _domain_sizes(data)
    counts = coverage_keys.register_counts(
        channel,
        peer,
        data,
        len(spec.match_keys),
        padding,
        chunk_size=spec.chunk_size,
        progress=progress,
        max_peer_size=max_peer_size,
        min_peer_size=owner.min_peer_rows,
    )
    matched = dict(zip(sizes, counts.matched, strict=True))
    return _agree_release(
        channel,
        peer,
        spec,
        terms,
        owner,
        sizes,
        matched,
        counts.sender_size,
        by_rule=counts.matched_by_rule,
    )


def _release(
    spec: CoverageSpec,
    terms: CoverageTerms,
    decisions: Decisions,
    sizes: Mapping[Label, int],
    matched: Mapping[Label, int],
    source_size: int,
    by_rule: Sequence[Sequence[int]] | None,
) -> dict[str, Any]:
    """The release, with the per-rule figures when matching by match keys."""
    if by_rule is None:
        return release(spec, terms, decisions, sizes, matched, source_size)
    rules = coverage_keys.rule_figures(decisions, list(sizes), spec.by, spec.match_keys, by_rule)
    result = release(spec, terms, decisions, sizes, matched, source_size, cell_extra=rules.cells)
    for entry in (*result["groups"], *result["margins"]):
        entry.setdefault("matched_by_rule", None)  # withheld: no per-rule figure either
    result["match_keys"] = list(spec.match_keys)
    result["matched_by_rule"] = rules.overall
    if rules.withheld:
        result["match_keys_withheld"] = dict(rules.withheld)
    return result


def _agree_release(
    channel: Channel,
    peer: str,
    spec: CoverageSpec,
    terms: CoverageTerms,
    owner: OwnerRules,
    sizes: Mapping[Label, int],
    matched: Mapping[Label, int],
    source_size: int,
    *,
    by_rule: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Rules, the register's guard, the source's objections: the final release
    (``by_rule``: per domain, the matched count of each match-key rule)."""
    labels = list(sizes)
    decisions = protect_release(sizes, matched, spec.by, terms)
    candidate = CandidateRelease(
        kind="coverage",
        dims=spec.by,
        counts=dict(matched),
        withheld=decisions.withheld(labels),
        measures=("matched",),
        population=f"matched:{peer}",
    )
    named: dict[Label, str] = dict(owner.guard.check(candidate)) if owner.guard else {}
    if named:
        decisions = protect_release(sizes, matched, spec.by, terms, named)
    channel.send(
        peer, Proposal(_release(spec, terms, decisions, sizes, matched, source_size, by_rule))
    )
    objection = channel.recv(peer, Objection)
    if len(objection.cells) != len(objection.reasons):
        raise ProtocolError("objection: cells and reasons differ in number", peer=peer)
    objected = {
        tuple(cell): why for cell, why in zip(objection.cells, objection.reasons, strict=True)
    }
    if any(cell not in decisions.cells for cell in objected):
        raise ProtocolError("objection: names a cell this table does not have", peer=peer)
    if objected:
        named |= {cell: f"the source's release history: {why}" for cell, why in objected.items()}
        shown = [cell for cell, decision in decisions.cells.items() if decision.withheld]
        decisions = protect_release(sizes, matched, spec.by, terms, named, shown)
    result = _release(spec, terms, decisions, sizes, matched, source_size, by_rule)
    channel.send(peer, Release(result))
    if owner.guard:
        final = decisions.withheld(labels)
        owner.guard.published(
            CandidateRelease(
                kind="coverage",
                dims=spec.by,
                counts=dict(matched),
                withheld=final,
                measures=("matched",),
                population=f"matched:{peer}",
            ),
            final,
        )
    return result


def source_role(
    channel: Channel,
    peer: str,
    data: IdentifierSet | KeyedRecords,
    spec: CoverageSpec,
    progress: Progress | None = None,
    *,
    max_peer_size: int | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> dict[str, Any]:
    """The source's side: run PSI, check the proposed release against its own terms and
    release history, object, and check the final release.

    ``max_peer_size``: the most identifiers the register may announce (the row count its
    dataset declares; None: no bound). ``owner``: the source's data owner's rules.
    """
    mine = CoverageTerms.of(spec.min_cell, owner)
    terms = agree_terms(channel, peer, mine)
    plan = coverage_dp.plan(spec)
    if isinstance(data, KeyedRecords):
        coverage_keys.source_counts(
            channel,
            peer,
            data,
            len(spec.match_keys),
            chunk_size=spec.chunk_size,
            progress=progress,
            max_peer_size=max_peer_size,
            min_peer_size=owner.min_peer_rows,
            peer_padding=terms.min_cell,  # per domain: rounding to the floor
        )
        return _check_and_release(channel, peer, spec, owner, mine, len(data.records), True)
    ids: Sequence[str | bytes] = data.ids
    if plan is not None:
        ids = [*data.ids, *_random_ids(coverage_dp.truncated_shares(plan, 1)[0])]
    psi.sender(
        channel,
        peer,
        ids,
        chunk_size=spec.chunk_size,
        progress=progress,
        distinct=True,
        max_peer_size=max_peer_size,
        min_peer_size=owner.min_peer_rows,
        # per domain: rounding to the floor, or the register's noise share
        peer_padding=terms.min_cell if plan is None else plan.pad,
        reveal_counts=False,
        dummy_pad=0 if plan is None else plan.pad,
        dummy_matches=None if plan is None else coverage_dp.source_matches(plan),
    )
    return _check_and_release(channel, peer, spec, owner, mine, len(data.ids), plan is None)


def _check_and_release(
    channel: Channel,
    peer: str,
    spec: CoverageSpec,
    owner: OwnerRules,
    mine: CoverageTerms,
    own: int,
    exact: bool,
) -> dict[str, Any]:
    """The source's checks of the proposal and of the final release, its objections."""
    proposal = channel.recv(peer, Proposal).result
    check_release(proposal, spec.by, mine, own, peer, exact=exact)
    candidate = _source_candidate(proposal, spec, peer)
    named = dict(owner.guard.check(candidate)) if owner.guard and exact else {}
    channel.send(peer, Objection([list(c) for c in named], list(named.values())))
    result = channel.recv(peer, Release).result
    check_release(result, spec.by, mine, own, peer, exact=exact)
    final = _source_candidate(result, spec, peer)
    if any(cell not in final.withheld for cell in named):
        raise ProtocolError(
            "release: the register released a cell this source's release history withholds",
            peer=peer,
            step="release",
        )
    if owner.guard and exact:
        owner.guard.published(final, final.withheld)
    return result


def _source_candidate(result: Mapping[str, Any], spec: CoverageSpec, peer: str) -> CandidateRelease:
    """The source's view of a release as a candidate: released domains' matched counts
    (withheld ones it does not know)."""
    domains = {
        tuple(entry["by"][d] for d in spec.by): entry.get("matched")
        for entry in result.get("groups", [])
    }
    if not spec.by:
        domains = {(): result.get("matched")}
    return CandidateRelease(
        kind="coverage",
        dims=spec.by,
        counts={label: m for label, m in domains.items() if m is not None},
        withheld=frozenset(label for label, m in domains.items() if m is None),
        measures=("matched",),
        population=f"matched:{peer}",
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
    run = register_role if role == REGISTER else source_role
    peer_role = SOURCE if role == REGISTER else REGISTER
    result = run(
        channel,
        parties[peer_role],
        data,
        spec,
        progress,
        max_peer_size=peer_rows.get(peer_role),
        owner=context.owner,
    )
    errors = linkage_adjust.given_errors(spec.linkage_errors)
    if errors is not None:
        linkage_adjust.add_adjusted(result, errors)
    return RoleOutput(result, data.warnings())


CoverageRun = LocalRun
"""A local coverage run's result (with ``seconds``), warnings and costs."""


def run_local_coverage(
    register: str | Path,
    source: str | Path,
    spec: CoverageSpec,
    *,
    progress: ProgressSink | None = None,
    owners: Mapping[str, OwnerRules] | None = None,
) -> LocalRun:
    """Run both roles, each in its own process on loopback; ``result`` includes ``seconds``.
    ``owners``: role → the rules its data owner imposes (none by default)."""
    return run_kind_locally(
        KIND, {REGISTER: register, SOURCE: source}, spec, progress=progress, owners=owners
    )


KIND = JobKind(
    name="coverage",
    title="Coverage of a register by a third-party source, by private set intersection.",
    description=(
        "Neither side learns which persons are in the other's file; both learn the released "
        "coverage figures. Domains, margins and the total with fewer than --min-cell "
        "persons (in the register or matched) are suppressed, with secondary suppression "
        "so that they cannot be recovered by subtraction; or, with --dp-epsilon, every "
        "count carries noise added inside the protocol."
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
    budget=dp_budget,
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
        "match_keys": CliField(option="--match-key", split=False),
        "source_fields": CliField(option="--source-field", parse=coverage_keys.parse_source_fields),
        **dp_cli_fields(),
    },
)
