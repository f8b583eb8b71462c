"""``privstats run coverage`` and ``privstats demo coverage`` as a user runs them.

Real processes: the CLI spawns one process per party, linked over 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from privstats.errors import ParameterError
from privstats.stats.coverage import dual_system_estimate, proportion_interval

PRIVSTATS = [sys.executable, "-c", "from privstats.cli import main; main()"]


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRIVSTATS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A register of 3,000 persons in 4 regions and a source with duplicates and strays."""
    folder = tmp_path_factory.mktemp("cov")
    regions = ["North", "South", "East", "West"]
    reg_rows = [[f"{i:08d}", regions[i % 4] if i < 2995 else "Tiny"] for i in range(3000)]
    src_ids = [f" {i:08d}" for i in range(1000, 4000, 2)] + ["00001000", "X-1", "X-2"]
    with (folder / "register.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["person_id", "region"], *reg_rows])
    with (folder / "source.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["msisdn_person"], *[[s] for s in src_ids]])
    source_set = {s.strip() for s in src_ids}
    truth = {
        "register_size": len(reg_rows),
        "source_size": len(source_set),
        "matched": sum(1 for pid, _ in reg_rows if pid in source_set),
        "by_region": {
            r: (
                sum(1 for _, rr in reg_rows if rr == r),
                sum(1 for pid, rr in reg_rows if rr == r and pid in source_set),
            )
            for r in regions
        },
    }
    return folder / "register.csv", folder / "source.csv", truth


def test_json_output_equals_the_plaintext_computation(files: tuple[Path, Path, dict]) -> None:
    register, source, truth = files
    proc = _cli(
        "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--source-key", "msisdn_person", "--by", "region", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    assert result["computation"] == "coverage"
    for key in ("register_size", "source_size", "matched"):
        assert result[key] == truth[key]
    expected = proportion_interval(truth["matched"], truth["register_size"]).as_dict()
    assert result["coverage"] == pytest.approx(expected)
    population = dual_system_estimate(
        truth["register_size"], truth["source_size"], truth["matched"]
    )
    assert result["population_estimate"]["estimate"] == pytest.approx(population.estimate)
    by = {e["by"]["region"]: e for e in result["groups"]}
    assert by["Tiny"]["suppressed"] and by["Tiny"]["matched"] is None
    released = [r for r, e in by.items() if not e["suppressed"]]
    assert len(released) == 3  # one more region withheld so Tiny cannot be derived
    for region in released:
        size, matched = truth["by_region"][region]
        assert (by[region]["register_size"], by[region]["matched"]) == (size, matched)
    assert isinstance(result["seconds"], float)
    assert "duplicate" in proc.stderr and "msisdn_person" in proc.stderr


def test_parquet_input_and_clopper_pearson(files: tuple[Path, Path, dict], tmp_path: Path) -> None:
    register, source, truth = files
    table = pacsv.read_csv(register, convert_options=pacsv.ConvertOptions(
        column_types={"person_id": pa.string()}))  # fmt: skip
    pq.write_table(table, tmp_path / "register.parquet")
    proc = _cli(
        "run", "coverage", "--register", str(tmp_path / "register.parquet"),
        "--source", str(source), "--key", "person_id", "--source-key", "msisdn_person",
        "--method", "clopper-pearson", "--confidence", "0.9", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["matched"] == truth["matched"]
    assert result["coverage"]["method"] == "clopper-pearson"
    assert result["groups"] == []


def test_dp_options_give_noisy_counts_with_their_privacy(files: tuple[Path, Path, dict]) -> None:
    """--dp-epsilon: nothing suppressed, the privacy block, per-cell noise, counts near the
    plaintext ones (within 6 noise sd)."""
    register, source, truth = files
    proc = _cli(
        "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--source-key", "msisdn_person", "--by", "region",
        "--dp-epsilon", "1", "--dp-delta", "1e-9", "--dp-unit", "person:person_id", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    privacy = result["privacy"]
    assert privacy["epsilon"] <= 1.0 and privacy["delta"] == 1e-9
    assert privacy["unit"] == "person:person_id"
    assert "discrete Gaussian" in privacy["mechanism"]
    by = {e["by"]["region"]: e for e in result["groups"]}
    assert not any(e["suppressed"] for e in by.values())
    for region, (size, matched) in truth["by_region"].items():
        entry = by[region]
        assert abs(entry["register_size"] - size) <= 6 * entry["noise_sd"]["register_size"]
        assert abs(entry["matched"] - matched) <= 6 * entry["noise_sd"]["matched"]
        assert entry["error_95"]["matched"] > 0


def test_readable_table_by_default(files: tuple[Path, Path, dict]) -> None:
    register, source, truth = files
    proc = _cli(
        "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--source-key", "msisdn_person", "--by", "region",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Coverage of the register" in proc.stdout
    assert "suppressed" in proc.stdout
    assert f"{truth['matched']:,}" in proc.stdout


def test_missing_column_is_named(files: tuple[Path, Path, dict]) -> None:
    register, source, _ = files
    proc = _cli(
        "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--source-key", "msisdn_person", "--by", "regio", "--json",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "party 'register' failed" in proc.stderr and "'regio'" in proc.stderr
    assert "party 'source'" not in proc.stderr  # its "connection closed" is not the cause
    assert proc.stdout == ""


def test_both_parties_errors_are_reported(files: tuple[Path, Path, dict]) -> None:
    register, source, _ = files
    proc = _cli(
        "run", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--by", "regio",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "'regio'" in proc.stderr and "'msisdn_person'" in proc.stderr


def test_missing_file_is_named(tmp_path: Path) -> None:
    proc = _cli(
        "run", "coverage", "--register", str(tmp_path / "nope.csv"),
        "--source", str(tmp_path / "nope2.csv"), "--key", "id",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "nope.csv" in proc.stderr


def test_a_folder_is_called_a_folder(tmp_path: Path) -> None:
    (tmp_path / "register.csv").write_text("id\n1\n")
    (tmp_path / "exports").mkdir()
    proc = _cli(
        "run", "coverage", "--register", str(tmp_path / "register.csv"),
        "--source", str(tmp_path / "exports"), "--key", "id",
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{tmp_path / 'exports'}: source file is a folder, not a data file" in proc.stderr
    assert "not found" not in proc.stderr


def test_header_only_source_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "register.csv").write_text("id\n" + "".join(f"P{i}\n" for i in range(2000)))
    (tmp_path / "source.csv").write_text("id\n")
    proc = _cli(
        "run", "coverage", "--register", str(tmp_path / "register.csv"),
        "--source", str(tmp_path / "source.csv"), "--key", "id", "--json",
    )  # fmt: skip
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert f"party 'source' failed: {tmp_path / 'source.csv'}: column 'id' has no identifiers" in (
        message
    )
    assert proc.stdout == ""


def test_missing_value_markers_are_not_identifiers(tmp_path: Path) -> None:
    """The new user's register: 10 NaN and 10 NA keys, which used to match 'nan' and 'na'."""
    rows = [f"P{i}" for i in range(30)] + ["NaN"] * 10 + ["NA"] * 10
    (tmp_path / "register.csv").write_text("id\n" + "".join(f"{r}\n" for r in rows))
    (tmp_path / "source.csv").write_text("id\nP1\nnan\nna\n")
    proc = _cli(
        "run", "coverage", "--register", str(tmp_path / "register.csv"),
        "--source", str(tmp_path / "source.csv"), "--key", "id",
    )  # fmt: skip
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert "column 'id' has 20 missing values (rows 31, 32, 33, 34, 35, …; 20 written as" in (
        message
    )
    assert "column 'id' has 2 missing values (rows 2, 3; 2 written as 'na', 'nan')" in message


def test_no_match_leaves_the_population_estimate_undefined(tmp_path: Path) -> None:
    (tmp_path / "register.csv").write_text("id\n" + "".join(f"R{i}\n" for i in range(200)))
    (tmp_path / "source.csv").write_text("id\n" + "".join(f"S{i}\n" for i in range(150)))
    args = ["run", "coverage", "--register", str(tmp_path / "register.csv")]
    args += ["--source", str(tmp_path / "source.csv"), "--key", "id"]
    proc = _cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["register_size"], result["source_size"], result["matched"]) == (200, 150, 0)
    assert result["coverage"] == proportion_interval(0, 200).as_dict()
    assert result["population_estimate"] == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "method": "chapman",
        "note": "undefined: no person is in both lists",
    }
    with pytest.raises(ParameterError, match="undefined"):
        dual_system_estimate(200, 150, 0)
    table = _cli(*args)
    assert table.returncode == 0, table.stderr
    assert "population estimate undefined: no person is in both lists" in " ".join(
        table.stdout.split()
    )


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def test_demo_runs_through_a_hub_and_matches_the_planted_truth(tmp_path: Path) -> None:
    proc = _cli("demo", "coverage", "--persons", "3000", "--json", "--keep", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["register_size"] == 3000
    assert result["matched"] == result["true_matched"]
    assert result["audit_verified"] is True and result["job_id"]
    assert "hub started at http://127.0.0.1:" in proc.stderr
    assert not _processes_using(tmp_path), "the demo left a hub or node process behind"


def test_demo_on_the_users_own_files(files: tuple[Path, Path, dict], tmp_path: Path) -> None:
    register, source, truth = files
    proc = _cli(
        "demo", "coverage", "--register", str(register), "--source", str(source),
        "--key", "person_id", "--source-key", "msisdn_person", "--by", "region", "--json",
        "--keep", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["register_size"], result["source_size"], result["matched"]) == (
        truth["register_size"], truth["source_size"], truth["matched"],
    )  # fmt: skip
    released = {
        d["by"]["region"]: (d["register_size"], d["matched"])
        for d in result["groups"]
        if not d["suppressed"]
    }
    assert released == {r: truth["by_region"][r] for r in released}
    assert result["audit_verified"] is True
    assert not _processes_using(tmp_path)


def test_help_everywhere() -> None:
    commands = (
        [], ["run"], ["demo"], ["run", "coverage"], ["demo", "coverage"], ["hub"], ["node"],
        ["node", "init"], ["node", "run"], ["node", "approve"], ["node", "reject"],
        ["party", "add"], ["token", "add"], ["submit", "coverage"], ["job", "show"],
        ["job", "wait"], ["job", "list"], ["audit", "verify"],
    )  # fmt: skip
    for args in commands:
        proc = _cli(*args, "--help")
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage" in proc.stdout


def test_ctrl_c_stops_every_party_cleanly(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) exits 130 and leaves no party process behind."""
    proc = subprocess.Popen(
        [*PRIVSTATS, "demo", "coverage", "--persons", "200000", "--keep", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    parties: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while len(parties) < 2 and time.monotonic() < deadline and proc.poll() is None:
        parties = psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.2)
    assert len(parties) >= 2, "the parties' processes never started"
    time.sleep(0.5)  # let the parent finish starting them (it ignores Ctrl-C meanwhile)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    _, alive = psutil.wait_procs(parties, timeout=10)
    assert not alive
    assert not _processes_using(tmp_path)
