"""Synthetic microdata as a hub job: the data owner's node fits, evaluates and, once the
owner has reviewed the report, releases the synthetic file and the report.

One role, ``owner``, played by the node that holds the data. It reads only the columns the
job names, sets aside a random holdout (for the distance-to-closest-record risk and for
train-on-synthetic-test-on-real), fits the chosen synthesizer on the rest, samples and
computes the utility and risk report (:func:`privstats.synth.release.synthesize`). The
seed is drawn at the node and never leaves it.

Threat model: nothing crosses to another party while the job runs; the whole computation
happens at the owner's node. What leaves is the release, and only after the owner has read
the report and released it (the kind *releases records*, so the node holds the result:
:mod:`privstats.node.release_review`). For ``cart`` and ``copula`` the release is the
synthetic records, the report's aggregate figures and its per-column shares of the real
data (decile bins or categories). For ``mst`` it is the synthetic records (as many as a
noisy count of the records, unless ``rows`` is set) and the released report of
:func:`privstats.synth.report.released_report`: the privacy accounting and the synthetic
records' shares within the public bounds, nothing more of the real data; the utility and
risk figures and the real record counts stay at the node for the owner
(``owner-report.html`` and ``report.json`` beside the held result). A job that fails
because the table is smaller than ``min_cell`` says so without the count (the reason goes
to the hub). ``bounds_from_data`` and ``public_categories`` are stated in the manifest's
disclosure, so the node's owner sees before the run what the release will carry outside ε.
The hub stores the released result like any other and passes it to the named recipients.
Columns the node declares as keys (direct identifiers) are never synthesized: its policy
rejects such a job.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from privstats.crypto.random import new_seed
from privstats.disclosure.budget import Budget
from privstats.errors import DatasetError, MissingExtraError, ParameterError
from privstats.files import write_text_atomically
from privstats.jobs.kind import CliField, JobKind, LocalOption, from_tuple
from privstats.jobs.render import Column, Rendering, TableView
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "OWNER",
    "RELEASE_FILES",
    "SynthesizeSpec",
    "columns_used",
    "disclosure",
    "require_synth",
    "run_role",
    "save_release",
]

OWNER = "owner"
RELEASE_FILES = ("synthetic.csv", "report.html")
"""The files a recipient receives (in the result's ``files``)."""


class SynthesizeSpec(Spec):
    """What a synthesize job makes: which columns, by which method, with which report."""

    _option: ClassVar[str] = "synthesize option"
    _default_field: ClassVar[str] = "columns"

    _renamed: ClassVar[dict[str, str]] = {"min_records": "min_cell"}

    columns: tuple[str, ...] = Field(min_length=1, description="The columns to synthesize.")
    method: Literal["cart", "copula", "mst"] = Field(
        "cart", description="cart, copula or mst (differentially private)."
    )
    rows: int | None = Field(
        None, ge=1, description="Synthetic rows (default: as many as fitted; mst: a noisy count)."
    )
    categorical: tuple[str, ...] = Field(
        (), description="Columns to treat as categories whatever their values."
    )
    quasi_identifiers: tuple[str, ...] = Field(
        (), description="Quasi-identifiers for the disclosure-risk report."
    )
    min_leaf: int = Field(5, ge=1, description="cart: fewest records in a leaf.")
    epsilon: float = Field(1.0, gt=0, description="mst: the privacy budget ε.")
    delta: float = Field(1e-9, gt=0, lt=1, description="mst: the δ of the guarantee.")
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="mst: public bounds of numeric columns, COL=LOW:HIGH."
    )
    bounds_from_data: bool = Field(
        False, description="mst: take bounds from the data (outside ε; not recommended)."
    )
    public_categories: tuple[str, ...] = Field(
        (),
        description="mst: categorical columns whose categories in the data are a public code "
        "list (released outside ε); the others' categories pass a noisy threshold.",
    )
    holdout_share: float = Field(
        0.2, ge=0, lt=0.9, description="Share of records set aside for the report."
    )
    target: str | None = Field(None, description="Report: train-synthetic-test-real target.")
    sensitive: str | None = Field(None, description="Report: sensitive column for TCAP.")
    regression: str | None = Field(None, description='Report: a model such as "y ~ x1 + x2".')
    min_cell: int = Field(
        100, ge=1, description="Fewest records from which synthetic data is released."
    )

    @model_validator(mode="after")
    def _names_are_columns(self) -> SynthesizeSpec:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns names a column twice")
        named = {
            "categorical": self.categorical,
            "quasi_identifiers": self.quasi_identifiers,
            "bounds": tuple(self.bounds),
            "public_categories": self.public_categories,
            "target": (self.target,) if self.target else (),
            "sensitive": (self.sensitive,) if self.sensitive else (),
            "regression": _formula_names(self.regression) if self.regression else (),
        }
        for option, names in named.items():
            unknown = [name for name in names if name not in self.columns]
            if unknown:
                raise ValueError(
                    f"{option} names {', '.join(map(repr, unknown))}, not among the columns "
                    f"to synthesize ({', '.join(self.columns)})"
                )
        for name, (low, high) in self.bounds.items():
            if not low < high:
                raise ValueError(f"bounds of {name!r}: the low end must be below the high end")
        return self

    def options(self) -> dict[str, Any]:
        """The synthesizer's options for this job's method."""
        if self.method == "cart":
            return {"min_leaf": self.min_leaf, "quasi_identifiers": self.quasi_identifiers}
        if self.method == "mst":
            return {
                "epsilon": self.epsilon,
                "delta": self.delta,
                "bounds": dict(self.bounds),
                "bounds_from_data": self.bounds_from_data,
                "public_categories": self.public_categories,
            }
        return {}


def _formula_names(formula: str) -> tuple[str, ...]:
    if formula.count("~") != 1:
        raise ValueError(f"regression {formula!r}: write it as 'y ~ x1 + x2'")
    return tuple(name.strip() for name in re.split(r"[~+]", formula) if name.strip())


def columns_used(spec: SynthesizeSpec, _role: str) -> tuple[str, ...]:
    return spec.columns


def disclosure(spec: SynthesizeSpec) -> dict[str, Any]:
    """What the manifest states about the release, for the node's policy and the owner."""
    stated: dict[str, Any] = {
        "release": "synthetic records and their utility and risk report",
        "method": spec.method,
        "min_cell": spec.min_cell,
        "owner_review": True,
    }
    if spec.method == "cart":
        stated["min_leaf"] = spec.min_leaf
    if spec.method == "mst":
        stated.update(
            epsilon=spec.epsilon,
            delta=spec.delta,
            release="synthetic records (a noisy number of them unless rows is set) and the "
            "report of what ε covers; the utility and risk figures stay with the owner",
        )
        if spec.public_categories:
            stated["public_categories"] = list(spec.public_categories)
        if spec.bounds_from_data:
            stated["bounds_from_data"] = True
            stated["outside_epsilon"] = (
                "the real minimum and maximum of every numeric or date column without "
                "public bounds are released (bounds taken from the data, not covered by ε)"
            )
    return stated


def run_role(
    role: str,
    _channel: Channel,
    _parties: Mapping[str, str],
    path: str,
    spec: SynthesizeSpec,
    progress: Progress | None,
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Fit, sample and report at the owner's node; the result is held for its review."""
    require_synth("a synthesize job", dp=spec.method == "mst")
    from privstats.synth.release import split_holdout, synthesize
    from privstats.synth.report import released_report, render_html
    from privstats.synth.schema import Schema, read_microdata

    if role != OWNER:
        raise ParameterError(f"a synthesize job has only the role {OWNER!r}, not {role!r}")
    if progress:
        progress("load", 0, 1)
    table, schema = read_microdata(path, categorical=spec.categorical)
    missing = [name for name in spec.columns if name not in schema]
    if missing:
        raise DatasetError(f"{path}: no column {missing[0]!r}", path=path, column=missing[0])
    schema = Schema(tuple(schema[name] for name in spec.columns))
    table = table[list(spec.columns)]
    if len(table) < spec.min_cell:
        # the count itself stays at the node: this message is the job's reason at the hub
        raise DatasetError(
            f"{path}: fewer records than the job's min_cell ({spec.min_cell}); synthetic "
            "data from so few records is not released",
            path=path,
        )
    seed = new_seed()
    train, holdout = split_holdout(table, spec.holdout_share, seed)
    if progress:
        progress("fit and sample", 0, 1)
    release = synthesize(
        train,
        schema,
        method=spec.method,
        seed=seed,
        options=spec.options(),
        rows=spec.rows,
        holdout=holdout,
        target=spec.target,
        regression=spec.regression,
        quasi_identifiers=spec.quasi_identifiers,
        sensitive=spec.sensitive,
    )
    if progress:
        progress("report", 0, 1)
    real = schema.conform(train)
    files = {
        "synthetic.csv": release.synthetic.to_csv(index=False, date_format="%Y-%m-%d"),
        "report.html": render_html(release.report, real, release.synthetic, schema),
    }
    result = {**released_report(release.report), "files": files}
    owner: dict[str, str] = {}
    if release.report.get("privacy"):
        owner["owner-report.html"] = render_html(
            release.report, real, release.synthetic, schema, audience="owner"
        )
    kept = {
        **files,
        **owner,
        "report.json": json.dumps(
            {**release.report, "seed": release.seed, "spec": spec.model_dump(mode="json")},
            indent=1,
        ),
    }
    privacy = release.report.get("privacy") or {}
    warnings = [str(caveat) for caveat in privacy.get("caveats", ())]
    return result, warnings, kept


def require_synth(purpose: str, *, dp: bool = False) -> None:
    """Raise :class:`~privstats.errors.MissingExtraError` unless the ``synth`` extra is here.

    pandas and scikit-learn for every method, OpenDP too for ``dp`` (the mst method).
    """
    modules = ("pandas", "sklearn", *(("opendp",) if dp else ()))
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError("synth", purpose) from exc


def save_release(result: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write a released synthesize result's files (and its report as JSON) to ``folder``."""
    target = Path(folder)
    files = result.get("files")
    if not isinstance(files, dict) or set(files) != set(RELEASE_FILES):
        raise ParameterError("this result is not a synthetic-data release", parameter="result")
    written = []
    for name in RELEASE_FILES:
        write_text_atomically(target / name, str(files[name]))
        written.append(target / name)
    report = {key: value for key, value in result.items() if key != "files"}
    write_text_atomically(target / "report.json", json.dumps(report, indent=1))
    written.append(target / "report.json")
    return written


# --------------------------------------------------------------------------- the kind


def parse_bounds(items: list[str]) -> dict[str, tuple[float, float]]:
    """``COL=LOW:HIGH`` texts as a mapping of column to (low, high)."""
    bounds = {}
    for item in items:
        name, _, span = item.partition("=")
        low, _, high = span.partition(":")
        try:
            bounds[name.strip()] = (float(low), float(high))
        except ValueError:
            raise ParameterError(
                f"--bounds {item!r}: write COLUMN=LOW:HIGH, e.g. age=0:120", parameter="bounds"
            ) from None
    return bounds


def report_view(report: Mapping[str, Any]) -> TableView:
    """A synthetic release's utility and risk figures, one row each."""
    rows = tuple(
        (f"{section}.{key}", "—" if value is None else f"{value:.4g}")
        for section in ("utility", "risk")
        for key, value in (report.get(section) or {}).items()
    )
    columns = (Column("measure"), Column("value", numeric=True))
    return TableView("Utility and disclosure risk", columns, rows)


def render_result(result: Mapping[str, Any]) -> Rendering:
    report = {key: value for key, value in result.items() if key != "files"}
    return [
        report_view(report),
        f"{report.get('records', 0):,} synthetic records ({report.get('method')})",
    ]


def _save_local(
    result: dict[str, Any], _files: Mapping[str, Path], _spec: Any, local: Mapping[str, Any]
) -> None:
    folder = local.get("out") or Path("synthetic")
    written = save_release(result, folder)
    result.pop("files", None)
    result["written"] = [str(path) for path in written]


KIND = JobKind(
    name="synthesize",
    title="Synthetic microdata from the owner's records, with a utility and risk report.",
    description=(
        "The owner's node fits the synthesizer and samples; the release (synthetic records "
        "and the report) waits at the node for the owner's review before it leaves."
    ),
    roles=(OWNER,),
    role_help={OWNER: "The owner's confidential microdata"},
    result_role=OWNER,
    spec_type=SynthesizeSpec,
    columns=columns_used,
    disclosure=disclosure,
    run_role=from_tuple(run_role),
    releases_records=True,
    budget=lambda spec: (
        Budget(epsilon=spec.epsilon, delta=spec.delta) if spec.method == "mst" else None
    ),
    render=render_result,
    cli={
        "quasi_identifiers": CliField(option="--quasi"),
        "bounds": CliField(parse=parse_bounds),
    },
    local_options=(
        LocalOption("out", Path, None, "Folder for the release (default: ./synthetic)."),
    ),
    finish_local=_save_local,
)
