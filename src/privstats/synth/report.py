"""A synthetic release's report as one self-contained HTML page (and its JSON twin).

The page holds the utility and risk figures side by side — UNECE's guide asks that they
be judged together — and, per column, the real and synthetic distributions as inline SVG
bars (no scripts, no external files: it opens offline and can be archived with the
release). Only aggregate shares of the real data appear in it, never a record.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privstats.files import write_text_atomically
from privstats.synth.schema import ColumnSpec, Schema

__all__ = ["column_shares", "render_html", "write_report"]

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
        counts_real = real.astype(object).where(real.notna(), None).value_counts(normalize=True)
        counts_syn = synthetic.astype(object).where(synthetic.notna(), None)
        counts_syn = counts_syn.value_counts(normalize=True)
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


def render_html(
    report: Mapping[str, Any], real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema
) -> str:
    """The whole page: settings, utility, risk, privacy budget, per-column distributions."""
    title = f"Synthetic data report — {html.escape(str(report.get('method', '')))}"
    sections = [
        f"<h1>{title}</h1>",
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
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:3px 8px}"
        "h3{margin-bottom:2px}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{style}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )


def write_report(
    path: str | Path,
    report: Mapping[str, Any],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
) -> None:
    """Write the HTML page (``.html``) or the JSON (any other suffix) to ``path``."""
    target = Path(path)
    text = (
        render_html(report, real, synthetic, schema)
        if target.suffix.lower() in (".html", ".htm")
        else json.dumps(report, indent=1, default=str) + "\n"
    )
    write_text_atomically(target, text)
