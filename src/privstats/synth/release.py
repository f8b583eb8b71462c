"""One synthetic release: fit, sample, and judge utility and risk together.

The command line (``privstats synth fit-sample``) and the hub's ``synthesize`` job both
go through :func:`synthesize`, so a release made either way is the same computation. The
report's keys are those of ``privstats synth evaluate --json``: ``utility`` and ``risk``,
plus the method, the record counts and the privacy budget spent (``privacy``). The seed
is returned beside the report, not in it: it replays the release from the confidential
data, so it stays with the data owner.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.errors import ParameterError
from privstats.synth.methods import make_synthesizer
from privstats.synth.risk import risk_report
from privstats.synth.schema import Schema
from privstats.synth.utility import utility_report

__all__ = ["Release", "judge", "split_holdout", "synthesize"]


@dataclass(frozen=True)
class Release:
    """The synthetic table, its report, and the seed that replays it (keep it private)."""

    synthetic: pd.DataFrame
    report: dict[str, Any]
    seed: int


def split_holdout(
    table: pd.DataFrame, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A random ``share`` of the records set aside (not fitted on) to measure DCR against."""
    if not 0.0 <= share < 1.0:
        raise ParameterError(
            f"holdout share must be at least 0 and below 1, got {share}", parameter="holdout"
        )
    held = round(len(table) * share)
    if held == 0:
        return table.reset_index(drop=True), None
    order = SeededStream(seed, "synth.holdout").permutation(len(table))
    train = table.iloc[order[held:]].reset_index(drop=True)
    if train.empty:
        raise ParameterError(
            f"a holdout share of {share} leaves no records to fit on", parameter="holdout"
        )
    return train, table.iloc[order[:held]].reset_index(drop=True)


def synthesize(
    real: pd.DataFrame,
    schema: Schema,
    *,
    method: str,
    seed: int,
    options: Mapping[str, Any] | None = None,
    rows: int | None = None,
    holdout: pd.DataFrame | None = None,
    evaluate: bool = True,
    target: str | None = None,
    regression: str | None = None,
    quasi_identifiers: Sequence[str] = (),
    sensitive: str | None = None,
) -> Release:
    """Fit ``method`` on ``real``, draw ``rows`` records, and report.

    ``rows`` defaults to the synthesizer's :attr:`~privstats.synth.base.Synthesizer.default_rows`:
    as many as ``real`` has, or for a differentially private method a noisy count (the
    real count is not covered by its ε). The report holds every figure, for the data
    owner; :func:`privstats.synth.report.released_report` is the part that may be
    released with the synthetic records.

    With ``evaluate``, the report holds the utility figures (train-on-synthetic scored on
    ``holdout`` when there is one, else on ``real``) and the risk figures (DCR needs
    ``holdout``). Arguments are checked before the long fit.
    """
    real = schema.conform(real, "the table to fit")
    if holdout is not None:
        holdout = schema.conform(holdout, "the holdout")
    if evaluate:
        for name in (target, sensitive, *quasi_identifiers):
            if name is not None:
                schema[name]
    synthesizer = make_synthesizer(method, **dict(options or {}))
    started = time.perf_counter()
    synthesizer.fit(real, schema)
    synthetic = synthesizer.sample(rows or synthesizer.default_rows, seed)
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "computation": "synthesize",
        "method": method,
        "records": len(synthetic),
        "fitted_records": len(real),
        "holdout_records": 0 if holdout is None else len(holdout),
        "columns": list(schema.names),
        "seconds": round(seconds, 3),
        "privacy": synthesizer.privacy,
    }
    if evaluate:
        report.update(
            judge(
                real,
                synthetic,
                schema,
                holdout=holdout,
                target=target,
                regression=regression,
                quasi_identifiers=quasi_identifiers,
                sensitive=sensitive,
                seed=seed,
            )
        )
    return Release(synthetic, report, seed)


def judge(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    regression: str | None = None,
    quasi_identifiers: Sequence[str] = (),
    sensitive: str | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float | None]]:
    """Utility and risk of ``synthetic`` side by side: ``{"utility": …, "risk": …}``.

    Train-on-synthetic is scored on ``holdout`` when there is one (else on ``real``); the
    distance-to-closest-record risk needs it.
    """
    return {
        "utility": utility_report(
            real, synthetic, schema, target=target, regression=regression, test=holdout, seed=seed
        ),
        "risk": risk_report(
            real,
            synthetic,
            schema,
            holdout=holdout,
            quasi_identifiers=quasi_identifiers,
            sensitive=sensitive,
            seed=seed,
        ),
    }
