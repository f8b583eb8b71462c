"""MST's privacy report: what ``fit`` measured, what it cost, and what ε does not cover.

Built from the measurements :class:`~privstats.synth.mst.MST` made, never from the data:
the cost is recomputed from the listed ρ's and δ's (approximate zCDP: ρ's add, δ's add;
ε by OpenDP's zCDP-to-(ε, δ) conversion at the δ left for it), and what lies outside ε is
named column by column (the schema's kinds, category lists declared public, bounds).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from privstats.disclosure.accounting import zcdp_epsilon
from privstats.disclosure.budget import Budget
from privstats.disclosure.report import PrivacyReport
from privstats.synth.mst_coding import Coding, bound_text

__all__ = ["mst_privacy_report"]

MECHANISM = (
    "discrete Gaussian (OpenDP) on counts; Gaussian threshold (OpenDP) on the counts of "
    "categories seen in the data; exponential mechanism as Gumbel report-noisy-max "
    "(OpenDP) for the tree"
)


def mst_privacy_report(
    *,
    codings: list[Coding],
    measurements: list[dict[str, Any]],
    tree: list[tuple[int, int]],
    delta_zcdp: float,
    bins: int,
    rows: int,
    total_sigma: float,
    from_data: Collection[str],
    public_bounds: Collection[str],
    public_categories: Collection[str],
    missing_sigmas: float,
) -> PrivacyReport:
    """The report of one fit (see the module doc); ``delta_zcdp`` is δ for the conversion."""
    spent_rho = math.fsum(m["rho"] for m in measurements)
    spent_delta = math.fsum(m.get("delta", 0.0) for m in measurements)
    names = [coding.spec.name for coding in codings]
    categorical = [c.spec.name for c in codings if c.spec.kind == "categorical"]
    declared = [name for name in categorical if name in public_categories]
    one_way = measurements[: len(codings)]  # the 1-way measurements come first, in order
    thresholds = {
        n: m["threshold"] for n, m in zip(names, one_way, strict=True) if "threshold" in m
    }
    sigma_one = next((m["sigma"] for m in measurements if m["what"].startswith("1-way")), 0.0)
    caveats = [
        "whether a column has missing values is not taken from the schema: missing values "
        f"are released only where the noisy count of its missing cell reached "
        f"{missing_sigmas:g}σ ({missing_sigmas * sigma_one:.0f} records)",
        "numeric bounds given by the user are assumed public; values outside them were "
        "clamped to the first or last bin",
        "neighbouring tables differ by adding or removing one record: a respondent with "
        "several records is protected only by group privacy",
        "ε is the standard zCDP-to-(ε, δ) bound, an upper bound on the privacy loss",
    ]
    outside = [
        "the column names and kinds (categorical, integer, continuous, date): taken from the "
        "schema and assumed public; when the schema was inferred from the confidential "
        "table (as the command line and the synthesize job do), a kind can depend on the "
        "data (integer when every value is a whole number)",
    ]
    if thresholds:
        caveats.append(
            "the categories of "
            + ", ".join(f"{name} (threshold {value})" for name, value in thresholds.items())
            + " were taken from the data and kept only where their noisy count reached the "
            "threshold (covered by ε and δ): rarer categories are not in the synthetic "
            "records, whose records were counted as missing"
        )
    if declared:
        caveats.append(
            f"the category lists of {', '.join(declared)} were declared public "
            "(public_categories): if the schema was inferred from this table they are not "
            "covered by ε"
        )
        outside.append(
            f"the category lists of {', '.join(declared)}: declared public "
            "(public_categories), released as the schema gives them; a category seen once "
            "in an inferred schema is disclosed by its presence"
        )
    if from_data:
        caveats.append(
            f"the bounds of {', '.join(from_data)} were taken from the data (the schema's "
            "observed low/high) and are not covered by ε"
        )
        outside.append(
            f"the bounds of {', '.join(from_data)}: the observed minimum and maximum "
            "(bounds from data), which the synthetic values can reach"
        )
    given = [name for name in names if name in public_bounds]
    if given:
        outside.append(f"the bounds of {', '.join(given)}: given by the user and assumed public")
    accounting = "zCDP, ρ added; ε from OpenDP's make_zCDP_to_approxDP"
    if thresholds:
        accounting = (
            "approximate zCDP: ρ added and the thresholds' δ added (delta_categories); ε from "
            "OpenDP's make_zCDP_to_approxDP at δ − delta_categories"
        )
    return PrivacyReport(
        method="mst",
        mechanism=MECHANISM,
        spent=Budget(epsilon=zcdp_epsilon(spent_rho, delta_zcdp), delta=delta_zcdp + spent_delta),
        figures={"rho": spent_rho, "delta_categories": spent_delta},
        accounting=accounting,
        covers="the fitted model, the noisy record count, the kept categories, this report "
        "and every table sampled from the model",
        details={
            "bins": bins,
            "bounds_from_data": list(from_data),
            "bounds": {
                coding.spec.name: [
                    bound_text(coding.low, coding.spec),
                    bound_text(coding.high, coding.spec),
                ]
                for coding in codings
                if coding.spec.kind != "categorical"
            },
            "noisy_total": {
                "records": rows,
                "sigma": total_sigma,
                "from": "the noisy 1-way marginals' totals, inverse-variance weighted "
                "(post-processing: no budget of its own)",
            },
        },
        outside_epsilon=tuple(outside),
        trailing={
            "tree": [[codings[a].spec.name, codings[b].spec.name] for a, b in tree],
            "measurements": measurements,
        },
        caveats=tuple(caveats),
    )
