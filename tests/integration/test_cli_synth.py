"""``privstats synth fit-sample`` and ``synth evaluate`` on files, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from privstats.cli import app

UTILITY = {
    "pmse", "s_pmse", "pmse_cart", "s_pmse_cart", "tvd_1way", "tvd_2way", "tvd_2way_max",
    "ci_overlap", "tstr_accuracy", "tstr_auc",
}  # fmt: skip
RISK = {"exact_copies", "dcr_closer_to_train", "repu", "tcap"}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)  # test data only
    n = 1_600
    table = pd.DataFrame(
        {
            "age": rng.integers(16, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(list("NSEW"), n),
            "income": np.where(rng.random(n) < 0.6, 0, rng.lognormal(9, 1, n)).round(2),
        }
    )
    real, holdout = tmp_path / "real.csv", tmp_path / "holdout.csv"
    table.iloc[:1_200].to_csv(real, index=False)
    table.iloc[1_200:].to_csv(holdout, index=False)
    return real, holdout


def test_fit_sample_writes_the_table_and_a_self_contained_report(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    real, holdout = files
    out, report = tmp_path / "syn.csv", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["synth", "fit-sample", str(real), "--method", "cart", "--out", str(out), "--seed", "5",
         "--quasi", "age,region", "--report", str(report), "--holdout", str(holdout),
         "--target", "sex", "--sensitive", "sex", "--regression", "income ~ age + sex", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["utility"]) == UTILITY and set(summary["risk"]) == RISK
    assert summary["seed"] == 5 and summary["records"] == 1_200
    synthetic = pd.read_csv(out)
    assert list(synthetic.columns) == ["age", "sex", "region", "income"]
    assert set(synthetic["region"]) <= set("NSEW")
    page = report.read_text(encoding="utf-8")
    assert all(f"<h3>{name} " in page for name in synthetic.columns)
    assert "<script" not in page and "src=" not in page and "href=" not in page

    evaluated = CliRunner().invoke(
        app,
        ["synth", "evaluate", "--real", str(real), "--synthetic", str(out), "--holdout",
         str(holdout), "--quasi", "age,region", "--sensitive", "sex", "--json"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads(evaluated.stdout)
    assert again["utility"]["pmse"] == pytest.approx(summary["utility"]["pmse"])
    assert again["risk"]["exact_copies"] == pytest.approx(summary["risk"]["exact_copies"])


def test_mst_needs_public_bounds_and_reports_its_budget(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    real, _ = files
    out = tmp_path / "mst.csv"
    refused = CliRunner().invoke(app, ["synth", "fit-sample", str(real), "--method", "mst",
                                       "--out", str(out)])  # fmt: skip
    assert refused.exit_code == 2
    assert "age" in refused.output and not out.exists()
    result = CliRunner().invoke(
        app,
        ["synth", "fit-sample", str(real), "--method", "mst", "--epsilon", "0.5", "--out",
         str(out), "--bounds", "age=0:120", "--bounds", "income=0:200000", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    privacy = json.loads(result.stdout)["privacy"]
    assert privacy["epsilon"] == pytest.approx(0.5)
    assert pd.read_csv(out)["age"].between(0, 120).all()
