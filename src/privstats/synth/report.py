"""A synthetic release's report as one self-contained HTML page (and its JSON twin).

The page holds the utility and risk figures side by side — UNECE's guide asks that they
be judged together — and, per column, the real and synthetic distributions as inline SVG
bars (no scripts, no external files: it opens offline and can be archived with the
release). Only aggregate shares of the real data appear in it, never a record.

Two audiences
-------------
The **owner's report** (``audience="owner"``) holds everything: the record counts of the
real table and the holdout, the utility and risk figures, and the real and synthetic
shares per column (categories, or decile bins of the real values — whose edges are real
quantiles, the outer ones the real minimum and maximum).

The **released report** (``audience="release"``, the default) goes out with the synthetic
records. For a method without a formal guarantee (CART, copula) it is the owner's report:
the owner reviews those aggregate shares as part of the release. For a differentially
private method (the report has ``privacy``) it holds only what the privacy report covers
or states: the privacy accounting, the number of synthetic records (a noisy count unless
the user fixed it), the public bounds and the synthetic records' own shares within those
bounds — no real count, quantile, minimum or maximum, no utility or risk figure (they
compare with the real data: :data:`OWNER_ONLY_KEYS`). It says what is released but not
covered by ε (``privacy.outside_epsilon``) and what it leaves out (``owner_only``). Bounds
taken from the data (``bounds_from_data``) are the real minimum and maximum: such a
release opens with a warning saying so, and its JSON carries it as
``not_covered_warning`` (:func:`data_bounds_warning`).
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from privstats.files import write_text_atomically
from privstats.synth.schema import ColumnSpec, Schema

__all__ = [
    "OWNER_ONLY_KEYS",
    "Audience",
    "column_shares",
    "data_bounds_warning",
    "released_report",
    "render_html",
    "synthetic_shares",
    "write_report",
]

Audience = Literal["release", "owner"]
OWNER_ONLY_KEYS = ("fitted_records", "holdout_records", "seconds", "utility", "risk")
"""Report keys a differentially private release leaves out: they are not covered by ε."""
OWNER_ONLY_NOTE = (
    "not in this report: the record counts of the real table and of the holdout, the time "
    "taken, and the utility and disclosure-risk figures — they compare the synthetic "
    "records with the real ones, are not covered by ε and are for the data owner's eyes "
    "only (the owner's report)"
)
COVERED_NOTE = (
    "covered by (ε, δ): the synthetic records, their number (drawn from a noisy count of the "
    "records unless it was set explicitly), the categories kept by a noisy threshold, and "
    "this report's figures: the privacy accounting and the synthetic records' shares "
    "within the bounds"
)

_BINS = 10
_MAX_BARS = 12
_READINGS = {
    "pmse": "propensity mean squared error (logistic, main effects); 0 is indistinguishable",
    "s_pmse": "pMSE over its null expectation; near 1 is good, under 2 is commonly accepted",
    "pmse_cart": "pMSE with a CART propensity model",
    "s_pmse_cart": "CART pMSE over its permutation null",
    "tvd_1way": "mean total variation distance of single-variable distributions (0 best)",
    "tvd_2way": "mean total variation distance of two-way tables (0 best)",
    "tvd_2way_max": "worst two-way table's total variation distance",
    "ci_overlap": "mean confidence-interval overlap of the named regression (1 best)",
    "tstr_accuracy": "accuracy on the real data of a model trained on the synthetic",
    "tstr_auc": "AUC on the real data of a model trained on the synthetic",
    "exact_copies": "share of synthetic records identical to a real record",
    "dcr_closer_to_train": "share of synthetic records closer to the training than to the "
    "holdout data; 0.5 means no closer to the real records than to unseen ones",
    "repu": "replicated uniques: real records unique on the quasi-identifiers that a "
    "synthetic unique reproduces, % of real records",
    "tcap": "targeted correct attribution probability of the sensitive variable",
}


def column_shares(
    real: pd.Series, synthetic: pd.Series, column: ColumnSpec
) -> list[tuple[str, float, float]]:
    """(label, real share, synthetic share) per category or real-quantile bin, plus missing."""
    if column.kind == "categorical":
        counts_real = _category_shares(real)
        counts_syn = _category_shares(synthetic)
        labels = list(counts_real.index[:_MAX_BARS])
        rows = [
            (str(v), float(counts_real.get(v, 0.0)), float(counts_syn.get(v, 0.0))) for v in labels
        ]
        rest_real = 1.0 - sum(r for _, r, _ in rows) - float(real.isna().mean())
        rest_syn = 1.0 - sum(s for _, _, s in rows) - float(synthetic.isna().mean())
        if len(counts_real) > _MAX_BARS:
            rows.append(("(other)", max(rest_real, 0.0), max(rest_syn, 0.0)))
    else:
        x_real = _numbers(real)
        x_syn = _numbers(synthetic)
        present = x_real[~np.isnan(x_real)]
        edges: list[float] = (
            np.unique(np.quantile(present, np.linspace(0, 1, _BINS + 1))).tolist()
            if present.size
            else []
        )
        rows = []
        if len(edges) >= 2:
            for low, high, last in zip(edges[:-1], edges[1:], range(len(edges) - 1), strict=True):
                top = last == len(edges) - 2

                def share(x: np.ndarray, lo: float = low, hi: float = high, t: bool = top) -> float:
                    inside = (x >= lo) & ((x <= hi) if t else (x < hi))
                    return float(inside.mean()) if x.size else 0.0

                rows.append((f"{_fmt(low)}–{_fmt(high)}", share(x_real), share(x_syn)))
    if real.isna().any() or synthetic.isna().any():
        rows.append(("(missing)", float(real.isna().mean()), float(synthetic.isna().mean())))
    return rows


def _category_shares(values: pd.Series) -> pd.Series:
    """Each category's share of all records, missing ones included (most frequent first)."""
    counts = values.dropna().astype(str).value_counts()
    shares: pd.Series = counts / max(len(values), 1)
    return shares


def released_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``report`` released with the synthetic records (module doc)."""
    if not report.get("privacy"):
        return dict(report)
    out = {key: value for key, value in report.items() if key not in OWNER_ONLY_KEYS}
    out["covered_by_epsilon"] = COVERED_NOTE
    warning = data_bounds_warning(report["privacy"])
    if warning:
        out["not_covered_warning"] = warning
    out["owner_only"] = OWNER_ONLY_NOTE
    return out


def data_bounds_warning(privacy: Mapping[str, Any]) -> str | None:
    """The warning a release with bounds taken from the data carries (None without them).

    Such bounds are the real minimum and maximum: one person's exact value each, released
    as the bounds and reachable by synthetic values, outside ε.
    """
    columns = [str(name) for name in privacy.get("bounds_from_data") or ()]
    if not columns:
        return None
    bounds = privacy.get("bounds", {})
    shown = "; ".join(
        f"{name}: {bounds[name][0]} to {bounds[name][1]}" if name in bounds else name
        for name in columns
    )
    return (
        f"NOT COVERED BY ε: the bounds of {', '.join(columns)} were taken from the "
        f"confidential data ({shown}). They are the real minimum and maximum, each one "
        "person's exact value, released here and reachable by synthetic values; the (ε, δ) "
        "above does not protect them. Give public bounds instead to release only what ε covers."
    )


def synthetic_shares(
    synthetic: pd.Series, column: ColumnSpec, bounds: tuple[Any, Any] | None
) -> list[tuple[str, float]]:
    """(label, synthetic share) per category, or per tenth of the public ``bounds``.

    Uses nothing of the real data but the schema's category lists: the figures of a
    differentially private release's report.
    """
    rows: list[tuple[str, float]] = []
    if column.kind == "categorical":
        counts = _category_shares(synthetic)
        shown = list(counts.index[:_MAX_BARS])
        rows = [(str(v), float(counts[v])) for v in shown]
        if len(counts) > _MAX_BARS:
            rows.append(("(other)", float(counts.iloc[_MAX_BARS:].sum())))
    elif bounds is not None:
        dates = column.kind == "date"
        low, high = (_as_days(b) if dates else float(b) for b in bounds)
        x = _numbers(synthetic)
        present = x[~np.isnan(x)]
        if column.kind == "integer" and high - low <= _BINS + 1:  # one bar per whole number
            for value in range(math.ceil(low), math.floor(high) + 1):
                share = float((present == value).sum() / x.size) if x.size else 0.0
                rows.append((str(value), share))
            if synthetic.isna().any():
                rows.append(("(missing)", float(synthetic.isna().mean())))
            return rows
        edges = np.linspace(low, high, _BINS + 1) if high > low else np.array([low, high])
        for k, (a, b) in enumerate(itertools.pairwise(edges)):
            top = k == len(edges) - 2
            inside = (present >= a) & ((present <= b) if top else (present < b))
            share = float(inside.sum() / x.size) if x.size else 0.0
            label = f"{_day(a)}–{_day(b)}" if dates else f"{_fmt(a)}–{_fmt(b)}"
            rows.append((label, share))
    if synthetic.isna().any():
        rows.append(("(missing)", float(synthetic.isna().mean())))
    return rows


def _as_days(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return float((pd.Timestamp(value) - pd.Timestamp("1970-01-01")).days)


def _day(days: float) -> str:
    return str((pd.Timestamp("1970-01-01") + pd.Timedelta(days=round(days))).date())


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        days: np.ndarray = values.to_numpy(dtype="datetime64[D]").astype("int64").astype(float)
        days[values.isna().to_numpy()] = np.nan
        return days
    numbers: np.ndarray = pd.to_numeric(values, errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    return numbers


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _bars(rows: list[tuple[str, float, float]]) -> str:
    """A small horizontal bar chart: real (dark) above synthetic (light) per label."""
    height = 22 * len(rows) + 8
    top = max([max(r, s) for _, r, s in rows] + [1e-9])
    parts = [f'<svg width="520" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, r, s) in enumerate(rows):
        y = 4 + 22 * i
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="11">{html.escape(label[:28])}</text>'
            f'<rect x="190" y="{y}" width="{260 * r / top:.1f}" height="9" fill="#1f4e79"/>'
            f'<rect x="190" y="{y + 10}" width="{260 * s / top:.1f}" height="9" fill="#8fb8de"/>'
            f'<text x="{455}" y="{y + 13}" font-size="10">{100 * r:.1f}% / {100 * s:.1f}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _single_bars(rows: list[tuple[str, float]]) -> str:
    """A small horizontal bar chart of the synthetic shares alone."""
    height = 14 * len(rows) + 8
    top = max([s for _, s in rows] + [1e-9])
    parts = [f'<svg width="520" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, share) in enumerate(rows):
        y = 4 + 14 * i
        parts.append(
            f'<text x="0" y="{y + 10}" font-size="11">{html.escape(label[:28])}</text>'
            f'<rect x="190" y="{y}" width="{260 * share / top:.1f}" height="10" '
            'fill="#8fb8de"/>'
            f'<text x="{455}" y="{y + 10}" font-size="10">{100 * share:.1f}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure_rows(figures: Mapping[str, Any]) -> str:
    rows = []
    for key, value in figures.items():
        shown = (
            "—" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        )
        reading = html.escape(_READINGS.get(key, ""))
        rows.append(
            f"<tr><td><code>{html.escape(key)}</code></td><td>{shown}</td><td>{reading}</td></tr>"
        )
    return "".join(rows)


def _page(title: str, sections: list[str]) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:3px 8px}"
        "h3{margin-bottom:2px}.owner{border:2px solid #b00;padding:6px 10px}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{style}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )


def _render_dp_release(report: Mapping[str, Any], synthetic: pd.DataFrame, schema: Schema) -> str:
    """A differentially private release's page: nothing computed from the real data."""
    privacy = report["privacy"]
    method = html.escape(str(report.get("method", "")))
    title = f"Synthetic data release — {method} (differentially private)"
    outside = "".join(
        f"<li>{html.escape(str(item))}</li>" for item in privacy.get("outside_epsilon", ())
    )
    released = released_report(report)
    warning = data_bounds_warning(privacy)
    sections = [
        f"<h1>{title}</h1>",
        *([f"<p class='owner'><b>{html.escape(warning)}</b></p>"] if warning else []),
        f"<p>{len(synthetic):,} synthetic records, {len(schema.columns)} columns; "
        f"(ε, δ) = ({privacy['epsilon']:.4g}, {privacy['delta']:.3g}).</p>",
        "<h2>What this report releases</h2><ul>"
        f"<li>{html.escape(COVERED_NOTE)}</li>"
        f"<li>released but <b>not covered by ε</b>:<ul>{outside}</ul></li>"
        f"<li>{html.escape(OWNER_ONLY_NOTE)}</li></ul>",
        "<h2>Differential privacy</h2><pre>"
        + html.escape(json.dumps(privacy, indent=1, default=str))
        + "</pre>",
        "<h2>Distributions of the synthetic records</h2>"
        "<p>Shares of synthetic records per category, or per tenth of the public bounds.</p>",
    ]
    bounds = privacy.get("bounds", {})
    for column in schema:
        pair = bounds.get(column.name)
        rows = synthetic_shares(synthetic[column.name], column, None if pair is None else pair)
        sections.append(
            f"<h3>{html.escape(column.name)} <small>({column.kind})</small></h3>"
            + _single_bars(rows)
        )
    sections.append(
        "<h2>Report (JSON)</h2><pre>"
        + html.escape(json.dumps(released, indent=1, default=str))
        + "</pre>"
    )
    return _page(title, sections)


def render_html(
    report: Mapping[str, Any],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    audience: Audience = "release",
) -> str:
    """The whole page: settings, utility, risk, privacy budget, per-column distributions.

    For a differentially private release's ``audience="release"`` page ``real`` is not
    read (module doc).
    """
    if report.get("privacy") and audience == "release":
        return _render_dp_release(report, synthetic, schema)
    title = f"Synthetic data report — {html.escape(str(report.get('method', '')))}"
    sections = [f"<h1>{title}</h1>"]
    if report.get("privacy"):
        sections.append(
            "<p class='owner'><b>For the data owner only.</b> This page compares the "
            "synthetic records with the real ones (record counts, utility and risk figures, "
            "real shares per decile of the real values, whose outer edges are the real "
            "minimum and maximum): none of it is covered by ε. Release the synthetic "
            "records with the released report, not with this page.</p>"
        )
    sections += [
        f"<p>{len(real):,} real records, {len(synthetic):,} synthetic records, "
        f"{len(schema.columns)} columns.</p>",
        "<h2>Utility</h2><table>" + _figure_rows(report.get("utility", {})) + "</table>",
        "<h2>Disclosure risk</h2><table>" + _figure_rows(report.get("risk", {})) + "</table>",
    ]
    privacy = report.get("privacy")
    if privacy:
        sections.append(
            "<h2>Differential privacy</h2><pre>"
            + html.escape(json.dumps(privacy, indent=1, default=str))
            + "</pre>"
        )
    sections.append(
        "<h2>Distributions, real (dark) and synthetic (light)</h2>"
        "<p>Shares of records per category, or per decile bin of the real values.</p>"
    )
    for column in schema:
        rows = column_shares(real[column.name], synthetic[column.name], column)
        sections.append(
            f"<h3>{html.escape(column.name)} <small>({column.kind})</small></h3>{_bars(rows)}"
        )
    return _page(title, sections)


def write_report(
    path: str | Path,
    report: Mapping[str, Any],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    audience: Audience = "release",
) -> None:
    """Write the HTML page (``.html``) or the JSON (any other suffix) to ``path``.

    ``audience`` as in :func:`render_html`; the JSON of a release is
    :func:`released_report`.
    """
    target = Path(path)
    if target.suffix.lower() in (".html", ".htm"):
        text = render_html(report, real, synthetic, schema, audience=audience)
    else:
        shown = released_report(report) if audience == "release" else dict(report)
        text = json.dumps(shown, indent=1, default=str) + "\n"
    write_text_atomically(target, text)
