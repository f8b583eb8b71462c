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


def test_sdc_table_json_has_exactly_the_documented_shape(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    _write(data)
    done = _sdc(str(data), "--dim", "region", "--dim", "activity", "--rule", "full", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"cells", "audit"}
    assert set(result["audit"]) == {"cells_checked", "narrowest_interval", "protected"}
    for cell in result["cells"]:
        assert set(cell) == {"by", "count", "value", "status", "rules"}
        assert cell["status"] in ("safe", "primary", "secondary", "empty")
        assert set(cell["by"]) == {"region", "activity"}
    margins = [c for c in result["cells"] if "Total" in c["by"].values()]
    assert len(margins) == 4 + 3 + 1  # regions, activities, the grand total
    assert result["audit"]["protected"] is True  # no full cell here: nothing withheld
    assert result["audit"]["cells_checked"] == 0


def _write_sizes(path: Path) -> None:
    """12 firms over 3 regions, 2 activities, 2 sizes; region E has a single firm."""
    rows = ["firm,region,activity,size"]
    layout = [("N", "C", "s"), ("N", "C", "l"), ("N", "G", "s"), ("N", "G", "l")] * 2
    layout += [("S", "C", "s"), ("S", "G", "l"), ("S", "G", "s"), ("E", "C", "s")]
    rows += [f"f{i},{r},{a},{s}" for i, (r, a, s) in enumerate(layout)]
    path.write_text("\n".join(rows) + "\n")


def test_sdc_table_protects_linked_tables_jointly(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    _write_sizes(data)
    out = tmp_path / "linked.csv"
    done = _sdc(
        *(str(data), "--table", "region,activity", "--table", "region,size"),
        *("--rule", "freq:2", "--json", "--out", str(out)),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tables"] == [["region", "activity"], ["region", "size"]]
    keys = [tuple(c["by"].values()) for c in result["cells"]]
    assert len(keys) == len(set(keys)) == 4 * 3 + 4 * 3 - 4  # shared region margins once
    cells = dict(zip(keys, result["cells"], strict=True))
    assert cells[("E", "C", "Total")]["status"] == "primary"
    assert cells[("E", "Total", "s")]["status"] == "primary"
    assert cells[("E", "Total", "Total")]["value"] is None  # E's margin is E's one firm
    assert result["audit"]["protected"] is True
    assert out.read_text().startswith("region,activity,size,count,value,status,rules\n")


def test_sdc_table_cell_key_method_is_stable_and_consistent(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    _write_sizes(data)
    key = tmp_path / "office.key"
    made = _sdc_command("key", str(key))
    assert made.returncode == 0, made.stderr
    assert _sdc_command("key", str(key)).returncode == 2  # never overwritten
    ckm = ("--method", "ckm", "--key-file", str(key), "--id", "firm", "--ckm-js", "1", "--json")
    first = json.loads(_sdc(str(data), "--dim", "region", "--dim", "activity", *ckm).stdout)
    again = json.loads(_sdc(str(data), "--dim", "region", "--dim", "activity", *ckm).stdout)
    assert first == again  # the same key and firms: the same table
    assert first["method"] == "ckm" and first["ptable"] == {"D": 2, "V": 1.0, "js": 1}
    assert first["audit"]["applicable"] is False and first["audit"]["protected"] is None
    for cell in first["cells"]:
        assert cell["status"] == "perturbed" and cell["count"] != 1 and cell["count"] >= 0
    by_size = json.loads(_sdc(str(data), "--dim", "region", "--dim", "size", *ckm).stdout)
    margins = {
        c["by"]["region"]: c["count"] for c in first["cells"] if c["by"]["activity"] == "Total"
    }
    for cell in by_size["cells"]:
        if cell["by"]["size"] == "Total":  # the same firms: the same perturbed count
            assert cell["count"] == margins[cell["by"]["region"]]
    refused = _sdc(str(data), "--dim", "region", "--method", "ckm", "--value", "firm")
    assert refused.returncode == 2 and "counts only" in refused.stderr


def _sdc_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privstats", "sdc", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )


def test_sdc_table_hypercube_protects_the_lone_firm_with_a_rectangle(tmp_path: Path) -> None:
    data = tmp_path / "firms.csv"
    _write(data)
    done = _sdc(
        str(data), "--dim", "region", "--dim", "activity", "--value", "turnover",
        "--rule", "freq:3", "--secondary", "hypercube", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    withheld = [c["by"] for c in result["cells"] if c["status"] in ("primary", "secondary")]
    assert {"region": "Islands", "activity": "M"} in withheld and len(withheld) == 4
    assert result["audit"]["protected"] is True
