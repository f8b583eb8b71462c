"""``run aggregate`` as a user runs it: one real process per party, linked over 127.0.0.1.

The command is registered on a fresh typer app (as ``privstats run`` does) and invoked
through click's test runner; the parties still run as separate processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from privstats.cli.run_aggregate import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """privstats run (test stand-in)."""

    register(app)
    return app


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three regional offices' household files; "Islands" has 6 households in all."""
    folder = tmp_path_factory.mktemp("agg")
    rng = np.random.default_rng(4)
    paths = {}
    for name, n, regions in (
        ("north", 300, ["Coast", "Hills"]),
        ("south", 200, ["Coast", "Plain"]),
        ("east", 6, ["Islands"]),
    ):
        df = pd.DataFrame(
            {
                "region": rng.choice(regions, n),
                "size": rng.integers(1, 7, n),
                "income": np.round(rng.lognormal(10, 0.5, n), 2),
            }
        )
        df["spend"] = np.round(0.6 * df["income"] + rng.normal(0, 2_000, n), 2)
        df.loc[df.sample(frac=0.05, random_state=1).index, "spend"] = np.nan
        paths[name] = folder / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


def _pooled(files: dict[str, Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in files.values()], ignore_index=True)


def _party_args(files: dict[str, Path]) -> list[str]:
    return [arg for name, path in files.items() for arg in ("--party", f"{name}={path}")]


def test_json_output_equals_pandas_on_the_pooled_files(
    app: typer.Typer, files: dict[str, Path]
) -> None:
    stats = ["count", "sum:size", "mean:income", "var:income", "median:size", "corr:income,spend"]
    args = [arg for s in stats for arg in ("--stat", s)]

    model = ["--ols", "spend ~ income + size"]
    result = CliRunner().invoke(
        app, ["aggregate", *_party_args(files), *args, "--by", "region", *model, "--json"]
    )

    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert set(release) == {
        *("computation", "parties", "min_cell", "groups", "ols", "seconds"),
        *("rules", "margins", "audit"),
    }
    assert release["rules"] == ["freq:10"] and release["audit"]["protected"] is True
    assert (release["computation"], release["parties"], release["min_cell"]) == ("aggregate", 3, 10)
    pooled = _pooled(files)
    groups = {g["by"]["region"]: g for g in release["groups"]}
    assert list(groups) == ["Coast", "Hills", "Islands", "Plain"]
    # Islands (6) is below 10; the next smallest region is withheld with it
    smallest = pooled[pooled["region"] != "Islands"]["region"].value_counts().idxmin()
    assert {r for r, g in groups.items() if g["suppressed"]} == {"Islands", smallest}
    for region, group in groups.items():
        if group["suppressed"]:
            hidden = ("by", "suppressed", "status", "reason")
            figures = {k: v for k, v in group.items() if k not in hidden}
            assert set(figures) == {"count", *stats[1:]}
            assert set(figures.values()) == {None}
            continue
        part = pooled[pooled["region"] == region]
        assert group["count"] == len(part)
        assert group["sum:size"] == int(part["size"].sum())
        assert group["mean:income"] == pytest.approx(part["income"].mean(), rel=1e-9)
        assert group["var:income"] == pytest.approx(part["income"].var(), rel=1e-9)
        assert group["median:size"] == np.quantile(part["size"], 0.5, method="inverted_cdf")
        corr = part[["income", "spend"]].dropna().corr().to_numpy()
        assert np.allclose(group["corr:income,spend"], corr, rtol=1e-9)
    complete = pooled[["spend", "income", "size"]].dropna()
    X = np.column_stack([np.ones(len(complete)), complete["income"], complete["size"]])
    beta = np.linalg.lstsq(X, complete["spend"], rcond=None)[0]
    ols = release["ols"]
    assert ols["formula"] == "spend ~ income + size"
    assert ols["n"] == len(complete) and ols["suppressed"] is False
    assert np.allclose(list(ols["coef"].values()), beta, rtol=1e-6)
    assert list(ols["coef"]) == ["Intercept", "income", "size"]


def test_table_output_shows_suppressed_groups(app: typer.Typer, files: dict[str, Path]) -> None:
    stats = ["--stat", "mean:income", "--stat", "corr:income,spend"]
    result = CliRunner().invoke(
        app,
        ["aggregate", *_party_args(files), *stats, "--by", "region", "--ols", "spend ~ income"],
    )

    assert result.exit_code == 0, result.output
    assert "Pooled statistics of 3 parties" in result.stdout
    assert "mean:income" in result.stdout
    assert "corr(income,spend)" in result.stdout  # a matrix shown one pair per column
    assert "OLS spend ~ income" in result.stdout and "Intercept" in result.stdout
    islands = next(line for line in result.stdout.splitlines() if "Islands" in line)
    assert "suppressed" in islands


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stat", "mean:incme"], "no column 'incme'"),
        (["--stat", "mean:region"], "column 'region' must hold numbers"),
        (["--ols", "spend ~ income * size"], "not supported"),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_column(
    app: typer.Typer, files: dict[str, Path], extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["aggregate", *_party_args(files), *extra])

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""
    if "column" in message:
        assert "north.csv" in result.stderr


@pytest.mark.parametrize(
    ("parties", "message"),
    [
        (["--party", "north"], "write a party as NAME=FILE"),
        (["--party", "a=a.csv"], "2 to 10 parties"),
        (["--party", "a=nowhere.csv", "--party", "b=elsewhere.csv"], "nowhere.csv"),
        (["--party", "a=x.csv", "--party", "a=y.csv"], "used twice"),
    ],
)
def test_bad_party_options_exit_2(app: typer.Typer, parties: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["aggregate", *parties])

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-cell", "0"], "--min-cell: Input should be greater than or equal to 1"),
        (["--frac-bits", "99"], "--frac-bits: Input should be less than or equal to 52"),
        (["--stat", "mean:"], "--stat: statistic 'mean:' needs a column"),
    ],
)
def test_option_errors_name_the_option_typed(
    app: typer.Typer, files: dict[str, Path], extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["aggregate", *_party_args(files), *extra])

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "min_cell" not in result.stderr and "frac_bits" not in result.stderr


def test_one_file_under_two_party_names_is_refused(
    app: typer.Typer, files: dict[str, Path]
) -> None:
    north = files["north"]
    result = CliRunner().invoke(
        app, ["aggregate", "--party", f"a={north}", "--party", f"b={north}"]
    )

    assert result.exit_code == 2
    assert "parties 'a' and 'b' are given the same file" in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_many_groups_print_a_summary_not_every_suppressed_row(
    app: typer.Typer, tmp_path: Path
) -> None:
    """A --by column with 2,000 values: 10 suppressed rows, a gap, and the counts."""
    for name, step in (("a", 1), ("b", 3)):
        rows = "".join(f"{i},{i % 7}\n" for i in range(0, 2_000, step))
        (tmp_path / f"{name}.csv").write_text("pid,x\n" + rows + "0,1\n" * 20 * (name == "a"))
    parties = ["--party", f"a={tmp_path / 'a.csv'}", "--party", f"b={tmp_path / 'b.csv'}"]

    result = CliRunner().invoke(app, ["aggregate", *parties, "--by", "pid", "--min-cell", "3"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) < 40
    rows = [line.split() for line in lines]
    assert (
        sum(row[:1] != [] and row[0].isdigit() and row[1:] == ["suppressed"] for row in rows) == 10
    )
    pid0 = next(line for line in lines if line.split() and line.split()[0] == "0")
    assert pid0.split()[1] == "22"  # the one released group: 1 + 20 + 1 records
    summary = " ".join(result.stdout.split())
    assert "groups: 1 released, 1,999 suppressed below 3" in summary
    assert "1,989 suppressed groups not shown (--json lists every group)" in summary
    as_json = CliRunner().invoke(
        app, ["aggregate", *parties, "--by", "pid", "--min-cell", "3", "--json"]
    )
    release = json.loads(as_json.stdout)
    assert len(release["groups"]) == 2_000
    assert sum(group["suppressed"] for group in release["groups"]) == 1_999


def test_a_dominance_rule_withholds_a_dominated_group_with_its_reason(
    app: typer.Typer, tmp_path: Path
) -> None:
    """`--rule nk:1,80`: region A's turnover is 92 % one firm's; A and a complement are
    withheld, the others released exactly, and the release names the rules applied."""
    rows = {
        "a": [("A", 1_150_000.0)] + [("A", 5_000.0 + i) for i in range(10)],
        "b": [("A", 4_000.0 + i) for i in range(10)]
        + [(r, 100_000.0 + i) for r in ("B", "C") for i in range(12)],
    }
    parties = []
    for name, records in rows.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("region,turnover\n" + "".join(f"{r},{t}\n" for r, t in records))
        parties += ["--party", f"{name}={path}"]
    args = ["aggregate", *parties, "--stat", "sum:turnover", "--by", "region", "--json"]

    result = CliRunner().invoke(app, [*args, "--rule", "nk:1,80"])

    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)
    assert release["rules"] == ["freq:10", "nk:1,80"]
    groups = {g["by"]["region"]: g for g in release["groups"]}
    assert groups["A"]["suppressed"] is True and "nk:1,80" in groups["A"]["reason"]
    assert [r for r, g in groups.items() if g["suppressed"]] == ["A", "B"]  # B: complement
    assert groups["C"]["sum:turnover"] == sum(100_000 + i for i in range(12))
    assert release["audit"]["protected"] is True
