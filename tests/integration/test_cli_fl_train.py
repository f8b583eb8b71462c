"""``privstats run fl-train`` end to end on the activity demo."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert payload["rounds"] == 10
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
