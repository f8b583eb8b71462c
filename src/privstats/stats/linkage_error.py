"""Coverage adjusted for linkage error: false matches and missed matches.

Who this is for
---------------
When a register and a source share no reliable identifier, persons are linked on names,
dates of birth, sex and addresses (exact match keys or Bloom-filter similarity). The
linkage then *misses* some true matches (typos, nicknames, moves) and *declares* some
false ones (namesakes, common names). The share of register persons found in the source,
``m / n``, is biased by both; this module corrects it and widens its interval by the
uncertainty of the error rates. It is a pure function of counts and rates; nothing here
touches unit-level data (the rates come from a clerical review sample or from the linker's
score distribution, both summarised before they reach this module).

The estimator
-------------
Ding & Fienberg (1994) write the expected number of declared links among the ``n2``
records of the second list as ``E(m) = λ·M + τ·(n2 − M)``, with ``M`` the true matches,
``λ`` the probability that a true match is linked and ``τ`` the probability that a record
without a true match is falsely linked, which gives ``M̂ = (m − τ·n2) / (λ − τ)``. Di
Consiglio & Tuoto (2015) extend it to probabilistic linkage, where ``λ`` and ``τ`` are
estimated (from the Fellegi–Sunter model or a clerical sample) and the estimate is then
used in the dual-system estimator. Here the rates are written the way a linkage is
usually assessed, by its precision and recall:

* ``false_match_rate`` ``f`` = share of declared matches that are false = 1 − precision
  (in their notation ``f = τ·(n2 − M) / E(m)``);
* ``missed_match_rate`` ``g`` = share of true matches not declared = 1 − recall
  (``g = 1 − λ``).

The two are the same model: the true links among the declared are ``m·(1 − f) = λ·M``, so ::

    M̂ = m · (1 − f) / (1 − g),        coverage ĉ = M̂ / n   (n = persons in the register)

Precision and recall are what a review sample or a linker's score model yields directly,
and they need no separate count of the records without a match.

The interval
------------
A normal interval ``ĉ ± z·√V``, clipped to [0, 1], by the delta method::

    V = k²·q̂(1 − q̂)/n  +  ĉ²·( s_f² / (1 − f)²  +  s_g² / (1 − g)² ),   k = (1−f)/(1−g),

with ``q̂ = m/n`` the unadjusted share. The first term is the binomial sampling variance of
the observed matched share (each register person is declared matched or not, as a
Bernoulli trial whose probability already mixes true coverage and both errors), carried
through the correction factor; the second is the uncertainty of the two rates (standard
errors ``s_f``, ``s_g``). A review sample estimates both rates from the same records, so
they covary (both fall as the agreed matches rise); :func:`errors_from_review` gives that
covariance ``c`` and the second term gets ``− 2c/((1 − f)(1 − g))``. When the review is a
random subsample of the same register, the rates also covary with ``m``; with
``review_in_register=True`` the term ``− 2·ĉ²·g/m`` accounts for it (the delta method gives
``Cov(log q̂, log (1−f̂)/(1−ĝ)) = −g/m``, whatever the review's size); left out, the interval
is slightly too wide (97–98 % instead of 95 % in our simulations). As in
:mod:`privstats.stats.coverage`, the interval is for coverage as a probability of a
super-population (a process), not for the realised share of one finite list. The
unadjusted estimate ``m/n`` keeps its Wilson interval, for the side-by-side view.

Where the rates come from
-------------------------
:func:`errors_from_review`
    A clerical review: for a random sample of register persons (or declared pairs), a
    clerk records whether the linkage declared a match and whether the person truly is in
    the source. ``f̂`` is the false share among the declared, ``ĝ`` the missed share
    among the true; each has a binomial standard error, computed at the Agresti–Coull
    centre ``(x + 2)/(r + 4)`` so that a rate seen as 0 in a small review still carries
    uncertainty.
:func:`errors_from_mixture`
    The linker's match scores, modelled as a two-component mixture (matches high,
    non-matches low) fitted by EM, as in the score-based error estimation of Belin & Rubin
    (1995): beta components for similarities in [0, 1] (Dice coefficients), normal ones
    for unbounded weights; the rates are the mixture's tail areas on either side of the
    threshold, their standard errors from a bootstrap of the scores (numpy's seeded
    generator: this randomness protects nothing). It needs no clerk, but it rests on the
    mixture's shape: check it against a review sample before relying on it. Scores piled
    at one value (exact agreements at a Dice of 1) make the fit degenerate and are
    refused; true matches never compared (blocking) leave no score and are not counted
    as missed.
:class:`LinkageErrors`
    Rates given by the user (``source="given"``, standard errors 0 unless stated).

Assumptions
-----------
* The rates apply alike to every domain the coverage is broken down by (or are estimated
  per domain and passed per domain).
* The linkage is one-to-one (a register person is matched at most once), so ``m`` counts
  persons.
* The review sample is random and its labels are right; a clerk who cannot decide should
  be left out, not guessed.

References
----------
* Ding, Y. & Fienberg, S. E. (1994). Dual system estimation of census undercount in the
  presence of matching error. *Survey Methodology* 20(2), 149–158.
* Di Consiglio, L. & Tuoto, T. (2015). Coverage evaluation on probabilistically linked
  data. *Journal of Official Statistics* 31(3), 415–429.
* Belin, T. R. & Rubin, D. B. (1995). A method for calibrating false-match rates in record
  linkage. *Journal of the American Statistical Association* 90(430), 694–707.
* Agresti, A. & Coull, B. A. (1998). Approximate is better than "exact" for interval
  estimation of binomial proportions. *The American Statistician* 52(2), 119–126.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from scipy.special import betainc, betaln

from privstats.errors import ParameterError
from privstats.stats.coverage import proportion_interval

__all__ = [
    "AdjustedCoverage",
    "LinkageErrors",
    "adjusted_coverage",
    "errors_from_mixture",
    "errors_from_review",
]

Family = Literal["auto", "beta", "normal"]
_SOURCES = ("given", "review", "mixture")
_BOOTSTRAP = 100
_RESAMPLE = 20_000
_EM_ITERATIONS = 500


@dataclass(frozen=True)
class LinkageErrors:
    """Error rates of a linkage, with their standard errors.

    ``false_match_rate``: share of declared matches that are false (1 − precision);
    ``missed_match_rate``: share of true matches not declared (1 − recall); the standard
    errors are 0 when the rates are taken as known. ``source``: ``"given"``, ``"review"``
    or ``"mixture"``. ``covariance``: of the two rate estimates (positive from a review
    sample, where both fall as the agreed matches rise; 0 when unknown).
    """

    false_match_rate: float
    missed_match_rate: float
    false_match_se: float = 0.0
    missed_match_se: float = 0.0
    source: str = "given"
    covariance: float = 0.0

    def __post_init__(self) -> None:
        for name in ("false_match_rate", "missed_match_rate", "false_match_se", "missed_match_se"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ParameterError(
                    f"{name} must be a finite number >= 0, got {value!r}", parameter=name
                )
        if self.false_match_rate >= 1 or self.missed_match_rate >= 1:
            raise ParameterError(
                "error rates must be below 1 (a linkage whose declared matches are all false, "
                f"or that finds no true match, cannot be corrected): got false_match_rate="
                f"{self.false_match_rate!r}, missed_match_rate={self.missed_match_rate!r}",
                parameter="false_match_rate" if self.false_match_rate >= 1 else "missed_match_rate",
            )
        if not isinstance(self.covariance, numbers.Real) or not math.isfinite(self.covariance):
            raise ParameterError("covariance must be a finite number", parameter="covariance")
        if self.source not in _SOURCES:
            raise ParameterError(
                f"source must be one of {', '.join(_SOURCES)}, got {self.source!r}",
                parameter="source",
            )

    def as_dict(self) -> dict[str, float | str]:
        """Plain mapping for reports and JSON."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AdjustedCoverage:
    """Unadjusted and linkage-error-adjusted coverage, each as (estimate, low, high)."""

    unadjusted: tuple[float, float, float]
    adjusted: tuple[float, float, float]
    matched: int
    register: int
    adjusted_matches: float
    errors: LinkageErrors
    confidence: float

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for reports and JSON."""
        return {
            "unadjusted": dict(
                zip(("estimate", "ci_low", "ci_high"), self.unadjusted, strict=True)
            ),
            "adjusted": dict(zip(("estimate", "ci_low", "ci_high"), self.adjusted, strict=True)),
            "matched": self.matched,
            "register": self.register,
            "adjusted_matches": self.adjusted_matches,
            "errors": self.errors.as_dict(),
            "confidence": self.confidence,
        }


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if int(value) < 0:
        raise ParameterError(f"{name} must be non-negative, got {value}", parameter=name)
    return int(value)


def _rate_se(hits: int, trials: int) -> float:
    """Binomial standard error at the Agresti–Coull centre, never 0 for a small sample."""
    centre = (hits + 2) / (trials + 4)
    return math.sqrt(centre * (1 - centre) / trials)


def errors_from_review(pairs_labels: Sequence[tuple[bool, bool]]) -> LinkageErrors:
    """Error rates from a clerical review: one ``(declared_match, truly_match)`` per record.

    Raises:
        ParameterError: the review has no declared match or no true match (a rate would be
            undefined), or a rate comes out as 1.
    """
    declared = truly = false = missed = reviewed = 0
    for index, labels in enumerate(pairs_labels):
        if len(labels) != 2 or not all(isinstance(v, bool | np.bool_) for v in labels):
            raise TypeError(
                f"review entry {index} must be (declared_match, truly_match) as two bools, "
                f"got {labels!r}"
            )
        is_declared, is_true = bool(labels[0]), bool(labels[1])
        reviewed += 1
        declared += is_declared
        truly += is_true
        false += is_declared and not is_true
        missed += is_true and not is_declared
    if declared == 0 or truly == 0:
        raise ParameterError(
            f"the review sample has {declared} declared and {truly} true matches; both must be "
            "at least 1 (and for a usable rate, some tens): review more records",
            parameter="pairs_labels",
        )
    false_se, missed_se = _rate_se(false, declared), _rate_se(missed, truly)
    return LinkageErrors(
        false_match_rate=false / declared,
        missed_match_rate=missed / truly,
        false_match_se=false_se,
        missed_match_se=missed_se,
        source="review",
        covariance=_review_correlation(false, declared - false, missed, reviewed)
        * false_se
        * missed_se,
    )


def _review_correlation(false: int, agreed: int, missed: int, reviewed: int) -> float:
    """Correlation of the two rate estimates of a review, by the delta method on its
    multinomial counts (false, agreed, missed, neither): both rates share ``agreed``."""
    counts = np.array([false, agreed, missed, reviewed - false - agreed - missed], dtype=float)
    declared, truly = false + agreed, missed + agreed
    grad_f = np.array([agreed, -false, 0.0, 0.0]) / declared**2
    grad_g = np.array([0.0, -missed, agreed, 0.0]) / truly**2
    sigma = np.diag(counts) - np.outer(counts, counts) / reviewed
    var_f, var_g = grad_f @ sigma @ grad_f, grad_g @ sigma @ grad_g
    if var_f <= 0 or var_g <= 0:
        return 0.0
    return float(grad_f @ sigma @ grad_g / math.sqrt(var_f * var_g))


Params = tuple[float, float, float, float, float]
"""A two-component mixture: (π1, a0, b0, a1, b1) — π1 weighs the match component; (a, b)
are (mean, sd) of a normal component or the two shape parameters of a beta component."""


def _log_density(x: np.ndarray, a: float, b: float, family: str) -> np.ndarray:
    if family == "normal":
        return np.asarray(-math.log(b) - 0.5 * ((x - a) / b) ** 2)
    return np.asarray((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - betaln(a, b))


def _moments(x: np.ndarray, weight: np.ndarray, family: str, floor: float) -> tuple[float, float]:
    """The M-step for one component: weighted mean and variance, matched to its family."""
    total = float(weight.sum())
    mean = float((weight * x).sum() / total)
    var = max(float((weight * (x - mean) ** 2).sum() / total), floor**2)
    if family == "normal":
        return mean, math.sqrt(var)
    var = min(var, mean * (1 - mean) * 0.999)  # a beta's variance is below μ(1 − μ)
    common = mean * (1 - mean) / var - 1
    return mean * common, (1 - mean) * common


def _mean(params: tuple[float, float], family: str) -> float:
    a, b = params
    return a if family == "normal" else a / (a + b)


def _sd(component: tuple[float, float], family: str) -> float:
    """Standard deviation of a component given as (mean, sd) or beta shapes (a, b)."""
    a, b = component
    return b if family == "normal" else math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def _em(
    x: np.ndarray,
    start: Params,
    family: str,
    iterations: int = _EM_ITERATIONS,
    floor: float = 0.0,
) -> Params:
    """Fit a two-component mixture of ``family`` ("normal" or "beta") to ``x`` by EM; no
    component's standard deviation goes below ``floor`` (nor 10⁻³ of the data's)."""
    weight, a0, b0, a1, b1 = start
    floor = max(floor, 1e-6, 1e-3 * float(np.std(x)))
    previous = -math.inf
    for _ in range(iterations):
        log0 = math.log1p(-weight) + _log_density(x, a0, b0, family)
        log1 = math.log(weight) + _log_density(x, a1, b1, family)
        top = np.maximum(log0, log1)
        total = top + np.log(np.exp(log0 - top) + np.exp(log1 - top))
        resp = np.exp(log1 - total)
        weight = min(max(float(resp.mean()), 1e-6), 1 - 1e-6)
        if min(resp.sum(), (1 - resp).sum()) < 1e-9:
            break  # one component is empty: keep the last parameters with mass on both
        a1, b1 = _moments(x, resp, family, floor)
        a0, b0 = _moments(x, 1 - resp, family, floor)
        likelihood = float(total.sum())
        if likelihood - previous < 1e-9 * abs(likelihood):
            break
        previous = likelihood
    if _mean((a1, b1), family) < _mean((a0, b0), family):  # the match component is the high one
        weight, a0, b0, a1, b1 = 1 - weight, a1, b1, a0, b0
    return weight, a0, b0, a1, b1


def _above(threshold: float, a: float, b: float, family: str) -> float:
    """Share of a component at or above ``threshold``."""
    if family == "normal":
        return 1 - NormalDist(a, b).cdf(threshold)
    return float(1 - betainc(a, b, min(max(threshold, 0.0), 1.0)))


def _rates(params: Params, threshold: float, family: str) -> tuple[float, float]:
    weight, a0, b0, a1, b1 = params
    above0 = _above(threshold, a0, b0, family)
    above1 = _above(threshold, a1, b1, family)
    declared = (1 - weight) * above0 + weight * above1
    false = (1 - weight) * above0 / declared if declared > 0 else 0.0
    return false, 1 - above1


def errors_from_mixture(
    scores: Sequence[float], threshold: float, *, family: Family = "auto"
) -> LinkageErrors:
    """Error rates from the linker's match scores, by a two-component mixture fitted by EM.

    ``scores``: one score per candidate link (each record's best candidate after blocking),
    higher meaning more alike; ``threshold``: scores at or above it are declared matches.
    ``family``: ``"beta"`` components (for similarities in [0, 1] such as Dice
    coefficients; scores of exactly 0 or 1 are moved just inside), ``"normal"`` (for
    unbounded scores such as Fellegi–Sunter weights), or ``"auto"``: beta when every score
    lies in [0, 1]. Standard errors from 100 bootstrap resamples of the scores (of at most
    20,000 scores each, the spread rescaled; seeded, deterministic).

    Raises:
        ParameterError: fewer than 20 scores, scores not finite (or outside [0, 1] for
            ``"beta"``), all scores equal, scores piled up at one value (a fitted component
            narrower than 2 % of the scores' range: the mixture would be degenerate), or the
            fitted mixture puts every match below the threshold.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 1 or x.size < 20:
        raise ParameterError(
            f"errors_from_mixture needs at least 20 scores in a flat list, got {x.size}",
            parameter="scores",
        )
    if not np.isfinite(x).all():
        raise ParameterError("scores must all be finite numbers", parameter="scores")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number, got {type(threshold).__name__}")
    if family not in ("auto", "beta", "normal"):
        raise ParameterError(
            f"family must be 'auto', 'beta' or 'normal', got {family!r}", parameter="family"
        )
    bounded = bool(((x >= 0) & (x <= 1)).all())
    kind = ("beta" if bounded else "normal") if family == "auto" else family
    if kind == "beta":
        if not bounded:
            raise ParameterError("beta components need scores in [0, 1]", parameter="scores")
        x = np.clip(x, 1e-6, 1 - 1e-6)
    spread = float(np.std(x))
    if spread < 1e-9:
        raise ParameterError(
            "all scores are equal: a mixture of matches and non-matches cannot be fitted",
            parameter="scores",
        )
    low, high = (float(q) for q in np.quantile(x, [0.25, 0.9]))
    start: Params = (0.5, low, spread / 2, high, spread / 2)
    if kind == "beta":  # moments of the lower and upper half by rank (ties split)
        upper = np.zeros(x.size)
        upper[np.argsort(x, kind="stable")[x.size // 2 :]] = 1.0
        start = (0.5, *_moments(x, 1 - upper, kind, 1e-6), *_moments(x, upper, kind, 1e-6))
    values = np.unique(x)
    resolution = float(np.diff(values).min()) / math.sqrt(12) if values.size > 1 else 0.0
    params = _em(x, start, kind, floor=resolution)
    narrowest = min(_sd(params[1:3], kind), _sd(params[3:5], kind))
    if narrowest < 0.02 * float(x.max() - x.min()):
        raise ParameterError(
            "the scores pile up at one value (a component of the fitted mixture has "
            f"standard deviation {narrowest:.3g}), for instance exact agreements at 1: a "
            "two-component mixture does not describe them and its error rates would be "
            "spurious; estimate the rates from a clerical review sample",
            parameter="scores",
        )
    false, missed = _rates(params, float(threshold), kind)
    if missed >= 1 - 1e-12:
        raise ParameterError(
            f"the fitted mixture puts every match below the threshold {threshold}: lower it",
            parameter="threshold",
        )
    # resamples of at most _RESAMPLE scores, their spread scaled by √(size/n): the same
    # standard error for a smooth statistic, in bounded time for 10⁵ scores and more
    size = min(x.size, _RESAMPLE)
    rng = np.random.default_rng(20260101)
    draws = np.empty((_BOOTSTRAP, 2))
    for b in range(_BOOTSTRAP):
        sample = x[rng.integers(0, x.size, size)]
        fitted = _em(sample, params, kind, iterations=50, floor=resolution)
        draws[b] = _rates(fitted, float(threshold), kind)
    scale = size / x.size
    return LinkageErrors(
        false_match_rate=false,
        missed_match_rate=missed,
        false_match_se=float(draws[:, 0].std(ddof=1)) * math.sqrt(scale),
        missed_match_se=float(draws[:, 1].std(ddof=1)) * math.sqrt(scale),
        source="mixture",
        covariance=float(np.cov(draws[:, 0], draws[:, 1])[0, 1]) * scale,
    )


def adjusted_coverage(
    matched: int,
    register: int,
    errors: LinkageErrors,
    confidence: float = 0.95,
    *,
    review_in_register: bool = False,
) -> AdjustedCoverage:
    """Coverage ``matched/register`` and its linkage-error-adjusted counterpart.

    Adjusted: ``ĉ = matched·(1 − f)/(1 − g) / register`` with the delta-method interval of
    the module docstring, clipped to [0, 1]; unadjusted: ``matched/register`` with Wilson's
    interval. ``review_in_register``: the review sample behind ``errors`` is a random
    subsample of these same register persons, so its rates and ``matched`` covary; the
    variance then gets the covariance term ``−2·ĉ²·g/matched`` (without it the interval is
    a little too wide, never too narrow).

    Raises:
        TypeError: a count is not an int or ``errors`` is not :class:`LinkageErrors`.
        ParameterError: ``register`` is 0, ``matched`` exceeds it, or ``confidence`` is not
            in (0, 1).
    """
    m = _count(matched, "matched")
    n = _count(register, "register")
    if not isinstance(errors, LinkageErrors):
        raise TypeError(f"errors must be LinkageErrors, got {type(errors).__name__}")
    if n == 0:
        raise ParameterError(
            "register is 0: no persons to estimate coverage of", parameter="register"
        )
    if m > n:
        raise ParameterError(
            f"matched ({m}) exceeds register ({n}); a one-to-one linkage matches each "
            "register person at most once",
            parameter="matched",
        )
    plain = proportion_interval(m, n, confidence=confidence)
    z = NormalDist().inv_cdf(0.5 + plain.confidence / 2)
    f, g = errors.false_match_rate, errors.missed_match_rate
    factor = (1 - f) / (1 - g)
    share = m / n
    estimate = share * factor
    rel_f, rel_g = errors.false_match_se / (1 - f), errors.missed_match_se / (1 - g)
    # d log ĉ = −df/(1−f) + dg/(1−g): the rates' covariance enters with a minus sign
    rates = rel_f**2 + rel_g**2 - 2 * errors.covariance / ((1 - f) * (1 - g))
    if review_in_register and m > 0:
        if errors.source != "review":
            raise ParameterError(
                "review_in_register applies to rates from errors_from_review only",
                parameter="review_in_register",
            )
        # Cov(log m/n, log (1−f̂)/(1−ĝ)) = −g/m when the review is a subsample of the register
        rates -= 2 * g / m
    variance = factor**2 * share * (1 - share) / n + estimate**2 * rates
    half = z * math.sqrt(max(variance, 0.0))
    low = min(max(estimate - half, 0.0), 1.0)
    high = max(min(estimate + half, 1.0), 0.0)
    shown = min(estimate, 1.0)  # a coverage above 1 is impossible; the interval says how far
    return AdjustedCoverage(
        unadjusted=(plain.estimate, plain.ci_low, plain.ci_high),
        adjusted=(shown, min(low, shown), max(high, shown)),
        matched=m,
        register=n,
        adjusted_matches=m * factor,
        errors=errors,
        confidence=plain.confidence,
    )
