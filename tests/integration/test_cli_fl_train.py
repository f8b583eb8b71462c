"""``privstats run fl-train`` end to end on the activity demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from privstats.cli import run_fl
from privstats.data.activity_demo import make_activity_demo


def _app() -> typer.Typer:
    app = typer.Typer()
    run_fl.register(app)

    @app.command("unused")
    def unused() -> None:  # a second command keeps typer from flattening the group
        return None

    return app


def test_json_output_has_the_documented_fields_and_a_usable_model(tmp_path: Path) -> None:
    demo = make_activity_demo(tmp_path / "data", seed=7)
    args = ["fl-train", "--label", "activity", "--subject", "subject", "--rounds", "10"]
    for name, path in demo.offices.items():
        args += ["--party", f"{name}={path}"]
    model = tmp_path / "model.json"
    args += ["--test", str(demo.test), "--model-out", str(model), "--json"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["computation"] == "fl_train"
    assert payload["rounds"] == 10 and payload["round_cap"] == 10
    assert payload["strategy"] == "fedadam"
    assert payload["stopped"] == "the round cap (10)"  # shorter than the warm-up
    assert payload["best_round"] == 9 and len(payload["validation_loss"]) == 1
    assert payload["epsilon"] is None
    assert payload["accuracy"] > 0.8
    assert set(payload["per_class_f1"]) == {
        "lying",
        "sitting",
        "standing",
        "walking",
        "walking_downstairs",
        "walking_upstairs",
    }
    assert payload["model"] == str(model) and model.is_file()


def test_a_bad_party_option_exits_2() -> None:
    result = CliRunner().invoke(_app(), ["fl-train", "--party", "nofile", "--label", "y"])
    assert result.exit_code == 2
    assert "NAME=FILE" in result.output


def test_dp_without_the_ml_extra_fails_in_one_line_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = make_activity_demo(tmp_path / "data", subjects_per_office=3, seed=7)
    monkeypatch.setitem(sys.modules, "dp_accounting", None)  # as if not installed
    args = ["fl-train", "--label", "activity", "--subject", "subject", "--dp-epsilon", "1"]
    for name, path in demo.offices.items():
        args += ["--party", f"{name}={path}"]
    args += ["--model-out", str(tmp_path / "model.json")]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: differential privacy (--dp-epsilon) needs the 'ml' extra: "
        "pip install 'privstats[ml]'"
    ]
    assert not (tmp_path / "model.json").exists()


def test_model_out_in_a_missing_folder_is_refused_before_training(tmp_path: Path) -> None:
    demo = make_activity_demo(tmp_path / "data", subjects_per_office=3, seed=7)
    args = ["fl-train", "--label", "activity", "--subject", "subject"]
    for name, path in demo.offices.items():
        args += ["--party", f"{name}={path}"]
    target = tmp_path / "missing" / "model.json"
    result = CliRunner().invoke(_app(), [*args, "--model-out", str(target)])
    assert result.exit_code == 2
    assert f"--model-out {target}: the folder" in result.output
    assert not target.parent.exists()


def test_without_model_out_no_model_file_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = make_activity_demo(tmp_path / "data", subjects_per_office=3, seed=7)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["fl-train", "--label", "activity", "--subject", "subject", "--rounds", "3"]
    for name, path in demo.offices.items():
        args += ["--party", f"{name}={path}"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "model not kept (add --model-out FILE to keep it)" in result.output
    assert list(work.iterdir()) == []
