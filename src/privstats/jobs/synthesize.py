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
(``owner-report.html`` and ``report.json`` beside the held result).
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
from privstats.errors import DatasetError, MissingExtraError, ParameterError
from privstats.files import write_text_atomically
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.transport.channel import Channel

__all__ = [
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

    columns: tuple[str, ...] = Field(min_length=1)
    method: Literal["cart", "copula", "mst"] = "cart"
    rows: int | None = Field(None, ge=1)
    categorical: tuple[str, ...] = ()
    quasi_identifiers: tuple[str, ...] = ()
    min_leaf: int = Field(5, ge=1)
    epsilon: float = Field(1.0, gt=0)
    delta: float = Field(1e-9, gt=0, lt=1)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    bounds_from_data: bool = False
    holdout_share: float = Field(0.2, ge=0, lt=0.9)
    target: str | None = None
    sensitive: str | None = None
    regression: str | None = None
    min_records: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _names_are_columns(self) -> SynthesizeSpec:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns names a column twice")
        named = {
            "categorical": self.categorical,
            "quasi_identifiers": self.quasi_identifiers,
            "bounds": tuple(self.bounds),
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
        "min_records": spec.min_records,
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
    if len(table) < spec.min_records:
        raise DatasetError(
            f"{path}: {len(table)} records, fewer than the job's min_records "
            f"({spec.min_records}); synthetic data from so few records is not released",
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
