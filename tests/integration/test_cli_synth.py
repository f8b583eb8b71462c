"""``privstats synth fit-sample`` and ``synth evaluate`` on files, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
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
         str(out), "--bounds", "age=0:120", "--bounds", "income=0:200000",
         "--public-categories", "region", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    privacy = json.loads(result.stdout)["privacy"]
    assert privacy["epsilon"] == pytest.approx(0.5)
    assert pd.read_csv(out)["age"].between(0, 120).all()
    # region's code list declared public (outside ε); sex's categories passed a threshold
    assert any("category lists of region" in item for item in privacy["outside_epsilon"])
    assert any("categories of sex (threshold" in item for item in privacy["caveats"])


def test_mst_draws_a_noisy_number_of_rows_and_releases_only_what_epsilon_covers(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(9)  # test data only
    n = 1_300
    income = rng.lognormal(9, 1, n).round(3)
    income[40] = 987654.321  # a unique maximum: never in the released report
    real = tmp_path / "real.csv"
    pd.DataFrame({"age": rng.integers(16, 90, n), "sex": rng.choice(["F", "M"], n),
                  "income": income}).to_csv(real, index=False)  # fmt: skip
    out, report, owner = tmp_path / "s.csv", tmp_path / "r.json", tmp_path / "owner.json"
    result = CliRunner().invoke(
        app,
        ["synth", "fit-sample", str(real), "--method", "mst", "--out", str(out), "--bounds",
         "age=0:120", "--bounds", "income=0:1000000", "--report", str(report),
         "--owner-report", str(owner), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    noisy = summary["privacy"]["noisy_total"]
    assert len(pd.read_csv(out)) == summary["records"] == noisy["records"]
    assert abs(noisy["records"] - n) < 6 * noisy["sigma"]  # N plus noise, not N itself
    assert summary["fitted_records"] == n  # the owner's terminal
    released = report.read_text(encoding="utf-8")
    assert "987654" not in released and "987,654" not in released
    assert not {"fitted_records", "utility", "risk", "seed"} & set(json.loads(released))
    kept = json.loads(owner.read_text(encoding="utf-8"))
    assert kept["fitted_records"] == n and set(kept["utility"]) == UTILITY
    assert "seed" not in kept


def test_without_the_synth_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("age,sex\n30,F\n", encoding="utf-8")
    script = (
        "import sys; sys.modules['pandas'] = None; "
        "from privstats.cli import main; "
        f"sys.argv = ['privstats', 'synth', 'fit-sample', {str(real)!r}, '--out', "
        f"{str(tmp_path / 's.csv')!r}]; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no traceback
    assert "privstats synth needs the 'synth' extra: pip install 'privstats" in done.stderr
    assert not (tmp_path / "s.csv").exists()


def test_the_missing_extra_error_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from privstats.errors import MissingExtraError
    from privstats.jobs.synthesize import require_synth

    require_synth("privstats synth", dp=True)
    monkeypatch.setitem(sys.modules, "opendp", None)
    require_synth("privstats synth")  # cart and copula need no OpenDP
    with pytest.raises(MissingExtraError) as caught:
        require_synth("privstats synth", dp=True)
    assert str(caught.value) == (
        "privstats synth needs the 'synth' extra: pip install 'privstats[synth]'"
    )
    assert caught.value.extra == "synth"


@pytest.mark.parametrize("option", ["--out", "--report", "--owner-report"])
def test_an_output_folder_that_does_not_exist_is_refused_before_the_fit(
    files: tuple[Path, Path], tmp_path: Path, option: str
) -> None:
    real, _ = files
    missing = tmp_path / "no" / "such"
    paths = {"--out": tmp_path / "s.csv", "--report": None, "--owner-report": None}
    paths[option] = missing / "file.html"
    args = ["synth", "fit-sample", str(real), "--method", "copula"]
    for name, path in paths.items():
        if path is not None:
            args += [name, str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"{option} {missing / 'file.html'}: the folder {missing} does not exist" in (
        result.output
    )
    assert "Fitting" not in result.output and not missing.exists()
    assert not (tmp_path / "s.csv").exists()


def test_mst_bounds_error_uses_the_command_line_words(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    real, _ = files
    result = CliRunner().invoke(
        app, ["synth", "fit-sample", str(real), "--method", "mst", "--out", str(tmp_path / "s.csv"),
              "--bounds", "age=0:120"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--bounds income=LOW:HIGH" in result.output
    assert "--bounds-from-data" in result.output
    assert "bounds={" not in result.output and "bounds_from_data=True" not in result.output


def test_evaluate_names_the_table_a_column_is_missing_from(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    real, _ = files
    synthetic = tmp_path / "syn.csv"
    pd.read_csv(real).drop(columns="sex").to_csv(synthetic, index=False)
    result = CliRunner().invoke(
        app, ["synth", "evaluate", "--real", str(real), "--synthetic", str(synthetic)]
    )
    assert result.exit_code == 2
    assert f"the synthetic table {synthetic}: no column 'sex'" in result.output
    result = CliRunner().invoke(
        app, ["synth", "evaluate", "--real", str(real), "--synthetic", str(real), "--sensitive",
              "occupation"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"--sensitive 'occupation': the real table {real} has no column" in result.output
    latin = tmp_path / "latin.csv"
    latin.write_bytes(real.read_bytes().replace(b"\n", "\nJosé,".encode("latin-1"), 1))
    result = CliRunner().invoke(
        app, ["synth", "evaluate", "--real", str(latin), "--synthetic", str(real)]
    )
    assert result.exit_code == 2
    assert f"the real table {latin}, line 2: not UTF-8 text" in result.output
    assert "save the file with UTF-8 text encoding" in result.output
