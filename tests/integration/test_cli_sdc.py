"""``privstats sdc table`` on a file: the result is exactly the table module's, stdout
holds only the JSON, and without secondary suppression the audit says what leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REGIONS = ("North", "South", "East", "Islands")
ACTIVITIES = ("C", "G", "M")


def _write(path: Path) -> dict[tuple[str, str], float]:
    """4 regions × 3 activities, 5 firms per cell; Islands/M is one firm of turnover 50."""
    lines, truth = ["firm,region,activity,turnover"], {}
    for region in REGIONS:
        for activity in ACTIVITIES:
            amounts = [50.0] if (region, activity) == ("Islands", "M") else [20, 21, 22, 23, 24]
            truth[(region, activity)] = float(sum(amounts))
            lines += [
                f"{region}{activity}{i},{region},{activity},{a}" for i, a in enumerate(amounts)
            ]
    path.write_text("\n".join(lines) + "\n")
    return truth


def _sdc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privstats", "sdc", "table", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )


def test_sdc_table_protects_the_lone_firm_and_prints_one_json_object(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    truth = _write(data)
    base = [str(data), "--dim", "region", "--dim", "activity", "--value", "turnover"]
    done = _sdc(
        *base, "--rule", "freq:3", "--rule", "p:10", "--json", "--out", str(tmp_path / "t.csv")
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout holds the result only
    cells = {tuple(c["by"].values()): c for c in result["cells"]}
    assert cells[("Islands", "M")]["status"] == "primary"
    assert cells[("Islands", "M")]["value"] is None
    assert sum(c["status"] == "secondary" for c in result["cells"]) == 3  # the rectangle
    for key, cell in cells.items():
        if cell["status"] == "safe" and "Total" not in key:
            assert cell["value"] == truth[key]
    assert cells[("Total", "Total")]["value"] == sum(truth.values())
    assert result["audit"]["protected"] is True
    assert (tmp_path / "t.csv").read_text().startswith("region,activity,count,value,status")

    exposed = json.loads(_sdc(*base, "--rule", "freq:3", "--secondary", "none", "--json").stdout)
    assert exposed["audit"]["protected"] is False
    narrowest = exposed["audit"]["narrowest_interval"]  # Islands/M = Islands − C − G
    assert narrowest["by"] == {"region": "Islands", "activity": "M"}
    assert (narrowest["low"], narrowest["high"]) == (50.0, 50.0)


def test_sdc_table_names_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    data.write_text("region,turnover\nNorth,1\nSouth,\n")
    done = _sdc(str(data), "--dim", "region", "--value", "turnover")
    assert done.returncode == 2 and "'turnover' has no number on 1 rows" in done.stderr
    bad = _sdc(str(data), "--dim", "region", "--rule", "nk:80")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
