"""Differentially private release of counts, sums, means, quantiles and tables: the contract.

Pure and independent of any protocol: every kind that releases statistics under DP
(aggregate, coverage, join-aggregate) describes *what* it measures and gets back *how
much* noise each measurement needs, what it costs, and how accurate it will be — before
any data is read, so the analyst and the node see the accuracy and the budget first.

Terms (:class:`DpTerms`, a pydantic model: nest it as a spec field ``dp: DpTerms | None``,
CLI ``--dp-epsilon`` (alias ``--epsilon``), ``--dp-delta``, ``--dp-rho``, ``--dp-unit``,
``--dp-max-records``, ``--dp-bounds COL=LOW:HIGH``; or build it flat)
    ``epsilon`` and ``delta`` (the (ε, δ) promised) **or** ``rho`` (zCDP); the privacy
    ``unit`` — ``"record"`` (one record changes) or ``"person:COL"`` (everything of one
    value of COL changes, at most ``max_records_per_unit`` records of it, the excess
    dropped before counting); public ``bounds`` ``{col: (low, high)}`` to which every
    value is clamped (never taken from the data: that would spend budget); ``bins`` of the
    quantile histograms; ``collusion`` (see below).
Measurements (:class:`Query`, made by :func:`count_query`, :func:`sum_query`,
:func:`histogram_query`)
    each a vector of integers over disjoint cells of one table — a contingency table of
    counts, the sums of one column per cell, the histogram of one column per cell. One unit
    changes a vector by at most its L2 sensitivity: counts and histograms ``c`` (``c``
    the records of one unit, all possibly in one cell: parallel composition across the
    cells of one table), sums ``c·M`` where ``M`` is the largest |bound| in integer steps
    of ``quantum`` (a power of two about 2⁻²⁰ of the largest |bound|: fixed-point integers,
    so the noise is exact and its rounding is far below the noise).
Plan (:func:`plan_release` → :class:`DpPlan`)
    ρ (from ``rho``, or the largest ρ whose OpenDP zCDP→(ε, δ) conversion is at most
    ``epsilon`` at ``delta``) is split over the measurements by their ``share`` (equal by
    default): sequential composition across statistics. Each gets the discrete Gaussian
    scale σ = Δ/√(2ρᵢ) (nudged up until OpenDP's own privacy map gives at most ρᵢ).
    The spent ρ is OpenDP's map of the composition (``make_composition`` of each
    measurement chained after its stability map), and the reported ε OpenDP's
    ``make_zCDP_to_approxDP`` of that composition at ``delta`` — exact accounting, never
    above the ε asked for.
Several parties (``parties``, ``collusion``)
    noise is added by each party inside the secure computation (``dp_noise``): with the
    default collusion bound ``parties − 1`` each party adds the full σ and one honest
    party's noise alone gives the privacy (OpenDP's map; rigorous); with a smaller bound
    the honest parties' shares are sized by Kairouz, Liu & Steinke's (2021) bound for
    sums of discrete Gaussians, and the ρ reported is that bound's (not OpenDP's).
Accuracy, per measurement (:class:`NoisePlan`)
    ``noise_sd`` (standard deviation of the opened total's noise, in the statistic's own
    units; an upper bound since Var DG(σ) ≤ σ²) and ``error_95`` (|noise| exceeds it with
    probability ≤ 5 %: OpenDP's ``discrete_gaussian_scale_to_accuracy`` for one share, a
    sub-Gaussian tail bound for several). Means are post-processing (noisy sum / noisy
    count, :func:`noisy_mean`), quantiles too (``dp_quantiles``).
Release
    :meth:`DpPlan.privacy_block` is the ``"privacy"`` object of a JSON result; per cell
    :meth:`NoisePlan.accuracy` gives ``noise_sd`` and ``error_95``; :meth:`DpPlan.budget`
    the :class:`~privstats.disclosure.budget.Budget` a node's ledger charges.

How a kind uses it (``protocols/aggregate_dp.py`` is the worked example)
    1. spec field ``dp: DpTerms | None = None``; ``cli={..., **dp_cli_fields()}`` and
       ``budget=dp_budget`` from ``privstats.jobs.dp_options``; refuse ``by`` without
       public levels. 2. before any message: ``plan = plan_release(terms, queries,
       parties=P, contributions=...)`` (the same at every party: a pure function of the
       agreed terms). 3. each party: its exact integer vector per measurement (values
       clamped with :func:`clamp_codes` at ``plan[name].quantum``, at most
       ``max_records_per_unit`` records per person), plus
       ``dp_noise.party_noise(len(vector), plan[name].party_sigma)``, then the secure sum;
       open only the noisy totals. 4. the release: figures as post-processing (sums are
       ``total · quantum``), per cell ``plan[name].accuracy()``, and
       ``"privacy": plan.privacy_block()``.

Not covered: a unit's records spread over several parties count once per party (callers
multiply ``contributions`` by the parties, :func:`plan_release`); the set of released
groups must be public (agreed levels), not taken from the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privstats.disclosure.accounting import rho_for_epsilon, zcdp_epsilon
from privstats.disclosure.budget import Budget
from privstats.disclosure.dp import require_opendp_core
from privstats.disclosure.dp_noise import (
    ALPHA,
    default_collusion,
    distributed_rho,
    noise_share,
    total_error_95,
)
from privstats.errors import ParameterError

__all__ = [
    "DpPlan",
    "DpTerms",
    "NoisePlan",
    "Query",
    "clamp_codes",
    "count_query",
    "histogram_query",
    "noisy_mean",
    "opendp_measurement",
    "parse_bounds",
    "plan_release",
    "quantum_for",
    "sum_query",
]

QUANTUM_STEPS_BITS = 20
"""A sum's integer steps: the largest |bound| is between 2²⁰ and 2²¹ steps."""
_NUDGES = 64
EXACT_ACCURACY_SIGMA = 1000.0
"""Up to this scale the accuracy is OpenDP's exact discrete one (its cost grows with σ)."""


class DpTerms(BaseModel):
    """What the parties agree on for a DP release (the privacy unit, budget and bounds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon: float | None = Field(
        None, gt=0, description="DP: the privacy budget ε of the whole release."
    )
    delta: float = Field(1e-9, gt=0, lt=1, description="DP: δ of the (ε, δ) guarantee.")
    rho: float | None = Field(
        None, gt=0, description="DP: a zCDP budget ρ instead of ε (ε is then reported)."
    )
    unit: str = Field(
        "record",
        description="DP: the privacy unit, 'record' or 'person:COL' (all records with one "
        "value of COL).",
    )
    max_records_per_unit: int = Field(
        1, ge=1, description="DP: records kept per person (person unit); the rest are dropped."
    )
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="DP: the public range of a column, COL=LOW:HIGH (repeatable); values "
        "are clamped to it.",
    )
    bins: int = Field(
        64, ge=2, le=4096, description="DP: bins of the histogram a quantile is read from."
    )
    collusion: int | None = Field(
        None,
        ge=0,
        description="DP: how many parties may collude (default all but one: each adds the "
        "full noise).",
    )

    @field_validator("unit")
    @classmethod
    def _unit(cls, unit: str) -> str:
        kind, sep, column = unit.partition(":")
        if unit == "record" or (kind == "person" and sep and column.strip()):
            return "record" if unit == "record" else f"person:{column.strip()}"
        raise ValueError(f"the privacy unit must be 'record' or 'person:COL', got {unit!r}")

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, bounds: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for column, (low, high) in bounds.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"the bounds of {column!r} must be finite with LOW < HIGH, got {low}:{high}"
                )
        return bounds

    @model_validator(mode="after")
    def _budget(self) -> DpTerms:
        if (self.epsilon is None) == (self.rho is None):
            raise ValueError("give the DP budget as epsilon (with delta) or as rho, not both")
        if self.unit == "record" and self.max_records_per_unit != 1:
            raise ValueError(
                "max_records_per_unit applies to a person unit ('person:COL'); with the "
                "record unit each unit is one record"
            )
        return self

    @property
    def person_column(self) -> str | None:
        """The column that identifies a person (person unit), else None."""
        return self.unit.partition(":")[2] or None

    def bound(self, column: str) -> tuple[float, float]:
        """The public bounds of ``column``; a ParameterError naming it when not declared."""
        if column not in self.bounds:
            raise ParameterError(
                f"DP needs public bounds of column {column!r}: add --dp-bounds "
                f"{column}=LOW:HIGH (never taken from the data)",
                parameter="dp.bounds",
            )
        return self.bounds[column]

    def total_rho(self) -> float:
        """The zCDP budget: ``rho``, or the largest ρ whose (ε, δ) is at most ε."""
        if self.rho is not None:
            return self.rho
        assert self.epsilon is not None  # the validator makes one of them present
        return rho_for_epsilon(self.epsilon, self.delta)

    def budget(self) -> Budget:
        """What a job with these terms may spend, for a node's ledger (known before any
        plan: ε, or the (ε, δ) of ``rho``); the plan's own ε is never larger."""
        if self.epsilon is not None:
            return Budget(epsilon=self.epsilon, delta=self.delta)
        return Budget(epsilon=zcdp_epsilon(self.total_rho(), self.delta), delta=self.delta)


def parse_bounds(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``COL=LOW:HIGH`` texts (e.g. ``income=0:200000``) as public bounds per column."""
    bounds: dict[str, tuple[float, float]] = {}
    for item in items:
        for part in item.split(","):
            name, sep, limits = (p.strip() for p in part.partition("="))
            low_text, colon, high_text = limits.partition(":")
            try:
                low, high = float(low_text), float(high_text)
            except ValueError:
                low = high = math.nan
            if not sep or not name or not colon or not low < high:
                raise ParameterError(
                    f"--dp-bounds {part!r}: write COLUMN=LOW:HIGH with LOW < HIGH, e.g. "
                    "income=0:200000",
                    parameter="dp.bounds",
                )
            bounds[name] = (low, high)
    return bounds


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Query:
    """One measurement: an integer vector over ``cells`` disjoint cells.

    ``kind`` count (records per cell), sum (of ``column``'s clamped values per cell) or
    histogram (records per cell and bin of ``column``: ``cells`` includes the bins).
    ``share`` is its part of the budget relative to the others.
    """

    name: str
    kind: Literal["count", "sum", "histogram"]
    cells: int
    column: str | None = None
    share: float = 1.0


def count_query(cells: int, name: str = "count", share: float = 1.0) -> Query:
    """Record counts in ``cells`` disjoint cells (a contingency table)."""
    return Query(name, "count", cells, None, share)


def sum_query(column: str, cells: int, share: float = 1.0) -> Query:
    """Sums of ``column`` (clamped to its bounds) in ``cells`` disjoint cells."""
    return Query(f"sum:{column}", "sum", cells, column, share)


def histogram_query(column: str, cells: int, bins: int, share: float = 1.0) -> Query:
    """Counts per cell and bin of ``column`` over its bounds (``cells × bins`` values)."""
    return Query(f"histogram:{column}", "histogram", cells * bins, column, share)


def quantum_for(bounds: tuple[float, float]) -> float:
    """The value of one integer step of a sum: a power of two, about 2⁻²⁰ of max |bound|."""
    largest = max(abs(bounds[0]), abs(bounds[1]))
    return 2.0 ** (math.floor(math.log2(largest)) - QUANTUM_STEPS_BITS)


def clamp_codes(
    values: npt.ArrayLike, bounds: tuple[float, float], quantum: float
) -> npt.NDArray[np.int64]:
    """Each value clamped to ``bounds`` and rounded to integer steps of ``quantum``.

    Missing values (NaN) must be removed first. ``|code| ≤ ⌈max |bound| / quantum⌉``.
    """
    clamped = np.clip(np.asarray(values, dtype=np.float64), bounds[0], bounds[1])
    return np.rint(clamped / quantum).astype(np.int64)


@dataclass(frozen=True)
class NoisePlan:
    """How one measurement is noised, what it costs and how accurate it is.

    ``sigma`` is the discrete Gaussian scale that meets ``rho`` alone (integer steps);
    ``party_sigma`` what each of ``parties`` parties adds; ``quantum`` the value of one
    integer step (1 for counts). ``noise_sd`` and ``error_95`` are in the statistic's own
    units and describe the opened total (all parties' shares).
    """

    query: Query
    quantum: float
    sensitivity: int
    sigma: float
    party_sigma: float
    parties: int
    rho: float
    noise_sd: float
    error_95: float

    def accuracy(self) -> dict[str, float]:
        """The per-cell fields of a JSON result: ``noise_sd`` and ``error_95``."""
        return {"noise_sd": self.noise_sd, "error_95": self.error_95}

    def describe(self) -> dict[str, Any]:
        """This measurement in the ``"privacy"`` block."""
        return {
            "name": self.query.name,
            "cells": self.query.cells,
            "sensitivity": self.sensitivity * self.quantum,
            "sigma": self.sigma * self.quantum,
            "party_sigma": self.party_sigma * self.quantum,
            "rho": self.rho,
            **self.accuracy(),
        }


@dataclass(frozen=True)
class DpPlan:
    """Every measurement's noise, the spent ρ and the (ε, δ) it guarantees."""

    terms: DpTerms
    parties: int
    collusion: int
    contributions: int
    measurements: tuple[NoisePlan, ...]
    rho: float
    epsilon: float
    delta: float
    accounting: str

    def __getitem__(self, name: str) -> NoisePlan:
        for measurement in self.measurements:
            if measurement.query.name == name:
                return measurement
        raise KeyError(name)

    @property
    def mechanism(self) -> str:
        where = "added by each party inside the secure sum" if self.parties > 1 else "added"
        return f"discrete Gaussian (zCDP), {where}"

    def budget(self) -> Budget:
        """The (ε, δ) this release spends, for a node's ledger."""
        return Budget(epsilon=self.epsilon, delta=self.delta)

    def privacy_block(self) -> dict[str, Any]:
        """The ``"privacy"`` object of a JSON result (also shown before the release)."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "mechanism": self.mechanism,
            "unit": self.terms.unit,
            "max_records_per_unit": self.contributions,
            "bounds": {c: list(b) for c, b in sorted(self.terms.bounds.items())},
            "parties": self.parties,
            "collusion": self.collusion,
            "accounting": self.accounting,
            "confidence": 1 - ALPHA,
            "measurements": [m.describe() for m in self.measurements],
        }


def _sensitivity(query: Query, terms: DpTerms, contributions: int) -> tuple[int, float]:
    """(L2 sensitivity in integer steps, value of one step) of a measurement."""
    if query.kind != "sum":
        return contributions, 1.0
    assert query.column is not None
    bounds = terms.bound(query.column)
    quantum = quantum_for(bounds)
    steps = math.ceil(max(abs(bounds[0]), abs(bounds[1])) / quantum)
    return contributions * steps, quantum


def _opendp_sigma(sensitivity: int, rho: float) -> float:
    """The smallest float σ ≥ Δ/√(2ρ) whose OpenDP map at Δ is at most ``rho``."""
    sigma = sensitivity / math.sqrt(2 * rho)
    for _ in range(_NUDGES):
        if opendp_measurement(sensitivity, sigma).map(1) <= rho:
            return sigma
        sigma = math.nextafter(sigma, math.inf)
    raise ParameterError(f"no noise scale meets ρ = {rho}", parameter="rho")  # pragma: no cover


def opendp_measurement(sensitivity: int, sigma: float) -> Any:
    """OpenDP's measurement of one query: its stability (one unit moves the integer vector by
    at most ``sensitivity`` in L2) chained with the discrete Gaussian of scale ``sigma``.

    Its input metric is the symmetric distance between datasets of units, so measurements
    of one release compose with ``make_composition`` at ``d_in = 1``. The stability map is
    ours (a user transformation, OpenDP's "honest-but-curious" feature): the sensitivity
    argument in this module's docstring.
    """
    dp = require_opendp_core("differential privacy accounting (OpenDP)")
    dp.enable_features("honest-but-curious")
    vectors = dp.vector_domain(dp.atom_domain(T="i64"))
    stability = dp.t.make_user_transformation(
        vectors,
        dp.symmetric_distance(),
        vectors,
        dp.l2_distance(T="i64"),
        lambda x: x,
        lambda d_in: sensitivity * d_in,
    )
    return stability >> dp.m.make_gaussian(vectors, dp.l2_distance(T="i64"), sigma)


def plan_release(
    terms: DpTerms,
    queries: Sequence[Query],
    *,
    parties: int = 1,
    contributions: int | None = None,
) -> DpPlan:
    """The noise of every measurement in ``queries`` under ``terms``, and its accounting.

    ``parties`` add noise shares (``terms.collusion`` bounds the colluders, default
    ``parties − 1``); ``contributions`` is the most records of one unit across all data
    (default ``terms.max_records_per_unit``). Measurements with zero cells are left out.
    """
    queries = [q for q in queries if q.cells > 0]
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise ParameterError(f"measurement names repeat: {names}", parameter="queries")
    if not queries:
        raise ParameterError("nothing to measure under DP", parameter="queries")
    if any(not (math.isfinite(q.share) and q.share > 0) for q in queries):
        raise ParameterError("each measurement's share must be positive", parameter="queries")
    if terms.collusion is not None and terms.collusion > parties - 1:
        raise ParameterError(
            f"the collusion bound {terms.collusion} must be below the {parties} parties: "
            "with every party colluding no noise protects anyone",
            parameter="dp.collusion",
        )
    collusion = default_collusion(parties) if terms.collusion is None else terms.collusion
    honest = parties - collusion
    c = terms.max_records_per_unit if contributions is None else contributions
    rho_total = terms.total_rho()
    weights = sum(q.share for q in queries)
    plans, opendp = [], []
    for query in queries:
        sensitivity, quantum = _sensitivity(query, terms, c)
        rho_i = rho_total * query.share / weights
        sigma = _opendp_sigma(sensitivity, rho_i)
        measurement = opendp_measurement(sensitivity, sigma)
        opendp.append(measurement)
        party_sigma = noise_share(
            sigma, parties, collusion, sensitivity=sensitivity, cells=query.cells
        )
        spent = (
            float(measurement.map(1))
            if honest == 1
            else distributed_rho(party_sigma, honest, sensitivity, query.cells)
        )
        single = _accuracy(party_sigma) if parties == 1 else None
        error = total_error_95(party_sigma, parties, single)
        plans.append(
            NoisePlan(
                query,
                quantum,
                sensitivity,
                sigma,
                party_sigma,
                parties,
                spent,
                party_sigma * math.sqrt(parties) * quantum,
                error * quantum,
            )
        )
    if honest == 1:
        rho, epsilon = _opendp_composition(opendp, terms.delta)
        accounting = "OpenDP: composition of the measurements, zCDP to (ε, δ)"
    else:
        rho = sum(p.rho for p in plans)
        epsilon = zcdp_epsilon(rho, terms.delta)
        accounting = (
            f"Kairouz, Liu & Steinke 2021 bound for the {honest} honest parties' noise; "
            "OpenDP zCDP to (ε, δ)"
        )
    return DpPlan(terms, parties, collusion, c, tuple(plans), rho, epsilon, terms.delta, accounting)


def _opendp_composition(measurements: Sequence[Any], delta: float) -> tuple[float, float]:
    """(ρ, ε at ``delta``) of the measurements composed by OpenDP."""
    dp = require_opendp_core("differential privacy accounting (OpenDP)")
    composed = dp.c.make_composition(list(measurements))
    rho = float(composed.map(1))
    epsilon = float(dp.c.make_zCDP_to_approxDP(composed).map(1).epsilon(delta))
    return rho, epsilon


def _accuracy(sigma: float) -> float:
    """OpenDP's 95 % accuracy of one discrete Gaussian of scale ``sigma``.

    OpenDP's discrete computation sums the pmf (its time grows with σ); above
    ``EXACT_ACCURACY_SIGMA`` it is OpenDP's continuous Gaussian accuracy plus one integer
    step: the discrete Gaussian's tail ``P(X ≥ m)`` is at most the continuous one's at
    ``m − 1`` (Canonne, Kamath & Steinke 2020).
    """
    require_opendp_core("differential privacy accuracy (OpenDP)")
    from opendp.accuracy import (
        discrete_gaussian_scale_to_accuracy,
        gaussian_scale_to_accuracy,
    )

    if sigma <= EXACT_ACCURACY_SIGMA:
        return float(discrete_gaussian_scale_to_accuracy(sigma, ALPHA, T=float))
    return math.ceil(float(gaussian_scale_to_accuracy(sigma, ALPHA, T=float))) + 1.0


def noisy_mean(
    noisy_sum: float, noisy_count: float, sum_plan: NoisePlan, count_plan: NoisePlan
) -> dict[str, float | None]:
    """A mean as post-processing (noisy sum / noisy count), with its approximate accuracy.

    None when the noisy count is below 1. ``error_95`` is first-order (delta method,
    the two 95 % bounds added): ``(e_sum + |mean|·e_count) / count``; ``noise_sd`` likewise.
    """
    if noisy_count < 1:
        return {"value": None, "noise_sd": None, "error_95": None}
    mean = noisy_sum / noisy_count
    return {
        "value": mean,
        "noise_sd": math.hypot(sum_plan.noise_sd, abs(mean) * count_plan.noise_sd) / noisy_count,
        "error_95": (sum_plan.error_95 + abs(mean) * count_plan.error_95) / noisy_count,
    }
