"""The commands of a bare ``pip install -e .`` work without any optional extra.

Every command runs in a subprocess whose interpreter (and every process it starts: the
parties of a local run, the hub and the nodes of a demo) refuses to import the extras'
modules, as on an installation without them. Commands that need an extra exit 2 with
one line that names the extra to install, and no traceback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXTRAS = ("tenseal", "opendp", "sklearn", "pandas", "dp_accounting", "torch", "flwr")

BLOCKER = f"""
import importlib.abc, sys

class _NoExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: an extra)")
        return None

sys.meta_path.insert(0, _NoExtras())
"""


@pytest.fixture(scope="module")
def bare_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose Python processes cannot import any extra (sitecustomize)."""
    folder = tmp_path_factory.mktemp("bare")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def _privstats(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privstats", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def test_the_blocker_blocks(bare_env: dict[str, str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import pandas"], env=bare_env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "blocked: an extra" in probe.stderr


def _every_command_path() -> list[tuple[str, ...]]:
    import typer.main

    from privstats.cli import build_app

    paths: list[tuple[str, ...]] = [()]

    def walk(command: object, prefix: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(typer.main.get_command(build_app()), ())
    return paths


def test_help_of_every_command_imports_no_extra(bare_env: dict[str, str]) -> None:
    paths = _every_command_path()
    assert ("run", "coverage") in paths and ("synth", "fit-sample") in paths
    for path in paths:
        result = _privstats(bare_env, *path, "--help", timeout=60)
        assert result.returncode == 0, (path, result.stderr[-2000:])
        assert "Usage:" in result.stdout, path


def test_demo_coverage_runs_hub_and_nodes_without_extras(bare_env: dict[str, str]) -> None:
    result = _privstats(bare_env, "demo", "coverage", "--persons", "1500", "--json")

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["matched"] == report["true_matched"] and report["audit_verified"]


def _write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_local_runs_without_extras(bare_env: dict[str, str], tmp_path: Path) -> None:
    regions = ["north", "south"]
    people = [[f"p{i:04d}", regions[i % 2], 1000 + 7 * i] for i in range(90)]
    register = _write(tmp_path / "register.csv", [["person_id", "region", "income"], *people])
    source = _write(tmp_path / "source.csv", [["person_id"], *[[p[0]] for p in people[::3]]])
    bank = _write(
        tmp_path / "bank.csv", [["person_id", "income"], *[[p[0], p[2]] for p in people[::3]]]
    )

    coverage = _privstats(
        bare_env, "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--json",
    )  # fmt: skip
    assert coverage.returncode == 0, coverage.stderr[-2000:]
    assert json.loads(coverage.stdout)["matched"] == 30

    aggregate = _privstats(
        bare_env, "run", "aggregate", "--party", f"a={register}", "--party", f"b={bank}",
        "--stat", "sum:income", "--json",
    )  # fmt: skip
    assert aggregate.returncode == 0, aggregate.stderr[-2000:]
    total = sum(p[2] for p in people) + sum(p[2] for p in people[::3])
    assert json.loads(aggregate.stdout)["groups"][0]["sum:income"] == total

    join = _privstats(
        bare_env, "run", "join-aggregate", "--left", f"nso={register}", "--right",
        f"bank={bank}", "--key", "person_id", "--by", "region", "--right-value", "income",
        "--json",
    )  # fmt: skip
    assert join.returncode == 0, join.stderr[-2000:]
    groups = {g["by"]["region"]: g for g in json.loads(join.stdout)["groups"]}
    for region in regions:
        want = sum(p[2] for p in people[::3] if p[1] == region)
        assert groups[region]["sum:income"] == want, region


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("run", "he-inference", "--model", "m.json", "--data", "r.csv"), "he"),
        (("synth", "fit-sample", "data.csv", "--out", "s.csv"), "synth"),
        (("synth", "evaluate", "--real", "data.csv", "--synthetic", "data.csv"), "synth"),
    ],
)
def test_a_command_that_needs_an_extra_names_it_in_one_line(
    bare_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], extra: str
) -> None:
    _write(tmp_path / "data.csv", [["a", "b"], *[[i, i % 3] for i in range(30)]])
    _write(tmp_path / "r.csv", [["x"], [1.0]])
    (tmp_path / "m.json").write_text("{}")

    result = _privstats(bare_env, *args, cwd=tmp_path, timeout=60)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"pip install 'privstats[{extra}]'" in lines[0]
