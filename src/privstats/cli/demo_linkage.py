"""``privstats demo linkage``: coverage without a common identifier, adjusted for linkage error.

Generates a register and a source of people with the errors real files have (typos,
nicknames, day/month swapped, moves, missing fields, namesakes; :mod:`privstats.data.people`),
writes both to a folder, and estimates the source's coverage of the register, by region,
in each of these ways, side by side with the truth the generator planted:

* **exact id** — PSI on one identifier built from name and date of birth, the way a
  file without a person number is often matched: every typo, nickname or swapped date is
  a missed match, every namesake a false one;
* **multi-key** — PSI where a person counts as matched when any of several match-key
  rules agrees (``privstats run coverage --match-key``), run when
  :mod:`privstats.linkage.match_keys` is installed;
* **Bloom filters** — probabilistic linkage of Bloom-filter encodings by a linker
  (``privstats run linkage-coverage``), run when :mod:`privstats.jobs.linkage_coverage`
  is installed.

Each way is one function (``WAYS``) that runs the private computation, each party in its
own process on loopback, and returns its matched counts with the error rates estimated
from a clerical review: a random sample of register persons for whom a clerk knows
whether the linkage declared them matched and whether they truly are in the source (the
demo knows both from the generator). In the Bloom-filter way no party learns a person's
link, so the register hands its review to the job (``--review``): the linker tells it,
for those persons only, whether each was linked.
:func:`~privstats.stats.linkage_error.adjusted_coverage` then corrects the counts; the
demo prints the unadjusted and adjusted coverage next to the true one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import typer
from rich import box
from rich.table import Table

from privstats.cli._console import err, fail_on_error, out, warn
from privstats.data.people import Person, make_people
from privstats.data.readers import write_csv
from privstats.errors import ParameterError, PrivstatsError
from privstats.jobs.coverage import CoverageSpec, run_local_coverage
from privstats.stats.linkage_error import (
    AdjustedCoverage,
    LinkageErrors,
    adjusted_coverage,
    errors_from_review,
)

__all__ = ["LinkageDemo", "WayResult", "linkage", "make_linkage_demo", "run_ways"]

MATCH_KEY_RULES = (
    "soundex(surname)+dob+sex",
    "initial(first_name)+surname+dob",
    "surname+dob+postcode",
)
"""The multi-key way's rules (ONS-style match keys: each one misses a different error)."""
BLOOM_FIELDS = "first_name,surname,dob,sex,postcode"
TOTAL = "Total"


@dataclass(frozen=True)
class LinkageDemo:
    """The generated files, their rows and the truth (source row → register person or None)."""

    folder: Path
    register_file: Path
    source_file: Path
    register: list[Person]
    source: list[Person]
    truth: dict[int, str | None]
    min_cell: int = 10

    @property
    def covered(self) -> set[str]:
        """Register persons truly in the source."""
        return {pid for pid in self.truth.values() if pid is not None}

    def true_coverage(self) -> dict[str, tuple[int, int]]:
        """Region (and ``Total``) → (persons truly in the source, persons in the register)."""
        covered = self.covered
        counts: dict[str, tuple[int, int]] = {}
        for row in self.register:
            for label in (row["region"], TOTAL):
                hit, size = counts.get(label, (0, 0))
                counts[label] = (hit + (row["person_id"] in covered), size + 1)
        return dict(sorted(counts.items(), key=lambda item: (item[0] == TOTAL, item[0])))


@dataclass
class WayResult:
    """One way's matched counts per region (and ``Total``), its review and adjusted figures."""

    name: str
    description: str
    matched: dict[str, int | None]
    review: list[tuple[bool, bool]]
    figures: dict[str, AdjustedCoverage | None] = field(default_factory=dict)
    seconds: float = 0.0
    errors: LinkageErrors | None = None
    """Rates given with the result; otherwise estimated from ``review``."""

    def rates(self) -> LinkageErrors | None:
        """The error rates applied: the review's, else those given, else None."""
        return errors_from_review(self.review) if self.review else self.errors


def _installed(name: str) -> ModuleType | None:
    """The module ``name`` if this installation has it (ways built by other parts of
    privstats are run only when present), else None."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def exact_key(row: Mapping[str, str]) -> str:
    """The unreliable single identifier: first name, surname and date of birth as written."""
    return f"{row['first_name']} {row['surname']} {row['dob']}".strip().lower()


def make_linkage_demo(
    folder: Path,
    *,
    register_size: int = 3_000,
    source_size: int = 2_000,
    overlap: int = 1_800,
    seed: int = 2026,
    min_cell: int = 10,
) -> LinkageDemo:
    """Generate people with errors and write ``register.csv`` and ``source.csv``."""
    register, source, truth = make_people(register_size, source_size, overlap, seed)
    folder.mkdir(parents=True, exist_ok=True)
    register_file, source_file = folder / "register.csv", folder / "source.csv"
    columns = ("first_name", "surname", "dob", "sex", "postcode", "region")
    write_csv(
        register_file,
        {
            "person_id": [row["person_id"] for row in register],
            "name_dob": [exact_key(row) for row in register],
            **{c: [row[c] for row in register] for c in columns},
        },
    )
    write_csv(
        source_file,
        {
            "name_dob": [exact_key(row) for row in source],
            **{c: [row[c] for row in source] for c in columns},
        },
    )
    return LinkageDemo(folder, register_file, source_file, register, source, truth, min_cell)


def _matched_by_region(result: Mapping[str, Any]) -> dict[str, int | None]:
    """A coverage release's matched count per region (None when withheld) and in total."""
    matched: dict[str, int | None] = {
        str(group["by"]["region"]): None if group["suppressed"] else group["matched"]
        for group in result["groups"]
    }
    matched[TOTAL] = None if result.get("suppressed") else result["matched"]
    return matched


def _review(
    demo: LinkageDemo, declared: Callable[[Person], bool], size: int, seed: int
) -> list[tuple[bool, bool]]:
    """A clerk's review of ``size`` random register persons: (declared matched, truly in)."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(demo.register), size=min(size, len(demo.register)), replace=False)
    covered = demo.covered
    return [(declared(demo.register[i]), demo.register[i]["person_id"] in covered) for i in sample]


def exact_id_way(demo: LinkageDemo, review_size: int, seed: int) -> WayResult:
    """PSI on the name-and-birth-date identifier (``privstats run coverage --key``)."""
    spec = CoverageSpec(key="name_dob", by=("region",), min_cell=demo.min_cell)
    run = run_local_coverage(demo.register_file, demo.source_file, spec)
    keys = {exact_key(row) for row in demo.source}
    return WayResult(
        "exact id",
        "PSI on first name + surname + date of birth as one identifier",
        _matched_by_region(run.result),
        _review(demo, lambda row: exact_key(row) in keys, review_size, seed),
        seconds=float(run.result.get("seconds", 0.0)),
    )


def multikey_way(demo: LinkageDemo, review_size: int, seed: int) -> WayResult | None:
    """Multi-key PSI (``privstats run coverage --match-key RULE …``); None if not installed."""
    match_keys = _installed("privstats.linkage.match_keys")
    if match_keys is None or "match_keys" not in CoverageSpec.model_fields:
        return None
    parse_rules, record_keys = match_keys.parse_rules, match_keys.record_keys

    spec = CoverageSpec.model_validate(
        {
            "key": "person_id",
            "by": ("region",),
            "min_cell": demo.min_cell,
            "match_keys": MATCH_KEY_RULES,
        }
    )
    run = run_local_coverage(demo.register_file, demo.source_file, spec)
    rules = parse_rules(MATCH_KEY_RULES)
    source_keys = [set[str]() for _ in rules]
    for row in demo.source:
        for keys, key in zip(source_keys, record_keys(row, rules), strict=True):
            keys.add(key)

    def declared(row: Person) -> bool:
        own = record_keys(row, rules)
        return any(key and key in keys for key, keys in zip(own, source_keys, strict=True))

    return WayResult(
        "multi-key",
        "PSI where any of " + ", ".join(MATCH_KEY_RULES) + " may match",
        _matched_by_region(run.result),
        _review(demo, declared, review_size, seed),
        seconds=float(run.result.get("seconds", 0.0)),
    )


def _errors_in(result: Mapping[str, Any], depth: int = 2) -> LinkageErrors | None:
    """The linkage-error rates a result carries (a mapping with both rates, at most
    ``depth`` levels down, e.g. ``result["adjusted"]["errors"]``), if any."""
    if {"false_match_rate", "missed_match_rate"} <= set(result):
        known = {f.name for f in dataclasses.fields(LinkageErrors)}
        return LinkageErrors(**{k: v for k, v in result.items() if k in known})
    for value in result.values() if depth > 0 else ():
        if isinstance(value, Mapping) and (found := _errors_in(value, depth - 1)) is not None:
            return found
    return None


def _review_file(demo: LinkageDemo, size: int, seed: int) -> Path:
    """The clerk's labels for ``size`` random register persons, as ``--review`` reads them."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(demo.register), size=min(size, len(demo.register)), replace=False)
    covered = demo.covered
    ids = [demo.register[i]["person_id"] for i in sample]
    path = demo.folder / "review.csv"
    write_csv(path, {"person_id": ids, "in_source": ["1" if p in covered else "0" for p in ids]})
    return path


def _pairs(review: Mapping[str, int]) -> list[tuple[bool, bool]]:
    """(declared, truly) pairs with a linkage-coverage result's review counts."""
    both = review["declared"] - review["false_matches"]
    neither = review["reviewed"] - both - review["false_matches"] - review["missed_matches"]
    return (
        [(True, True)] * both
        + [(True, False)] * review["false_matches"]
        + [(False, True)] * review["missed_matches"]
        + [(False, False)] * neither
    )


def bloom_way(demo: LinkageDemo, review_size: int, seed: int) -> WayResult | None:
    """Bloom-filter linkage by a linker (``privstats run linkage-coverage --review``:
    register, source and linker each in their own process); None if not installed. The
    review's counts come back in the result (the linker told the register, for the
    reviewed persons only, whether each was linked)."""
    kind = _installed("privstats.jobs.linkage_coverage")
    if kind is None:
        return None
    spec = kind.LinkageCoverageSpec.model_validate(
        {
            "fields": BLOOM_FIELDS.split(","),
            "by": ("region",),
            "min_cell": demo.min_cell,
            "review": str(_review_file(demo, review_size, seed)),
            "review_key": "person_id",
        }
    )
    run = kind.run_local_linkage_coverage(demo.register_file, demo.source_file, spec)
    review = run.result["linkage"].get("review")
    return WayResult(
        "Bloom filters",
        "probabilistic linkage of Bloom-filter encodings (" + BLOOM_FIELDS + ") by a linker",
        _matched_by_region(run.result),
        _pairs(review) if review else [],
        seconds=float(run.result.get("seconds", 0.0)),
        errors=_errors_in(run.result),
    )


WAYS: tuple[Callable[[LinkageDemo, int, int], WayResult | None], ...] = (
    exact_id_way,
    multikey_way,
    bloom_way,
)
"""The ways of linking the demo runs, in order; a way returns None when not installed."""


def _adjust(way: WayResult, demo: LinkageDemo, confidence: float) -> None:
    """Fill ``way.figures``: the review's error rates applied to every released count."""
    errors = way.rates()
    sizes = demo.true_coverage()
    for label, matched in way.matched.items():
        if matched is None:
            way.figures[label] = None
            continue
        # without rates, only the unadjusted figure is shown (from zero rates' result)
        way.figures[label] = adjusted_coverage(
            matched,
            sizes[label][1],
            errors or LinkageErrors(0.0, 0.0),
            confidence,
            # the review is a subsample of the whole register: its covariance with the
            # total count is accounted for; a region's count shares less with it
            review_in_register=label == TOTAL and errors is not None and errors.source == "review",
        )


def run_ways(
    demo: LinkageDemo,
    *,
    review_size: int = 400,
    seed: int = 2026,
    confidence: float = 0.95,
    ways: Sequence[Callable[[LinkageDemo, int, int], WayResult | None]] = WAYS,
) -> tuple[list[WayResult], dict[str, str]]:
    """Run every installed way; return their results and, for each way not run, why (not
    installed, or its error: one way's failure, e.g. no threshold found on few records,
    does not hide the others; the exact-id way's does, as it is the baseline)."""
    done: list[WayResult] = []
    not_run: dict[str, str] = {}
    for way in ways:
        name = way.__name__.removesuffix("_way")
        err.print(f"linking: {name.replace('_', ' ')}…")
        try:
            result = way(demo, review_size, seed + 1)
        except PrivstatsError as exc:
            if way is exact_id_way:
                raise
            warn(f"{name}: {exc}")
            not_run[name] = str(exc)
            continue
        if result is None:
            not_run[name] = "not installed"
            continue
        _adjust(result, demo, confidence)
        done.append(result)
    return done, not_run


def _interval(values: tuple[float, float, float]) -> str:
    estimate, low, high = values
    return f"{100 * estimate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def _as_json(
    demo: LinkageDemo, ways: list[WayResult], not_run: Mapping[str, str]
) -> dict[str, Any]:
    truth = demo.true_coverage()
    return {
        "truth": {
            label: {"covered": hit, "register_size": size, "coverage": hit / size}
            for label, (hit, size) in truth.items()
        },
        "ways": [
            {
                "name": way.name,
                "description": way.description,
                "seconds": way.seconds,
                "reviewed": len(way.review),
                "errors": None if (rates := way.rates()) is None else rates.as_dict(),
                "groups": {
                    label: None
                    if figure is None
                    else {**figure.as_dict(), **({} if way.rates() else {"adjusted": None})}
                    for label, figure in way.figures.items()
                },
                "matched": way.matched,
            }
            for way in ways
        ],
        "not_run": dict(not_run),
    }


def _table(demo: LinkageDemo, way: WayResult) -> Table:
    truth = demo.true_coverage()
    table = Table(title=f"{way.name}: {way.description}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("region", "register", "true coverage", "matched", "unadjusted", "adjusted"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for label, (hit, size) in truth.items():
        figure = way.figures.get(label)
        matched = way.matched.get(label)
        table.add_row(
            label,
            f"{size:,}",
            f"{100 * hit / size:.1f}%",
            "suppressed" if matched is None else f"{matched:,}",
            "" if figure is None else _interval(figure.unadjusted),
            "" if figure is None else _interval(figure.adjusted) if way.rates() else "no rates",
        )
    errors = way.rates()
    if errors is not None:
        origin = {
            "review": f"review of {len(way.review)} register persons",
            "mixture": (
                "the linker's score mixture (not checked against a review: biased where true "
                "matches with errors score like non-matches)"
            ),
        }.get(errors.source, "given rates")
        table.caption = (
            f"{origin}: false-match rate "
            f"{100 * errors.false_match_rate:.1f}% (SE {100 * errors.false_match_se:.1f}), "
            f"missed-match rate {100 * errors.missed_match_rate:.1f}% "
            f"(SE {100 * errors.missed_match_se:.1f}) · {way.seconds:.1f} s"
        )
        table.caption_justify = "left"
    return table


def linkage(
    register_size: int = typer.Option(3_000, help="Persons in the generated register."),
    source_size: int = typer.Option(2_000, help="Persons in the generated source."),
    overlap: int = typer.Option(1_800, help="Persons in both (the true matches)."),
    seed: int = typer.Option(2026, help="Seed of the demo data generator."),
    review: int = typer.Option(400, help="Register persons in the clerical review sample."),
    min_cell: int = typer.Option(10, help="Regions with fewer persons are suppressed."),
    keep: Path | None = typer.Option(None, help="Keep the generated files here."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Coverage without a common identifier: exact, multi-key and Bloom-filter linkage,
    each unadjusted and adjusted for linkage error, next to the planted truth.

    The register and the source are generated with typos, nicknames, day/month swaps,
    moves, missing fields and namesakes. Each way runs both parties in their own
    processes; the error rates come from a clerical review sample of register persons.
    """
    with fail_on_error(), tempfile.TemporaryDirectory(prefix="privstats-demo-") as tmp:
        if review < 10:
            raise ParameterError("--review must be at least 10 persons", parameter="review")
        folder = keep or Path(tmp)
        err.print(
            f"Generating a register of {register_size:,} persons and a source of "
            f"{source_size:,}, {overlap:,} of them in both, with realistic errors…"
        )
        demo = make_linkage_demo(
            folder,
            register_size=register_size,
            source_size=source_size,
            overlap=overlap,
            seed=seed,
            min_cell=min_cell,
        )
        ways, not_run = run_ways(demo, review_size=review, seed=seed)
        if as_json:
            typer.echo(json.dumps(_as_json(demo, ways, not_run)))
            return
        for way in ways:
            out.print(_table(demo, way))
        for name, why in not_run.items():
            out.print(f"Not run: {name} ({why}).")
        out.print(
            "Unadjusted: matched / register with a Wilson interval. Adjusted: matched × "
            "(1 − false-match rate) / (1 − missed-match rate) / register, the interval "
            "widened by the rates' uncertainty (Ding & Fienberg 1994; Di Consiglio & Tuoto "
            "2015)."
        )
        if keep:
            out.print(f"Generated files kept in {folder}")
