"""The synthesize job's role at the owner's node: what it releases, keeps and never sends."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.jobs.kinds import get_kind
from privstats.jobs.synthesize import SynthesizeSpec, run_role, save_release
from privstats.synth.release import split_holdout, synthesize
from privstats.synth.schema import Schema, read_microdata

COLUMNS = ("region", "sex", "age", "income")


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(5)  # test data only
    n = 1_000
    table = pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "region": rng.choice(["North", "South", "East"], size=n),
            "sex": rng.choice(["F", "M"], size=n),
            "age": rng.integers(16, 90, size=n),
            "income": np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(9, 1, n)).round(2),
        }
    )
    path = tmp_path_factory.mktemp("owner") / "census.csv"
    table.to_csv(path, index=False)
    return path


class _NoChannel:
    """The owner talks to no one: any use of the channel fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the synthesize role used its channel ({name})")


def _run(path: Path, **spec: Any) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    built = SynthesizeSpec.build(columns=COLUMNS, **spec)
    return run_role("owner", _NoChannel(), {"owner": "nso"}, str(path), built, None)  # type: ignore[arg-type]


def test_the_release_holds_only_the_synthetic_file_and_the_report(census: Path) -> None:
    result, _warnings, kept = _run(
        census, quasi_identifiers=["region", "sex", "age"], target="sex", sensitive="income"
    )
    assert set(result["files"]) == {"synthetic.csv", "report.html"}
    assert set(result) == {
        "computation", "method", "records", "fitted_records", "holdout_records", "columns",
        "seconds", "privacy", "utility", "risk", "files",
    }  # fmt: skip
    assert (result["fitted_records"], result["holdout_records"], result["records"]) == (
        800,
        200,
        800,
    )
    synthetic = pd.read_csv(pd.io.common.StringIO(result["files"]["synthetic.csv"]))
    assert tuple(synthetic.columns) == COLUMNS  # the key column is never read nor released
    assert len(synthetic) == 800
    assert "P0" not in json.dumps(result)
    assert "seed" not in result  # it replays the release: it stays at the node
    assert result["risk"]["dcr_closer_to_train"] is not None
    assert result["risk"]["repu"] is not None
    assert result["utility"]["tstr_accuracy"] is not None
    # the owner keeps the same files, and the seed with the job's spec
    assert kept["synthetic.csv"] == result["files"]["synthetic.csv"]
    assert kept["report.html"] == result["files"]["report.html"]
    report = json.loads(kept["report.json"])
    assert report["spec"]["columns"] == list(COLUMNS)
    assert isinstance(report["seed"], int)


def test_the_kept_seed_replays_the_release_exactly(census: Path) -> None:
    result, _warnings, kept = _run(census, method="copula", holdout_share=0.25)
    seed = json.loads(kept["report.json"])["seed"]
    table, schema = read_microdata(census)
    schema = Schema(tuple(schema[name] for name in COLUMNS))
    train, holdout = split_holdout(table[list(COLUMNS)], 0.25, seed)
    again = synthesize(train, schema, method="copula", seed=seed, holdout=holdout)
    expected = again.synthetic.to_csv(index=False, date_format="%Y-%m-%d")
    assert result["files"]["synthetic.csv"] == expected
    assert again.report["utility"] == result["utility"]
    assert again.report["risk"] == result["risk"]


def test_the_dp_method_reports_its_budget_and_caveats(census: Path) -> None:
    result, warnings, kept = _run(
        census,
        method="mst",
        epsilon=2.0,
        bounds={"age": (0, 120), "income": (0, 200_000)},
        holdout_share=0,
    )
    assert result["privacy"]["epsilon"] == pytest.approx(2.0)
    # what ε does not cover stays at the node, for the owner
    assert not {"fitted_records", "holdout_records", "utility", "risk"} & set(result)
    owner = json.loads(kept["report.json"])
    assert owner["holdout_records"] == 0 and owner["fitted_records"] == 1_000
    assert owner["risk"]["dcr_closer_to_train"] is None
    assert "For the data owner only" in kept["owner-report.html"]
    assert warnings == [str(c) for c in result["privacy"]["caveats"]]
    disclosure = get_kind("synthesize").disclosure(
        SynthesizeSpec.build(columns=COLUMNS, method="mst", epsilon=2.0)
    )
    assert disclosure["epsilon"] == 2.0
    assert "utility and risk figures stay with the owner" in disclosure["release"]
    assert disclosure["owner_review"] is True


def test_too_few_records_are_not_synthesized(census: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"fewer records than the job's min_cell \(5000\)"
    ) as error:
        _run(census, min_records=5_000)
    assert "1000" not in str(error.value)  # the reason goes to the hub: not the exact count


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"quasi_identifiers": ["postcode"]}, "quasi_identifiers names 'postcode'"),
        ({"target": "person_id"}, "target names 'person_id'"),
        ({"regression": "income ~ age + tenure"}, "regression names 'tenure'"),
        ({"regression": "income = age"}, "write it as 'y ~ x1 + x2'"),
        ({"bounds": {"age": (90, 10)}}, "the low end must be below the high end"),
        ({"method": "gan"}, "'method'"),
        ({"holdout_share": 0.95}, "'holdout_share'"),
    ],
)
def test_bad_options_are_refused_before_the_job_starts(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        SynthesizeSpec.build(columns=COLUMNS, **spec)


def test_a_release_is_saved_as_its_files(census: Path, tmp_path: Path) -> None:
    result, _warnings, _kept = _run(census, method="copula")
    written = save_release(result, tmp_path / "out")
    assert [p.name for p in written] == ["synthetic.csv", "report.html", "report.json"]
    assert (tmp_path / "out" / "synthetic.csv").read_text() == result["files"]["synthetic.csv"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["method"] == "copula"
    with pytest.raises(ParameterError, match="not a synthetic-data release"):
        save_release({"groups": []}, tmp_path / "other")
