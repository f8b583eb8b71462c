"""``run join-aggregate`` as a user runs it: one real process per party over 127.0.0.1.

The command is registered on a fresh typer app (as ``privstats run`` does) and invoked
through click's test runner; the two parties still run as separate processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from privstats.cli.run_join import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """privstats run (test stand-in)."""

    register(app)
    return app


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An NSO register of 400 persons in 4 regions (two of 6 and 5 persons) with a household
    size, and a bank with incomes (cents) and an account count for 300 of them + 50 more."""
    folder = tmp_path_factory.mktemp("join")
    rng = np.random.default_rng(11)
    n = 400
    small = {i: "Islands" for i in range(100, 106)} | {i: "Lakes" for i in range(106, 111)}
    register = pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "region": [small.get(i, rng.choice(["Coast", "Hills"])) for i in range(n)],
            "household": rng.integers(1, 7, n),
        }
    )
    ids = list(range(100, 450))
    bank = pd.DataFrame(
        {
            "customer": [f"p{i:05d}" for i in ids],
            "income": np.round(rng.lognormal(10, 0.5, len(ids)), 2),
            "accounts": rng.integers(0, 4, len(ids)),
            "household": rng.integers(1, 3, len(ids)),  # same name as a register column
        }
    )
    left, right = folder / "register.csv", folder / "bank.csv"
    register.to_csv(left, index=False)
    bank.to_csv(right, index=False)
    return left, right


def expected(left: Path, right: Path) -> pd.DataFrame:
    reg = pd.read_csv(left)
    bank = pd.read_csv(right).drop(columns="household")
    reg["id"] = reg["person_id"].str.lower()
    bank["id"] = bank["customer"].str.lower()
    bank["cents"] = (bank["income"] * 100).round().astype(int)
    merged = reg.merge(bank, on="id")
    return merged.groupby("region").agg(
        count=("id", "size"),
        cents=("cents", "sum"),
        accounts=("accounts", "sum"),
        household=("household", "sum"),
    )


def test_json_output_equals_pandas(app: typer.Typer, files: tuple[Path, Path]) -> None:
    left, right = files
    result = CliRunner().invoke(
        app,
        [
            "join-aggregate", "--left", f"nso={left}", "--right", f"bank={right}",
            "--key", "person_id", "--right-key", "customer", "--by", "region",
            "--value", "income", "--value", "accounts", "--left-value", "household", "--json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert set(release) == {
        "computation", "left_size", "right_size", "matched", "min_cell", "groups", "seconds",
        "rules", "margins",
    }  # fmt: skip
    assert release["rules"] == ["freq:10"]
    (total,) = release["margins"]
    assert total["by"] == {"region": "Total"} and total["count"] == release["matched"]
    assert (release["left_size"], release["right_size"], release["min_cell"]) == (400, 350, 10)
    want = expected(left, right)
    groups = {g["by"]["region"]: g for g in release["groups"]}
    for small in ("Islands", "Lakes"):
        assert groups[small]["suppressed"] and groups[small]["sum:income"] is None
    for region in ("Coast", "Hills"):
        entry, row = groups[region], want.loc[region]
        assert entry["count"] == row["count"]
        assert entry["sum:income"] == int(row["cents"]) / 100
        assert entry["sum:accounts"] == row["accounts"]
        assert entry["sum:household"] == row["household"]
        assert entry["mean:accounts"] == pytest.approx(row["accounts"] / row["count"])
    assert release["matched"] == int(want["count"].sum())


def test_readable_table(app: typer.Typer, files: tuple[Path, Path]) -> None:
    left, right = files
    result = CliRunner().invoke(
        app,
        [
            "join-aggregate", "--left", str(left), "--right", f"bank={right}",
            "--key", "person_id", "--right-key", "customer", "--by", "region",
            "--right-value", "income", "--min-cell", "5", "--decimals", "0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("region", "count", "sum income", "mean income", "Coast", "Hills", "Islands"):
        assert text in out
    assert "left 400" in out and "bank 350" in out  # party names in the caption


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--value", "household"], "both files"),
        (["--value", "salary"], "neither"),
    ],
)
def test_value_columns_are_looked_up_in_both_headers(
    app: typer.Typer, files: tuple[Path, Path], values: list[str], message: str
) -> None:
    left, right = files
    result = CliRunner().invoke(
        app,
        ["join-aggregate", "--left", str(left), "--right", str(right), "--key", "person_id",
         "--right-key", "customer", *values],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.stderr
    assert "--left-value" in result.stderr


def test_bad_options_are_reported_without_running(
    app: typer.Typer, files: tuple[Path, Path]
) -> None:
    left, right = files
    base = ["join-aggregate", "--left", str(left), "--key", "person_id"]
    result = CliRunner().invoke(app, [*base, "--right", str(right), "--decimals", "9"])
    assert result.exit_code == 2 and "decimals" in result.stderr
    result = CliRunner().invoke(app, [*base, "--right", f"x={right.with_name('none.csv')}"])
    assert result.exit_code == 2 and "not found" in result.stderr
    result = CliRunner().invoke(app, [*base, "--right", f"left={right}"])
    assert result.exit_code == 2 and "same party" in result.stderr


def test_option_errors_name_the_option_typed(app: typer.Typer, files: tuple[Path, Path]) -> None:
    left, right = files
    base = ["join-aggregate", "--left", str(left), "--right", str(right), "--key", "person_id"]
    result = CliRunner().invoke(app, [*base, "--min-cell", "0"])
    assert result.exit_code == 2
    assert "--min-cell: Input should be greater than or equal to 1" in result.stderr
    assert "min_cell" not in result.stderr
    result = CliRunner().invoke(app, [*base, "--id-remove", "(?<=a)b"])
    assert result.exit_code == 2
    assert "--id-remove pattern '(?<=a)b' is not a valid RE2 regular expression" in " ".join(
        result.stderr.split()
    )
    assert "party" not in result.stderr  # refused before any party process starts


def test_rules_and_dp_options(app: typer.Typer, files: tuple[Path, Path]) -> None:
    """--rule reaches the release (a failing p % rule withholds cells, with the reason);
    --dp-epsilon with --dp-bounds gives noisy figures and the privacy block."""
    left, right = files
    base = ["join-aggregate", "--left", str(left), "--right", str(right), "--key",
            "person_id", "--right-key", "customer", "--by", "region", "--right-value",
            "income", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, [*base, "--rule", "nk:3,40", "--min-cell", "3"])
    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)
    assert release["rules"] == ["freq:3", "nk:3,40"]
    by_region = {g["by"]["region"]: g for g in release["groups"]}
    for small in ("Islands", "Lakes"):  # 6 and 5 persons: their 3 largest hold > 40 %
        assert by_region[small]["reason"] == "nk:3,40: income: its largest values dominate the cell"
    assert not by_region["Coast"]["suppressed"] and not by_region["Hills"]["suppressed"]

    result = CliRunner().invoke(app, [*base, "--dp-epsilon", "1", "--dp-bounds", "income=0:100000"])
    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)
    assert release["privacy"]["epsilon"] <= 1 and release["privacy"]["bounds"] == {
        "income": [0.0, 100000.0]
    }
    coast = next(g for g in release["groups"] if g["by"]["region"] == "Coast")
    assert set(coast["noise_sd"]) == {"count", "sum:income", "mean:income"}

    result = CliRunner().invoke(app, [*base, "--dp-epsilon", "1"])
    assert result.exit_code != 0 and "--dp-bounds income=LOW:HIGH" in result.output
