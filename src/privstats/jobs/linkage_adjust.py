"""A released coverage table adjusted for linkage error at known rates.

When files are linked without a common identifier, ``matched`` holds false matches and
misses true ones. Given the rates (``--linkage-errors FMR,MMR[,FMR_SE,MMR_SE]``: the share
of declared matches that are false, the share of true matches missed, and their standard
errors, from an earlier clerical review or a published quality study), every released
cell — domains, margins, total — gets its coverage adjusted for them beside the unadjusted
one (:func:`privstats.stats.linkage_error.adjusted_coverage`, Ding & Fienberg 1994; Di
Consiglio & Tuoto 2015). The adjusted figures are computed from released counts and the
public rates only, so they disclose nothing more; a withheld cell has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from privstats.errors import ParameterError
from privstats.stats.linkage_error import LinkageErrors, adjusted_coverage

__all__ = ["add_adjusted", "given_errors"]

FIELD_DESCRIPTION = (
    "Known linkage error rates FMR,MMR[,FMR_SE,MMR_SE] (shares of false matches among those "
    "declared and of true matches missed, e.g. 0.02,0.1): each released cell's coverage is "
    "adjusted for them."
)


def given_errors(values: Sequence[float]) -> LinkageErrors | None:
    """The rates given as ``FMR,MMR[,FMR_SE,MMR_SE]``; None when none are given."""
    if not values:
        return None
    if len(values) not in (2, 4):
        raise ParameterError(
            f"--linkage-errors takes FMR,MMR or FMR,MMR,FMR_SE,MMR_SE, got {len(values)} "
            f"numbers: {list(values)}",
            parameter="linkage_errors",
        )
    rates = [float(v) for v in values]
    if not (0 <= rates[0] < 1 and 0 <= rates[1] < 1):
        raise ParameterError(
            f"--linkage-errors: the rates are shares in [0, 1), got {rates[0]} and {rates[1]}",
            parameter="linkage_errors",
        )
    ses = rates[2:] or [0.0, 0.0]
    return LinkageErrors(rates[0], rates[1], ses[0], ses[1], source="given")


def _cell(entry: dict[str, Any], errors: LinkageErrors, confidence: float) -> None:
    matched, size = entry.get("matched"), entry.get("register_size")
    if matched is None or not size:
        entry["adjusted"] = None
        return
    figure = adjusted_coverage(matched, size, errors, confidence)
    entry["adjusted"] = dict(zip(("estimate", "ci_low", "ci_high"), figure.adjusted, strict=True))


def add_adjusted(
    result: dict[str, Any], errors: LinkageErrors, *, review_in_register: bool = False
) -> None:
    """Add ``adjusted`` (estimate, ci_low, ci_high) to every released cell of ``result``
    and ``adjusted`` {errors, coverage} for the total (None where withheld).

    ``review_in_register``: the rates come from a review sample of this register, so the
    total's interval gets the covariance term of
    :func:`~privstats.stats.linkage_error.adjusted_coverage`; a domain's interval does not
    (its share of the sample is smaller), which leaves it a little wide, never narrow."""
    confidence = float(result["coverage"]["confidence"])
    for entry in (*result.get("groups", []), *result.get("margins", [])):
        _cell(entry, errors, confidence)
    if result.get("matched") is None or not result.get("register_size"):
        result["adjusted"] = None
        return
    total = adjusted_coverage(
        result["matched"],
        result["register_size"],
        errors,
        confidence,
        review_in_register=review_in_register,
    )
    result["adjusted"] = {"errors": errors.as_dict(), "coverage": total.as_dict()}
