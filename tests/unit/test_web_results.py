"""Results as pages show them (tables with suppressed cells marked, interval and round
charts, CSV), and a manifest in plain words."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from privstats.jobs.kinds import get_kind
from privstats.service.manifest import DatasetUse, Manifest
from privstats.web.charts import Interval, interval_chart, line_chart
from privstats.web.plain import describe
from privstats.web.results import is_suppressed, result_csv, result_view

AGGREGATE: dict[str, Any] = {
    "computation": "aggregate",
    "parties": 3,
    "min_cell": 5,
    "groups": [
        {"by": {"region": "north"}, "count": 120, "sum_income": 3_600_000, "suppressed": False},
        {
            "by": {"region": "=HYPERLINK(1)"},
            "count": None,
            "sum_income": None,
            "suppressed": True,
            "reason": "fewer than 5 records",
        },
    ],
}


def test_an_interval_chart_scales_escapes_and_marks_suppressed_rows() -> None:
    chart = interval_chart(
        [
            Interval("north", 0.5, 0.4, 0.6),
            Interval("<b>&</b>", 0.25, 0.2, 0.3),
            Interval("islands", None, None, None),
        ],
        title="Coverage <by> domain",
    )

    assert chart.startswith('<svg data-testid="result-chart"')
    assert 'viewBox="0 0 640 118"' in chart and 'width="100%"' in chart
    assert '<title id="result-chart-title">Coverage &lt;by&gt; domain</title>' in chart
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in chart and "<b>" not in chart
    assert chart.count('<g class="interval">') == 2
    assert ">suppressed</text>" in chart
    assert "style=" not in chart  # the CSP forbids inline styles
    # the estimate 0.5 sits half-way between the 0 % and 100 % ticks
    ticks = [float(x) for x in re.findall(r'<line class="grid" x1="([\d.]+)"', chart)]
    dot = float(re.findall(r'<circle class="estimate" cx="([\d.]+)"', chart)[0])
    assert abs(dot - (ticks[0] + ticks[-1]) / 2) < 0.2


def test_a_line_chart_draws_one_curve_per_series() -> None:
    chart = line_chart({"accuracy": [0.5, 0.7, 0.8], "F1": [0.4, None, 0.75]}, title="Rounds")

    assert chart.count("<polyline") == 2
    assert "round 1 – 3" in chart
    assert chart.count(",") >= 5  # three points, then two


def test_aggregate_tables_mark_suppressed_cells_and_csv_is_one_row_per_group() -> None:
    view = result_view(get_kind("aggregate"), AGGREGATE)
    rows = list(csv.reader(io.StringIO(result_csv(AGGREGATE))))

    assert view.tables and not view.charts
    cells = [cell for row in view.tables[0].rows for cell in row]
    assert any(is_suppressed(cell) for cell in cells)
    assert not is_suppressed("120")
    assert rows[0] == ["region", "count", "sum_income", "suppressed", "reason"]
    assert rows[1] == ["north", "120", "3600000", "False", ""]
    # a label a spreadsheet would run as a formula is quoted
    assert rows[2][0] == "'=HYPERLINK(1)" and rows[2][1] == ""


def test_a_training_result_without_per_round_figures_says_so() -> None:
    result = {
        "computation": "fl_train",
        "rounds": 3,
        "best_round": 2,
        "accuracy": 0.81,
        "macro_f1": 0.78,
        "per_class_f1": {"a": 0.8, "b": 0.76},
        "epsilon": 2.5,
        "validation_loss": [0.9, 0.6, 0.62],
    }
    view = result_view(get_kind("fl_train"), result)

    assert len(view.charts) == 1 and 'data-testid="round-chart"' in view.charts[0]
    assert "validation loss" in view.charts[0]
    assert "accuracy 0.810, macro-F1 0.780, ε spent 2.5" in view.notes[0]
    assert "final model only" in view.notes[0]


def test_a_training_result_draws_its_validation_accuracy_and_loss_per_round() -> None:
    result = {
        "computation": "fl_train",
        "rounds": 3,
        "best_round": 2,
        "accuracy": 0.81,
        "macro_f1": 0.78,
        "per_class_f1": {"a": 0.8, "b": 0.76},
        "epsilon": None,
        "validation_loss": [0.9, 0.6],
        "validation_accuracy": [0.52, 0.7, 0.74],
    }
    view = result_view(get_kind("fl_train"), result)

    accuracy, loss = view.charts
    assert 'data-testid="round-chart"' in accuracy and "validation accuracy" in accuracy
    assert 'data-testid="loss-chart"' in loss and "validation loss" in loss


def test_a_training_result_with_per_round_figures_draws_them() -> None:
    history = [
        {"accuracy": 0.6, "f1": 0.5, "epsilon": 1.0},
        {"accuracy": 0.7, "f1": 0.6, "epsilon": 2.0},
    ]
    result = {
        "accuracy": 0.7,
        "macro_f1": 0.6,
        "rounds": 2,
        "best_round": 2,
        "per_class_f1": {"a": 0.6},
        "history": history,
    }
    view = result_view(get_kind("fl_train"), result)

    assert view.notes == []
    assert view.charts[0].count("<polyline") == 3


def test_a_result_without_groups_is_one_csv_row_per_figure() -> None:
    text = result_csv({"records": 10, "utility": {"tv": 0.1}, "risk": {"dcr": None}})

    assert text.splitlines() == ["figure,value", "records,10", "utility.tv,0.1", "risk.dcr,"]


def test_a_manifest_in_plain_words() -> None:
    kind = get_kind("coverage")
    manifest = Manifest(
        kind="coverage",
        parameters=kind.parse(
            {"key": "person_id", "peer_key": "customer_id", "by": ["region"]}
        ).model_dump(mode="json"),
        parties={"register": "nso", "source": "telco"},
        datasets={
            "register": DatasetUse(
                party="nso", dataset="population", columns=("person_id", "region")
            ),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        },
        recipients=("analyst",),
        disclosure={"min_cell": 10},
        code_version="0",
    )
    plain = describe(kind, manifest)
    settings = dict(plain.settings)

    assert plain.title == kind.title
    assert any(
        "nso (register" in line and "columns read: person_id, region" in line for line in plain.data
    )
    assert "produced by nso (role register) and goes to analyst" in plain.receives[0]
    assert plain.rules == ["cells with fewer than 10 persons (or records) are suppressed"]
    assert settings["Identifier column of the register (and of the source)"] == "person_id"
    assert settings["Domain columns of the register, e.g. region,age_group"] == "region"
    assert any(label.startswith("How identifiers are normalised") for label in settings)


def test_a_result_the_kinds_renderer_cannot_draw_is_shown_as_json() -> None:
    view = result_view(get_kind("fl_train"), {"accuracy": 0.5})

    assert view.tables == [] and view.charts == []
    assert '"accuracy": 0.5' in view.lines[0]
    assert "shown as JSON" in view.notes[0]
