"""Charts drawn on the server as SVG: interval bars per domain, curves per round.

The SVG scales to its container (a ``viewBox``, no fixed width), carries a ``<title>`` and
``<desc>`` for screen readers, and draws with classes the stylesheet colours (no inline
style, which the pages' Content-Security-Policy forbids). Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Interval", "interval_chart", "line_chart"]

_WIDTH = 640
_LABEL = 200
_ROW = 26
_TOP = 30


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: an estimate and its interval (None: suppressed)."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None


def _x(value: float, lo: float, hi: float) -> float:
    span = hi - lo or 1.0
    return _LABEL + (min(max(value, lo), hi) - lo) / span * (_WIDTH - _LABEL - 20)


def interval_chart(
    rows: Sequence[Interval], *, title: str, test_id: str = "result-chart", percent: bool = True
) -> Markup:
    """Horizontal interval bars (low–high, a dot at the estimate) with one row per domain."""
    height = _TOP + _ROW * max(len(rows), 1) + 10
    values = [v for r in rows for v in (r.low, r.high, r.estimate) if v is not None]
    lo, hi = (0.0, 1.0) if percent else (min(values, default=0.0), max(values, default=1.0))
    parts = [
        f'<svg data-testid="{escape(test_id)}" class="chart" role="img" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{escape(test_id)}-title {escape(test_id)}-desc">',
        f'<title id="{escape(test_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(test_id)}-desc">One row per domain: the estimate as a dot and its '
        f"interval as a bar; suppressed domains are marked.</desc>",
    ]
    for tick in range(5):
        value = lo + (hi - lo) * tick / 4
        x = _x(value, lo, hi)
        shown = f"{100 * value:.0f}%" if percent else f"{value:.3g}"
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{_TOP - 8}" x2="{x:.1f}" y2="{height - 6}"/>'
            f'<text class="tick" x="{x:.1f}" y="{_TOP - 12}" text-anchor="middle">{shown}</text>'
        )
    for i, row in enumerate(rows):
        y = _TOP + _ROW * i + _ROW / 2
        parts.append(
            f'<text class="label" x="{_LABEL - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(row.label[:32])}</text>"
        )
        if row.estimate is None or row.low is None or row.high is None:
            parts.append(
                f'<text class="suppressed" x="{_LABEL + 4}" y="{y + 4:.1f}">suppressed</text>'
            )
            continue
        x1, x2, xe = _x(row.low, lo, hi), _x(row.high, lo, hi), _x(row.estimate, lo, hi)
        parts.append(
            f'<g class="interval"><title>{escape(row.label)}: {row.estimate:.4g} '
            f"({row.low:.4g} – {row.high:.4g})</title>"
            f'<line class="bar" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}"/>'
            f'<line class="cap" x1="{x1:.1f}" y1="{y - 6:.1f}" x2="{x1:.1f}" y2="{y + 6:.1f}"/>'
            f'<line class="cap" x1="{x2:.1f}" y1="{y - 6:.1f}" x2="{x2:.1f}" y2="{y + 6:.1f}"/>'
            f'<circle class="estimate" cx="{xe:.1f}" cy="{y:.1f}" r="4"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def line_chart(
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    test_id: str = "round-chart",
    x_label: str = "round",
) -> Markup:
    """Curves over rounds 1…n, one per series (e.g. accuracy and F1), on a 0–1 scale
    unless a value lies outside it."""
    width, height, left, bottom, top = _WIDTH, 280, 50, 40, 20
    n = max((len(v) for v in series.values()), default=0)
    values = [v for vs in series.values() for v in vs if v is not None]
    lo = min([0.0, *values])
    hi = max([1.0, *values])
    span = hi - lo or 1.0

    def at(i: int, v: float) -> tuple[float, float]:
        x = left + (i / max(n - 1, 1)) * (width - left - 20)
        y = top + (1 - (v - lo) / span) * (height - top - bottom)
        return x, y

    parts = [
        f'<svg data-testid="{escape(test_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{escape(test_id)}-title">',
        f'<title id="{escape(test_id)}-title">{escape(title)}</title>',
    ]
    for tick in range(5):
        value = lo + span * tick / 4
        _, y = at(0, value)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{value:.2g}</text>"
        )
    parts.append(
        f'<text class="tick" x="{(width + left) / 2:.0f}" y="{height - 8}" '
        f'text-anchor="middle">{escape(x_label)} 1 – {n}</text>'
    )
    for index, (name, vs) in enumerate(series.items()):
        points = " ".join(
            "{:.1f},{:.1f}".format(*at(i, v)) for i, v in enumerate(vs) if v is not None
        )
        parts.append(
            f'<polyline class="series series-{index % 4}" fill="none" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
            f'<text class="legend series-{index % 4}" x="{left + 10 + 140 * index}" '
            f'y="{top - 6}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()
