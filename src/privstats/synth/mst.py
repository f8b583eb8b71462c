"""MST: differentially private synthetic data from noisy 1-way and tree-selected 2-way marginals.

After McKenna, Sheldon & Miklau (2021), "Winning the NIST Contest: A scalable and general
approach to differentially private synthetic data" (J. Privacy and Confidentiality 11(3)).

Threat model
------------
What is protected
    Every record of the table given to :meth:`MST.fit`. Whatever an attacker knows (even
    every other record), the fitted model, the privacy report and every table sampled from
    it change in distribution by at most (ε, δ) when one record is **added or removed**
    (unbounded differential privacy). A respondent with several records is protected only
    through group privacy (roughly k·ε for k records): give one record per respondent.
What is assumed public
    The column names and kinds (when the schema is inferred, a column is an integer one
    if every value is a whole number: a kind can depend on the data). The **bounds** of
    numeric and date columns must be given by the user (``bounds``) from public
    knowledge; the schema's observed low/high are not public. With
    ``bounds_from_data=True`` the observed range is used instead and the report says,
    loudly, that these bounds are the real minimum and maximum, not covered by ε. The
    **category lists** of the columns named in ``public_categories`` (or all, with
    ``True``) are taken from the schema as public code lists.
What is not assumed public
    The schema's other category lists, usually inferred from the confidential table: a
    category seen once would be disclosed by its presence. They are released by OpenDP's
    Gaussian threshold (step 2): a category is kept only when its noisy count reaches a
    threshold, so one held by one person surfaces with probability at most its δ; the
    records of the dropped ones are counted as missing. **Whether a column has missing
    values** is not taken from the schema either: every column has a missing cell, kept
    only when its noisy count reaches 4σ₁ (``_MISSING_SIGMAS``).
What is not protected
    Nothing else leaves ``fit`` than the noisy measurements listed in :attr:`MST.privacy`
    and what is computed from them. The number of records is not released: the default
    sample size :attr:`MST.default_rows` is the noisy total N̂ implied by the noisy 1-way
    marginals (step 3), rounded — post-processing, so it costs no budget beyond the
    marginals' (its noise's standard deviation is in :attr:`MST.privacy`). Asking for the
    real number of records as ``n`` would release it: that is the caller's choice. Sampling
    is post-processing of the fitted model with a
    :class:`~privstats.crypto.random.SeededStream`: any number of samples, with any seeds,
    keep the same (ε, δ). The seed does not need to be secret for privacy; it replays a
    release. What a report may show of a release without leaving ε is in
    :mod:`privstats.synth.report`.

Noise
-----
All privacy noise comes from OpenDP (``opendp`` ≥ 0.16, Rust core, vetted proofs), which
samples **exactly** from the operating system's randomness and cannot be seeded:

- counts are measured with OpenDP's discrete Gaussian mechanism (``make_gaussian`` on
  integer vectors, L2 sensitivity 1: one record is one cell of each marginal), which is
  ρ = 1/(2σ²) zero-concentrated DP (Canonne, Kamath & Steinke 2020);
- the counts of the categories seen in the data (no public code list) with OpenDP's
  Gaussian threshold (``make_gaussian_threshold``, Rogers 2023): the same noise, and only
  the keys at or above the threshold are released; it is (ρ, δ)-approximate zCDP with
  OpenDP's δ for a key only one record holds;
- the tree is selected with OpenDP's report-noisy-max with Gumbel noise (``make_noisy_max``
  with ``zero_concentrated_divergence``), which is the exponential mechanism; with
  sensitivity 1 (non-monotonic) and ``ε_sel = 2/scale`` it is ε_sel-DP and
  ρ = ε_sel²/8-zCDP (bounded-range exponential mechanism, Cesar & Rogers 2021).

OpenDP computes the ρ of every measurement itself (its privacy map); the report lists them.
The samplers are :mod:`privstats.disclosure.dp`'s, the conversions below
:mod:`privstats.disclosure.accounting`'s, and the report a
:class:`~privstats.disclosure.report.PrivacyReport` (:attr:`MST.privacy_report`).

Accounting
----------
zCDP composes by adding ρ. The requested (ε, δ) is turned into the largest total ρ whose
(ε, δ) by OpenDP's zCDP-to-approximate-DP conversion (``make_zCDP_to_approxDP``, the
optimal conversion of Canonne, Kamath & Steinke 2020) is at most the request; at ε = 1,
δ = 1e-9 that is ρ = 0.0150, where the simpler bound ε = ρ + 2·√(ρ·ln(1/δ)) (Bun & Steinke
2016) would allow only 0.0118. As in MST the budget is split in three equal parts
(with d ≥ 3 columns): all d 1-way marginals (ρ/3d each), the d − 1 selection rounds of the
spanning tree (ρ/3(d − 1) each) and the d − 1 chosen 2-way marginals (ρ/3(d − 1) each).
With two columns there is nothing to select (the one pair is the tree), and the budget is
split in halves; with one column it all goes to its 1-way marginal. When some category
lists are not public, half of δ is shared among their thresholds (each threshold the
smallest whose δ by OpenDP's map is at most its share, :func:`~privstats.disclosure.dp.
threshold_for`) and the conversion gets the other half: approximate zCDP adds the ρ's and
the δ's, and (ρ, δ₀)-approximate zCDP is (ε(ρ, δ′), δ₀ + δ′)-DP. The reported ε is
recomputed from the sum of the listed ρ's with the same conversion at δ′, the reported δ
is δ′ plus the listed thresholds' δ's (``delta_categories``), at most the request.

The algorithm
-------------
1. **Public discretisation.** A categorical column has one cell per category; a numeric
   column one cell for each of its public bounds, exactly, and ``bins`` equal-width bins
   strictly between them (an integer or date column with at most ``bins + 2`` whole
   numbers in its bounds gets one cell per value); every column one more cell for
   missing values. Values outside the bounds are clamped onto them, which is why
   the bounds are cells of their own: clamping, top- and bottom-coding and zero-inflated
   variables (a capital gain that is 0 for 92 % of people, with bounds 0 and 99,999) put
   point masses exactly there, which a bin spanning ``[0, 6,250)`` would smear out when
   values are drawn within it (step 6). The rule depends on the public bounds only.
2. **1-way marginals.** Every column's counts, with discrete Gaussian noise; for a
   categorical column without a public code list, the Gaussian threshold on the counts of
   its categories seen in the data and of its missing cell, and the column keeps only the
   categories released (the others' records count as missing from here on). A missing
   cell whose noisy count is below 4σ₁ is dropped (its few records count in the first
   cell): samples have missing values only where the noisy counts show them.
3. **Selection.** The number of records N̂ is estimated from the noisy 1-way totals (the
   inverse-variance weighted mean of the columns' totals: a column of k cells has a total
   with noise variance k·σ₁²; columns that went through a threshold only when no other
   is left, as their totals miss the dropped categories' records) and each noisy 1-way
   marginal is projected onto the probability simplex. For every pair of columns the
   score is the L1 distance between its true 2-way counts and the counts N̂·pᵢ·pⱼ that
   independence of the noisy marginals implies: the pairs the 1-way marginals explain
   worst. Kruskal's algorithm then grows a maximum spanning tree, each
   of its d − 1 edges chosen by the exponential mechanism among the pairs that join two
   components (as in MST).
4. **2-way marginals.** The counts of the d − 1 tree edges, with discrete Gaussian noise.
5. **Model.** *Simplification:* MST fits a graphical model with Private-PGM to all noisy
   marginals at once, which makes them mutually consistent by maximum likelihood. Here a
   tree-structured model is built directly, by post-processing only. (a) *Domain
   compression*, as in MST: the cells of a column whose noisy 1-way count is below 3σ₁
   are merged into one cell (unless fewer than two would be left); the 2-way tables are
   measured on the compressed cells, and a merged cell is sampled as one of its members,
   in proportion to their noisy counts shrunk towards their mean (empirical Bayes; MST
   samples them uniformly). (b) *Reconciliation*: each column's distribution is the
   inverse-variance weighted mean of its noisy 1-way counts and the row or column sums of
   the noisy 2-way tables of its edges, projected onto the non-negative vectors with total
   N̂ (Euclidean projection onto the scaled simplex, which clips small and negative cells
   without the upward bias of clipping alone). (c) Each edge's noisy 2-way table, projected the same
   way and smoothed towards the child's distribution with α = σ₂·√(child cells)
   pseudo-records per row (σ₂ the 2-way noise scale: about the noise in a row's total), is
   raked (iterative proportional fitting) to the two columns' distributions from (b);
   P(child | parent) is its rows normalised and the root's distribution is its (b). Every
   column's synthetic distribution is thus its reconciled estimate; unlike Private-PGM,
   a 2-way table informs only its two columns' distributions. The privacy guarantee is
   that of the measurements (all of this is post-processing).
6. **Sampling.** Ancestral sampling along the tree from the seeded stream; a bound's cell
   becomes the bound, a numeric bin a value drawn uniformly within it (integers and dates
   uniformly among the whole numbers of the bin), the missing cell a missing value.

What is kept: every 1-way distribution (at bin resolution, with the bounds' point masses)
and the dependence along the tree's edges. Dependence between columns not joined by an
edge is only what the tree implies (conditional independence given the path between
them); within-bin shape of numeric columns is lost (uniform within the bin).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.disclosure.accounting import rho_for_epsilon, zcdp_epsilon
from privstats.disclosure.dp import discrete_gaussian as _discrete_gaussian
from privstats.disclosure.dp import gaussian_threshold as _gaussian_threshold
from privstats.disclosure.dp import noisy_argmax as _noisy_argmax
from privstats.disclosure.dp import require_opendp, threshold_for
from privstats.disclosure.report import PrivacyReport
from privstats.errors import ParameterError
from privstats.synth.base import Synthesizer
from privstats.synth.mst_coding import Bound, Coding, as_number, bound_text, column_coding
from privstats.synth.mst_model import Edge, Groups, build_tree, project_simplex, reconcile
from privstats.synth.mst_privacy import mst_privacy_report
from privstats.synth.schema import Schema

__all__ = ["MST", "MissingBoundsError"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_MISSING_SIGMAS = 4.0  # a missing cell counted below 4σ₁: the column has no missing values
_MISSING_KEY = "(missing)"  # the missing cell among the categories of a threshold
_CHUNK_CELLS = 1 << 22  # rows × cells per choice_rows call while sampling (32 MiB of floats)

# The names this module had before issue 14 moved the noise and accounting to
# privstats.disclosure and the model and discretisation to mst_model and mst_coding.
# _discrete_gaussian and _noisy_argmax above are called through these names, so that a
# test can watch every measurement by replacing them here.
_rho_for = rho_for_epsilon
_epsilon_for = zcdp_epsilon
_project_simplex = project_simplex
_reconcile = reconcile
_Groups = Groups
_Coding = Coding
_Edge = Edge
_coding = column_coding  # benchmarks/synth_vs_sdv_smartnoise.py codes columns as MST does
_as_number = as_number
_bound_text = bound_text
_PURPOSE = "the mst synthesizer (OpenDP's noise)"


def _seen_categories(
    coding: Coding, codes: IntArray, sigma: float, threshold: int
) -> tuple[IntArray, dict[str, Any]]:
    """1-way counts of a column whose category list came from the data, not from the public.

    Each category seen in the data, and the missing cell, is counted with discrete Gaussian
    noise, and only those whose noisy count reaches ``threshold`` are kept (OpenDP's
    Gaussian threshold): a category only one person holds surfaces with probability δ.
    Returns the noisy counts of the kept categories and of the missing cell (0 when it was
    dropped), and the measurement with the kept categories' indices (``kept``).
    """
    counts = np.bincount(codes, minlength=coding.cells)
    names = coding.spec.categories
    seen = {names[k]: int(count) for k, count in enumerate(counts[: coding.values]) if count}
    missing = _MISSING_KEY
    while missing in seen:  # a key no category has
        missing += "_"
    if coding.missing and counts[coding.values]:
        seen[missing] = int(counts[coding.values])
    released, rho, delta = _gaussian_threshold(seen, sigma, threshold)
    kept = tuple(k for k, name in enumerate(names) if name in released)
    noisy = np.array(
        [released[names[k]] for k in kept] + [released.get(missing, 0)], dtype=np.int64
    )
    measured = {
        "what": f"1-way {coding.spec.name} (categories above a noisy threshold)",
        "cells": len(kept) + 1,
        "sigma": sigma,
        "threshold": threshold,
        "rho": rho,
        "delta": delta,
        "kept": kept,
    }
    return noisy, measured


def _opendp() -> Any:
    """``opendp.prelude``, or ``MissingExtraError`` naming this synthesizer and the extra."""
    return require_opendp(_PURPOSE)


class MissingBoundsError(ParameterError):
    """Numeric or date columns have no public bounds; ``columns`` names them.

    The message uses the Python API's words (``bounds=``, ``bounds_from_data=True``); the
    command line turns it into its own options from ``columns``.
    """

    def __init__(self, columns: tuple[str, ...], kinds: tuple[str, ...]) -> None:
        described = ", ".join(
            f"{name!r} ({kind})" for name, kind in zip(columns, kinds, strict=True)
        )
        pairs = ", ".join(f"{name!r}: (low, high)" for name in columns)
        noun = "column" if len(columns) == 1 else "columns"
        super().__init__(
            f"{noun} {described} {'has' if len(columns) == 1 else 'have'} no public bounds: "
            f"pass bounds={{{pairs}}} from public knowledge, or bounds_from_data=True to use "
            "the observed range (not covered by ε)",
            parameter="bounds",
        )
        self.columns = columns


class MST(Synthesizer):
    """MST-style (ε, δ)-DP synthesizer: noisy marginals on a selected tree (see module doc).

    Parameters
    ----------
    epsilon, delta
        The privacy budget of :meth:`fit` (δ in (0, 1); typically well below 1/n).
    bins
        Number of equal-width bins of each numeric or date column strictly between its
        public bounds; each bound is a cell of its own besides (module doc, step 1).
    bounds
        Public ``(low, high)`` of every integer, continuous and date column (dates: days
        since 1970-01-01, or anything :class:`pandas.Timestamp` reads). Required for each
        such column unless ``bounds_from_data``.
    max_categories
        Largest number of categories of a categorical column; a column with more is an
        error (coarsen it from public knowledge first: a marginal over many rare categories
        is mostly noise, and a pair of them would have too many cells).
    bounds_from_data
        Take missing bounds from the schema's observed low/high. These are computed from
        the confidential data and are **not** covered by ε; :attr:`privacy` says so.
    public_categories
        Categorical columns whose category lists in the schema are public code lists
        (``True``: all). Their lists are released as they are, outside ε; every other
        categorical column keeps only the categories that pass a noisy threshold.
    """

    method: ClassVar[str] = "mst"

    def __init__(
        self,
        epsilon: float = 1.0,
        delta: float = 1e-9,
        bins: int = 16,
        bounds: Mapping[str, tuple[Bound, Bound]] | None = None,
        max_categories: int = 64,
        *,
        bounds_from_data: bool = False,
        public_categories: bool | Iterable[str] = False,
    ) -> None:
        super().__init__()
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
            raise ParameterError(f"epsilon must be a number, got {epsilon!r}", parameter="epsilon")
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ParameterError(
                f"epsilon must be positive and finite, got {epsilon}", parameter="epsilon"
            )
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
            raise ParameterError(f"delta must be in (0, 1), got {delta!r}", parameter="delta")
        for name, value, least in (("bins", bins, 2), ("max_categories", max_categories, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ParameterError(
                    f"{name} must be an integer of at least {least}, got {value!r}",
                    parameter=name,
                )
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.bins = bins
        self.bounds: dict[str, tuple[Bound, Bound]] = dict(bounds or {})
        for name, pair in self.bounds.items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ParameterError(
                    f"bounds of {name!r} must be a (low, high) pair, got {pair!r}",
                    parameter="bounds",
                )
        self.max_categories = max_categories
        self.bounds_from_data = bool(bounds_from_data)
        if isinstance(public_categories, str):
            raise ParameterError(
                f"public_categories must be True or a list of column names, got "
                f"{public_categories!r}; write [{public_categories!r}] for one column",
                parameter="public_categories",
            )
        self.public_categories = public_categories
        self._public: frozenset[str] = frozenset(
            () if isinstance(public_categories, bool) else map(str, public_categories)
        )
        self._delta_zcdp = self.delta
        self._codings: list[Coding] = []
        self._groups: list[Groups] = []
        self._root: FloatArray = np.zeros(0)
        self._edges: list[Edge] = []
        self._report: PrivacyReport | None = None
        self._rows = 0

    # -- privacy report ------------------------------------------------------------------

    @property
    def privacy(self) -> dict[str, Any] | None:
        """What ``fit`` released and its cost; None before ``fit``.

        ``epsilon`` is recomputed from ``rho``, the sum of the ``rho`` of every listed
        measurement, with ε from OpenDP's zCDP-to-(ε, δ) conversion.
        """
        if self._report is None:
            return None
        return self._report.to_dict()

    @property
    def privacy_report(self) -> PrivacyReport | None:
        """:attr:`privacy` as a checked :class:`~privstats.disclosure.report.PrivacyReport`."""
        return self._report

    @property
    def default_rows(self) -> int:
        """The noisy number of records N̂ (rounded), not the real one: covered by ε."""
        self.schema  # noqa: B018 - raises when not fitted
        return self._rows

    # -- fitting -------------------------------------------------------------------------

    def _is_public(self, name: str) -> bool:
        """Whether the caller declared the category list of column ``name`` public."""
        return self.public_categories is True or name in self._public

    def _resolve_codings(self, schema: Schema) -> tuple[list[Coding], list[str]]:
        for option, names in (("bounds", self.bounds), ("public_categories", self._public)):
            unknown = [name for name in names if name not in schema]
            if unknown:
                raise ParameterError(
                    f"{option} given for columns not in the table: "
                    f"{', '.join(map(repr, sorted(unknown)))}",
                    parameter=option,
                )
        codings, from_data, unbounded = [], [], []
        for spec in schema:
            if spec.kind == "categorical":
                if spec.name in self.bounds:
                    raise ParameterError(
                        f"bounds given for categorical column {spec.name!r}", parameter="bounds"
                    )
                if len(spec.categories) > self.max_categories:
                    raise ParameterError(
                        f"column {spec.name!r} has {len(spec.categories)} categories, more "
                        f"than max_categories={self.max_categories}; coarsen it (merge rare "
                        "categories by a public rule, e.g. into 'other') before fitting, or "
                        "raise max_categories",
                        parameter="max_categories",
                    )
                if not spec.categories and spec.missing <= 0:
                    raise ParameterError(
                        f"categorical column {spec.name!r} has no categories",
                        parameter="schema",
                    )
                codings.append(column_coding(spec, None, self.bins, missing=True))
                continue
            if spec.name in self.bounds:
                low, high = (as_number(v, spec) for v in self.bounds[spec.name])
                if not low <= high:
                    raise ParameterError(
                        f"bounds of {spec.name!r} must have low <= high, got ({low}, {high})",
                        parameter="bounds",
                    )
            elif self.bounds_from_data:
                from_data.append(spec.name)
                low = spec.low if spec.low is not None else 0.0
                high = spec.high if spec.high is not None else low
            else:
                unbounded.append(spec)
                continue
            codings.append(column_coding(spec, (low, high), self.bins, missing=True))
        if unbounded:
            raise MissingBoundsError(
                tuple(spec.name for spec in unbounded), tuple(spec.kind for spec in unbounded)
            )
        return codings, from_data

    def _fit(self, table: pd.DataFrame, schema: Schema) -> None:
        codings, from_data = self._resolve_codings(schema)
        codes = [coding.encode(table[coding.spec.name]) for coding in codings]
        d = len(codings)
        require_opendp(_PURPOSE)  # the error names this synthesizer and the extra
        hidden = [
            i
            for i, coding in enumerate(codings)
            if coding.spec.kind == "categorical" and not self._is_public(coding.spec.name)
        ]
        # categories seen in the data get half of δ, shared; the zCDP conversion the rest
        self._delta_zcdp = self.delta / 2 if hidden else self.delta
        rho = rho_for_epsilon(self.epsilon, self._delta_zcdp)
        if d == 1:
            rho_one, rho_select, rho_two = rho, 0.0, 0.0
        elif d == 2:
            rho_one, rho_select, rho_two = rho / 2, 0.0, rho / 2
        else:
            rho_one = rho_select = rho_two = rho / 3
        measurements: list[dict[str, Any]] = []

        # 1-way marginals
        sigma_one = math.sqrt(d / (2.0 * rho_one))
        noisy_one: list[IntArray] = []
        for i, coding in enumerate(codings):
            if i in hidden:
                threshold = threshold_for(sigma_one, (self.delta - self._delta_zcdp) / len(hidden))
                noisy, measured = _seen_categories(coding, codes[i], sigma_one, threshold)
                codings[i] = coding.keeping(measured.pop("kept"))
                codes[i] = codings[i].encode(table[coding.spec.name])
            else:
                noisy, spent = _discrete_gaussian(
                    np.bincount(codes[i], minlength=coding.cells), sigma_one
                )
                measured = {"what": f"1-way {coding.spec.name}", "cells": coding.cells,
                            "sigma": sigma_one, "rho": spent}  # fmt: skip
            noisy_one.append(noisy)
            measurements.append(measured)
        # N̂: each column's noisy total, weighted by the inverse of its noise variance k·σ₁²
        # (not the columns whose rare categories were dropped, if any other is left)
        counted = [i for i in range(d) if i not in hidden] or list(range(d))
        weights = np.array([1.0 / codings[i].cells for i in counted])
        sums = np.array([float(noisy_one[i].sum()) for i in counted])
        estimate = float(weights @ sums / weights.sum())
        total_sigma = sigma_one / math.sqrt(float(weights.sum()))
        # missing values only where the noisy count of the missing cell shows them
        for i, noisy in enumerate(noisy_one):
            if noisy[-1] < _MISSING_SIGMAS * sigma_one:
                codings[i], codes[i] = codings[i].without_missing(codes[i])
                noisy_one[i] = noisy[: codings[i].cells]
        total = max(1.0, estimate)
        self._rows = max(1, round(estimate))
        groups = [Groups.of(noisy, sigma_one) for noisy in noisy_one]
        for group, measurement in zip(groups, measurements, strict=True):
            measurement["kept_cells"] = group.kept
        codes = [group.compress(column) for group, column in zip(groups, codes, strict=True)]
        cells = [group.cells for group in groups]
        one = [group.merge(noisy) for group, noisy in zip(groups, noisy_one, strict=True)]
        variance_one = [group.sizes * sigma_one**2 for group in groups]
        marginals = [project_simplex(noisy, total) / total for noisy in one]

        # tree selection
        if d <= 2:
            tree = [(0, 1)] if d == 2 else []
        else:
            tree = self._select(cells, codes, marginals, total, rho_select, measurements)

        # 2-way marginals on the tree, and the model
        sigma_two = math.sqrt(max(1, d - 1) / (2.0 * rho_two)) if tree else 0.0
        noisy_two: dict[tuple[int, int], FloatArray] = {}
        raw_two: dict[tuple[int, int], FloatArray] = {}
        for a, b in tree:
            ka, kb = cells[a], cells[b]
            counts = np.bincount(codes[a] * kb + codes[b], minlength=ka * kb)
            noisy, spent = _discrete_gaussian(counts, sigma_two)
            raw_two[a, b] = noisy.reshape(ka, kb).astype(np.float64)
            noisy_two[a, b] = project_simplex(noisy, total).reshape(ka, kb)
            measurements.append(
                {
                    "what": f"2-way {codings[a].spec.name} × {codings[b].spec.name}",
                    "cells": codings[a].cells * codings[b].cells,
                    "kept_cells": ka * kb,
                    "sigma": sigma_two,
                    "rho": spent,
                }
            )
        self._codings = codings
        reconciled = reconcile(one, variance_one, raw_two, sigma_two, total)
        self._groups = groups
        self._root = reconciled[0]
        self._edges = build_tree(cells, reconciled, noisy_two, sigma_two, total)

        self._report = mst_privacy_report(
            codings=codings,
            measurements=measurements,
            tree=tree,
            delta_zcdp=self._delta_zcdp,
            bins=self.bins,
            rows=self._rows,
            total_sigma=total_sigma,
            from_data=from_data,
            public_bounds=self.bounds,
            public_categories=[c.spec.name for c in codings if self._is_public(c.spec.name)],
            missing_sigmas=_MISSING_SIGMAS,
        )

    def _select(
        self,
        cells: list[int],
        codes: list[IntArray],
        marginals: list[FloatArray],
        total: float,
        rho: float,
        measurements: list[dict[str, Any]],
    ) -> list[tuple[int, int]]:
        """Kruskal's maximum spanning tree, each edge by the exponential mechanism."""
        d = len(cells)
        scores: dict[tuple[int, int], float] = {}
        for a in range(d):
            for b in range(a + 1, d):
                kb = cells[b]
                true = np.bincount(codes[a] * kb + codes[b], minlength=cells[a] * kb)
                implied = total * np.outer(marginals[a], marginals[b]).ravel()
                scores[a, b] = float(np.abs(true - implied).sum())
        parent = list(range(d))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        tree: list[tuple[int, int]] = []
        per_round = rho / (d - 1)
        for step in range(d - 1):
            candidates = [pair for pair in scores if find(pair[0]) != find(pair[1])]
            index, spent = _noisy_argmax(np.array([scores[p] for p in candidates]), per_round)
            a, b = candidates[index]
            parent[find(a)] = find(b)
            tree.append((a, b))
            measurements.append(
                {
                    "what": f"select edge {step + 1} of {d - 1}",
                    "candidates": len(candidates),
                    "epsilon": math.sqrt(8.0 * spent),
                    "rho": spent,
                }
            )
        return tree

    # -- sampling ------------------------------------------------------------------------

    def _sample(self, n: int, stream: SeededStream) -> pd.DataFrame:
        drawn: list[IntArray | None] = [None] * len(self._codings)
        drawn[0] = stream.choice(self._root, n)
        for edge in self._edges:
            parents = drawn[edge.parent]
            assert parents is not None
            step = max(1, _CHUNK_CELLS // edge.conditional.shape[1])
            drawn[edge.child] = np.concatenate(
                [
                    stream.choice_rows(edge.conditional[parents[start : start + step]])
                    for start in range(0, n, step)
                ]
            )
        out: dict[str, pd.Series] = {}
        for coding, group, codes in zip(self._codings, self._groups, drawn, strict=True):
            assert codes is not None
            cells = group.expand(codes, stream)
            out[coding.spec.name] = coding.decode(cells, stream).reset_index(drop=True)
        return pd.DataFrame(out)
