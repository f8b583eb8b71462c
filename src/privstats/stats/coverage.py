"""Coverage of a population register by a third-party source, from PSI counts.

Who this is for
---------------
A statistical office holds a population register; a third party (a tax authority, a utility, a
mobile operator, a school administration) holds a list of people it deals with. A
private-set-intersection (PSI) cardinality protocol gives the office three numbers and nothing
else: ``n1`` persons in the register, ``n2`` in the source and ``m`` found in both. The
functions here turn those counts into coverage figures with their sampling uncertainty, so that a
methodologist can report them without either party disclosing who is on which list. They are
pure functions of counts; nothing here touches unit-level data.

What it computes
----------------
:func:`proportion_interval`
    A proportion ``p̂ = k / n`` with a two-sided confidence interval. For coverage this is
    usually ``m / n2``, the share of the source's persons that the register also holds (an
    estimate of register coverage among the kind of person the source sees), or ``m / n1``,
    the share of the register that the source reaches. Two intervals are offered:

    * ``"wilson"`` (Wilson 1927), the score interval, the default. With ``z`` the
      ``(1 + confidence) / 2`` quantile of the standard normal distribution::

          centre ± half-width = (k + z²/2 ± z·√(k(n − k)/n + z²/4)) / (n + z²)

      It stays inside [0, 1], behaves well for ``k`` near 0 or ``n``, and its actual coverage
      is close to nominal on average, although it oscillates with ``n`` and ``p``.
    * ``"clopper-pearson"`` (Clopper & Pearson 1934), the "exact" interval obtained by
      inverting two one-sided binomial tests, written with beta quantiles (``α = 1 −
      confidence``)::

          low  = B⁻¹(α/2;     k,     n − k + 1)      (0 when k = 0)
          high = B⁻¹(1 − α/2; k + 1, n − k)          (1 when k = n)

      Its coverage is never below nominal, so it is conservative (wider) in exchange for a
      guarantee.

    The interval treats the ``n`` units as independent Bernoulli trials with a common
    probability, i.e. as a sample from a super-population or a process. When ``n`` is the
    entire population of interest, the interval describes that model uncertainty, not
    sampling from a finite list.

:func:`dual_system_estimate`
    The size ``N`` of the population that either list could contain, by dual-system
    (capture–recapture, Lincoln–Petersen) estimation, using Chapman's nearly unbiased form
    (Chapman 1951) and its variance (Seber 1970)::

        N̂      = (n1 + 1)(n2 + 1) / (m + 1) − 1
        Var(N̂) = (n1 + 1)(n2 + 1)(n1 − m)(n2 − m) / ((m + 1)² (m + 2))

    with a normal interval ``N̂ ± z·√Var(N̂)`` whose lower bound is clipped to the number of
    distinct persons observed, ``n1 + n2 − m`` (the population cannot be smaller). Algebra
    shows ``N̂ = n1 + n2 − m + (n1 − m)(n2 − m)/(m + 1)``, so ``N̂`` itself is never below that
    number. Register undercoverage then follows as ``1 − n1 / N̂``. The normal interval is
    adequate when ``m`` is not small (say ``m`` ≥ 50); for small ``m`` the distribution of
    ``N̂`` is skewed and the interval should be read with care. With ``m = 0`` the lists
    carry no information on their overlap and the estimate is undefined: it is refused
    rather than given as Chapman's formal ``(n1 + 1)(n2 + 1) − 1`` (or, with an empty list,
    as a degenerate interval of zero width).

Assumptions of dual-system estimation
-------------------------------------
The estimate is only as good as these assumptions, none of which the counts can check:

* **Closed population.** Both lists refer to the same population at the same reference time:
  no births, deaths or migration between the two list dates, and the same territorial and
  definitional scope.
* **Independence of the lists.** Being in the source does not change the chance of being in
  the register. Positive dependence (the same people are hard to reach for both, e.g. people
  who avoid all administrations) makes ``N̂`` too small; negative dependence makes it too large.
* **Perfect linkage.** A person in both lists is counted in ``m`` exactly once, and nobody else
  is. With PSI on exact identifiers, typos, changed names or missing identifiers are missed
  links: they lower ``m`` and inflate ``N̂``. False links (shared or recycled identifiers) raise
  ``m`` and deflate ``N̂``. Clean and normalise identifiers the same way on both sides first.
* **Homogeneous capture probabilities.** Within each list every person has the same chance of
  being listed, or the heterogeneity in one list is unrelated to the other. Heterogeneity
  shared by both lists acts like positive dependence and biases ``N̂`` downwards; estimate
  within strata (age, sex, region) where capture probabilities are more alike, and sum.

**Out-of-scope records bias the estimate.** Every record in the source that is not a member of
the target population (non-residents, emigrants, deceased persons, businesses, duplicates,
test accounts) cannot match the register, so it adds to ``n2 − m`` and is counted as a person
the register missed: ``N̂`` and the undercoverage derived from it are biased upwards, and the
share ``m / n2`` is biased downwards. The same holds for register overcoverage (persons still
registered after leaving) on the ``n1`` side. Remove out-of-scope records before running the
protocol, or correct the counts with an estimate of the erroneous share.

References
----------
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
  *Journal of the American Statistical Association* 22(158), 209–212.
* Clopper, C. J. & Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated
  in the case of the binomial. *Biometrika* 26(4), 404–413.
* Chapman, D. G. (1951). Some properties of the hypergeometric distribution with applications to
  zoological sample censuses. *University of California Publications in Statistics* 1, 131–160.
* Seber, G. A. F. (1970). The effects of trap response on tag recapture estimates.
  *Biometrics* 26(1), 13–22.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, get_args

from scipy.special import betaincinv

from privstats.errors import ParameterError

__all__ = [
    "Method",
    "PopulationEstimate",
    "Proportion",
    "dual_system_estimate",
    "proportion_interval",
]

Method = Literal["wilson", "clopper-pearson"]

_METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class Proportion:
    """A proportion with a two-sided confidence interval.

    ``estimate`` is ``successes / trials``; ``ci_low`` and ``ci_high`` bound it at level
    ``confidence`` by ``method`` (``"wilson"`` or ``"clopper-pearson"``).
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str

    def as_dict(self) -> dict[str, float | str]:
        """Plain mapping for reports and JSON: estimate, ci_low, ci_high, confidence, method."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PopulationEstimate:
    """A dual-system estimate of population size with its variance and confidence interval.

    ``method`` is ``"chapman"``. ``ci_low`` is never below the number of distinct persons seen
    in either list.
    """

    estimate: float
    variance: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str

    def as_dict(self) -> dict[str, float | str]:
        """Plain mapping: estimate, variance, ci_low, ci_high, confidence, method."""
        return dataclasses.asdict(self)


def _count(value: object, name: str) -> int:
    """Return ``value`` as a non-negative ``int``; TypeError if not an integer, bool excluded."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    count = int(value)
    if count < 0:
        raise ParameterError(f"{name} must be non-negative, got {count}", parameter=name)
    return count


def _z_quantile(confidence: object) -> tuple[float, float]:
    """Validate ``confidence`` and return it with the two-sided standard normal quantile."""
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise TypeError(
            f"confidence must be a number, got {type(confidence).__name__} {confidence!r}"
        )
    level = float(confidence)
    if not 0.0 < level < 1.0:  # also rejects NaN
        raise ParameterError(
            f"confidence must be strictly between 0 and 1, got {confidence!r}",
            parameter="confidence",
        )
    return level, NormalDist().inv_cdf(0.5 + level / 2.0)


def _wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    z2 = z * z
    centre = successes + z2 / 2.0
    half = z * math.sqrt(successes * (trials - successes) / trials + z2 / 4.0)
    denominator = trials + z2
    low = 0.0 if successes == 0 else (centre - half) / denominator
    high = 1.0 if successes == trials else (centre + half) / denominator
    return low, high


def _clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    failures = trials - successes
    # beta quantiles through the regularised incomplete beta inverse (scipy.special loads
    # in a fraction of the time scipy.stats takes, and every party process imports this)
    low = 0.0 if successes == 0 else float(betaincinv(successes, failures + 1, tail))
    high = 1.0 if failures == 0 else float(betaincinv(successes + 1, failures, 1 - tail))
    return low, high


def proportion_interval(
    successes: int,
    trials: int,
    *,
    confidence: float = 0.95,
    method: Method = "wilson",
) -> Proportion:
    """Estimate ``successes / trials`` with a two-sided confidence interval.

    Args:
        successes: number of units with the property, e.g. persons found in both lists.
        trials: number of units examined, e.g. persons in the source; must be positive.
        confidence: two-sided confidence level, strictly between 0 and 1.
        method: ``"wilson"`` (score interval, default) or ``"clopper-pearson"`` (exact,
            conservative).

    Returns:
        The estimate and interval; the bounds always lie in [0, 1] and bracket the estimate.

    Raises:
        TypeError: ``successes`` or ``trials`` is not an integer (bools are refused), or
            ``confidence`` is not a number.
        ParameterError: ``trials`` is 0, ``successes`` is outside ``0..trials``,
            ``confidence`` is not in (0, 1), or ``method`` is unknown.
    """
    k = _count(successes, "successes")
    n = _count(trials, "trials")
    if n == 0:
        raise ParameterError(
            "trials is 0: there is nothing to estimate a proportion from", parameter="trials"
        )
    if k > n:
        raise ParameterError(
            f"successes must be between 0 and trials ({n}), got successes={k}, trials={n}",
            parameter="successes",
        )
    level, z = _z_quantile(confidence)
    if method not in _METHODS:
        raise ParameterError(
            f"unknown method {method!r}; valid methods are {', '.join(map(repr, _METHODS))}",
            parameter="method",
        )

    estimate = k / n
    if method == "wilson":
        low, high = _wilson(k, n, z)
    else:
        low, high = _clopper_pearson(k, n, level)
    # Guard the bracketing and the unit range against the last bit of rounding.
    low = min(max(low, 0.0), estimate)
    high = max(min(high, 1.0), estimate)
    return Proportion(
        estimate=estimate, ci_low=low, ci_high=high, confidence=level, method=str(method)
    )


def dual_system_estimate(
    first: int,
    second: int,
    matched: int,
    *,
    confidence: float = 0.95,
) -> PopulationEstimate:
    """Estimate the population size from two lists and their overlap (Chapman's estimator).

    Args:
        first: number of persons in the first list (``n1``, e.g. the register).
        second: number of persons in the second list (``n2``, e.g. the source).
        matched: number of persons found in both (``m``, the PSI cardinality).
        confidence: two-sided confidence level for the normal interval, in (0, 1).

    Returns:
        ``N̂ = (n1+1)(n2+1)/(m+1) − 1`` with Seber's variance and the interval
        ``N̂ ± z·√Var``, the lower bound clipped to ``n1 + n2 − m``. See the module docstring
        for the assumptions this rests on.

    Raises:
        TypeError: a count is not an integer (bools are refused) or ``confidence`` is not a
            number.
        ParameterError: a count is negative, ``matched`` exceeds ``min(first, second)``,
            ``matched`` is 0 (no person in both lists: the estimate is undefined), or
            ``confidence`` is not in (0, 1).
    """
    n1 = _count(first, "first")
    n2 = _count(second, "second")
    m = _count(matched, "matched")
    if m > min(n1, n2):
        raise ParameterError(
            f"matched must not exceed min(first, second) = {min(n1, n2)}, "
            f"got matched={m}, first={n1}, second={n2}",
            parameter="matched",
        )
    if m == 0:
        raise ParameterError(
            f"matched is 0: no person is in both lists (first={n1}, second={n2}), so the "
            "dual-system estimate of the population size is undefined; check that both "
            "lists use the same identifiers, normalised alike",
            parameter="matched",
        )
    level, z = _z_quantile(confidence)

    observed = n1 + n2 - m
    # (n1 + 1)(n2 + 1)/(m + 1) - 1 rearranged so that the estimate is visibly >= observed and
    # the integer products are divided once, exactly rounded.
    estimate = observed + (n1 - m) * (n2 - m) / (m + 1)
    variance = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    half = z * math.sqrt(variance)
    return PopulationEstimate(
        estimate=estimate,
        variance=variance,
        ci_low=max(estimate - half, float(observed)),
        ci_high=estimate + half,
        confidence=level,
        method="chapman",
    )
