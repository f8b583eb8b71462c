"""The "Adding a kind" walkthrough of docs/architecture.md, followed for ``secure_count``.

The kind is one module (``jobs/secure_count.py``) and one line of the registry; from them
come ``privstats run secure-count`` and ``privstats submit secure-count``, the hub's job
kind and the nodes' policy check. Both doors give the plaintext total exactly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from privstats.jobs.kinds import KIND_MODULES, KINDS
from privstats.local_federation import LocalFederation

SRC = Path(__file__).resolve().parents[2] / "src" / "privstats"
ROWS = {"office_a": 7, "office_b": 11, "office_c": 4}


def _write(folder: Path) -> dict[str, Path]:
    files = {}
    for name, rows in ROWS.items():
        path = folder / f"{name}.csv"
        path.write_text("id,region\n" + "".join(f"{name}-{i},North\n" for i in range(rows)))
        files[name] = path
    return files


def _privstats(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privstats", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_the_example_kind_is_one_module_and_one_registry_line() -> None:
    mentions = {
        path.relative_to(SRC).as_posix(): [
            line for line in text.splitlines() if "secure_count" in line
        ]
        for path in SRC.rglob("*.py")
        if (text := path.read_text(encoding="utf-8")) and re.search(r"secure_count", text)
    }
    assert set(mentions) == {"jobs/secure_count.py", "jobs/kinds.py"}
    assert mentions["jobs/kinds.py"] == ['    "secure_count": "privstats.jobs.secure_count",']
    assert KIND_MODULES["secure_count"] == "privstats.jobs.secure_count"


def test_run_and_submit_list_every_kind() -> None:
    for group in ("run", "submit"):
        shown = _privstats(group, "--help")
        assert shown.returncode == 0, shown.stderr
        for kind in KINDS.values():
            assert kind.command in shown.stdout, (group, kind.command)


def test_run_secure_count_gives_the_plaintext_total(tmp_path: Path) -> None:
    files = _write(tmp_path)
    parties = [arg for name, path in files.items() for arg in ("--party", f"{name}={path}")]
    done = _privstats("run", "secure-count", *parties, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["count"] == sum(ROWS.values()) and result["parties"] == 3
    small = _privstats("run", "secure-count", *parties, "--min-cell", "23", "--json")
    assert json.loads(small.stdout) | {"seconds": 0} == {
        "computation": "secure_count", "parties": 3, "count": None, "suppressed": True,
        "min_cell": 23, "seconds": 0, "reason": "fewer than 23 records",
    }  # fmt: skip
    refused = _privstats("run", "secure-count", "--party", f"a={files['office_a']}")
    assert refused.returncode == 2 and "2 to 10 parties" in refused.stderr


def test_submit_secure_count_through_a_local_hub(tmp_path: Path) -> None:
    files = _write(tmp_path)
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        for name, path in files.items():
            federation.add_node(name, {"records": (path, ["id"])}, allow=("secure_count",))
        federation.wait_for_datasets(len(files))
        with federation.admin() as admin:
            token = admin.add_token("analyst")
        parties = [arg for name in files for arg in ("--party", f"{name}:records")]
        done = _privstats(
            "submit", "secure-count", *parties, "--json", "--hub", federation.url,
            env={"PRIVSTATS_TOKEN": token},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["count"] == sum(ROWS.values()) and not result["suppressed"]
        with federation.admin() as admin:
            assert admin.verify_audit().ok
