"""The join-aggregate job: spec, data cleaning, both roles in memory and in real processes.

The released result is compared with pandas on the same files: the left file de-duplicated
(first record kept), the right file summed per identifier, values rounded to the decimal
scale, merged on the normalised identifier and grouped by the left file's columns.
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.jobs import join_aggregate as job
from privstats.jobs.join_aggregate import LEFT, RIGHT, JoinAggregateSpec
from privstats.transport.memory import MemoryNetwork, run_parties


def write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_in_memory(left: Path, right: Path, spec: JoinAggregateSpec) -> dict[str, Any]:
    network = MemoryNetwork(["nso", "bank"], timeout=60)
    parties = {LEFT: "nso", RIGHT: "bank"}
    out = run_parties(
        network,
        {
            "nso": lambda ch: job.run_role(LEFT, ch, parties, str(left), spec, None),
            "bank": lambda ch: job.run_role(RIGHT, ch, parties, str(right), spec, None),
        },
    )
    return {"left": out["nso"], "right": out["bank"]}


def scaled(text: str, decimals: int) -> int:
    return int(Decimal(text).scaleb(decimals).to_integral_value(rounding=ROUND_HALF_EVEN))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """60 persons in 5 regions (two tiny), a left value, a bank with incomes in cents and
    a whole-number column, repeated and differently spelled identifiers, missing cells."""
    regions = ["North"] * 20 + ["South"] * 18 + ["East"] * 15 + ["Tiny"] * 4 + ["Wee"] * 3
    left_rows = [[f"ID-{i:04d}", regions[i], str(100 + i)] for i in range(60)]
    left_rows += [["id-0003", "South", "999"], ["", "North", "1"], ["ID-0099", "East", ""]]
    right_rows = [[f" id-{i:04d}", f"{1000 + 12.345 * i:.3f}", str(i % 4)] for i in range(0, 70)]
    right_rows += [["ID-0005", "0.5", "1"], ["ID-0006", "", "2"], ["", "3", "3"]]
    left = write(tmp_path / "nso.csv", ["pid", "region", "weight"], left_rows)
    right = write(tmp_path / "bank.csv", ["cid", "income", "cards"], right_rows)
    return left, right


def expected_groups(left: Path, right: Path, decimals: int) -> dict[str, dict[str, Any]]:
    """pandas on the cleaned files: count, sums at the scale, by region."""
    lt = pd.read_csv(left, dtype=str, keep_default_na=False)
    rt = pd.read_csv(right, dtype=str, keep_default_na=False)
    lt["id"] = lt["pid"].str.strip().str.lower()
    rt["id"] = rt["cid"].str.strip().str.lower()
    lt = lt[(lt["id"] != "") & (lt["weight"] != "")].drop_duplicates("id", keep="first")
    rt = rt[(rt["id"] != "") & (rt["income"] != "") & (rt["cards"] != "")].copy()
    lt["weight"] = lt["weight"].astype(int)
    rt["income"] = [scaled(v, decimals) for v in rt["income"]]
    rt["cards"] = rt["cards"].astype(int)
    rt = rt.groupby("id", as_index=False)[["income", "cards"]].sum()
    merged = lt.merge(rt, on="id")
    out = {}
    for region, frame in merged.groupby("region"):
        out[str(region)] = {
            "count": len(frame),
            "sum:weight": int(frame["weight"].sum()),
            "sum:income": int(frame["income"].sum()) / 10**decimals,
            "sum:cards": int(frame["cards"].sum()),
        }
    return out


def test_released_result_equals_pandas(files: tuple[Path, Path]) -> None:
    left, right = files
    spec = JoinAggregateSpec.build(
        key="pid", peer_key="cid", by=("region",), left_values=("weight",),
        right_values=("income", "cards"), min_cell=5,
    )  # fmt: skip

    out = run_in_memory(left, right, spec)

    result, left_warnings = out["left"]
    want = expected_groups(left, right, 2)
    assert result["computation"] == "join_aggregate"
    assert result["left_size"] == 60 and result["right_size"] == 70
    assert result["matched"] == sum(g["count"] for g in want.values())
    by_region = {g["by"]["region"]: g for g in result["groups"]}
    assert list(by_region) == ["East", "North", "South", "Tiny", "Wee"]  # sorted
    for region in ("East", "North", "South"):
        entry = by_region[region]
        assert entry["suppressed"] is False
        for name in ("count", "sum:weight", "sum:income", "sum:cards"):
            assert entry[name] == want[region][name], (region, name)
        assert isinstance(entry["sum:cards"], int) and isinstance(entry["sum:income"], float)
        assert entry["mean:income"] == pytest.approx(entry["sum:income"] / entry["count"])
        assert entry["mean:cards"] == entry["sum:cards"] / entry["count"]
    for tiny in (by_region["Tiny"], by_region["Wee"]):
        assert tiny["suppressed"] is True
        assert tiny["status"] in ("primary", "secondary") and tiny["reason"]
        figures = [k for k in tiny if k == "count" or k.startswith(("sum:", "mean:"))]
        assert figures and all(tiny[k] is None for k in figures)
    assert out["right"][0] == {
        "computation": "join_aggregate", "role": "right", "left_size": 60, "right_size": 70,
    }  # fmt: skip
    assert any("repeated 'pid'" in w for w in left_warnings)
    right_warnings = out["right"][1]
    assert any("summed" in w for w in right_warnings)
    assert any("missing value" in w for w in right_warnings)


def test_secondary_suppression_and_a_small_total(tmp_path: Path) -> None:
    """One small group pulls the next smallest with it; a total below min_cell is hidden."""
    left = write(
        tmp_path / "l.csv",
        ["id", "g"],
        [[f"p{i}", "A" if i < 12 else "B" if i < 22 else "C"] for i in range(25)],
    )
    right = write(tmp_path / "r.csv", ["id", "v"], [[f"p{i}", str(i)] for i in range(25)])
    spec = JoinAggregateSpec.build(key="id", by=("g",), right_values=("v",), min_cell=10)
    result, _ = run_in_memory(left, right, spec)["left"]
    suppressed = {g["by"]["g"] for g in result["groups"] if g["suppressed"]}
    assert suppressed == {"B", "C"}  # C has 3 (primary), B has 10 (secondary)
    assert result["matched"] == 25

    few = write(tmp_path / "few.csv", ["id", "v"], [[f"p{i}", "1"] for i in range(4)])
    result, _ = run_in_memory(left, few, spec)["left"]
    assert result["matched"] is None  # the total equals the one small group: withheld too
    by_group = {g["by"]["g"]: g for g in result["groups"]}
    assert by_group["A"]["suppressed"] and by_group["A"]["status"] == "primary"
    assert [(by_group[k]["status"], by_group[k]["count"]) for k in "BC"] == [("empty", 0)] * 2


def test_without_group_columns_one_total(tmp_path: Path) -> None:
    left = write(tmp_path / "l.csv", ["id"], [[f"p{i}"] for i in range(30)])
    right = write(tmp_path / "r.csv", ["id", "x"], [[f"p{i}", f"{i / 4}"] for i in range(10, 50)])
    spec = JoinAggregateSpec.build(key="id", right_values=("x",), decimals=1)
    result, _ = run_in_memory(left, right, spec)["left"]
    (group,) = result["groups"]
    assert group["by"] == {} and group["count"] == 20
    # halves go to the even digit at one decimal: 2.75 → 2.8, 3.25 → 3.2
    assert group["sum:x"] == sum(scaled(repr(i / 4), 1) for i in range(10, 30)) / 10


# --------------------------------------------------------------------------- loading


def test_load_role_data_cleans_and_scales(files: tuple[Path, Path]) -> None:
    left, right = files
    spec = JoinAggregateSpec.build(
        key="pid", peer_key="cid", by=("region",), left_values=("weight",),
        right_values=("income", "cards"), decimals=2,
    )  # fmt: skip
    data = job.load_role_data(LEFT, left, spec)
    assert data.rows == 63 and len(data.ids) == 60
    assert data.ids[3] == "id-0003" and data.values[0][3] == 103  # first record kept
    assert data.group_labels == [("East",), ("North",), ("South",), ("Tiny",), ("Wee",)]
    assert data.integer == (True,) and data.decimals == (0,)
    warnings = data.warnings()
    assert any("empty 'pid'" in w and "row 62" in w for w in warnings)
    assert any("missing value in 'weight'" in w and "row 63" in w for w in warnings)

    bank = job.load_role_data(RIGHT, right, spec)
    assert bank.integer == (False, True) and bank.decimals == (2, 0)
    assert len(bank.ids) == 70
    assert bank.values[0][5] == scaled("1061.725", 2) + 50  # 106172 (half even) + 0.50
    assert bank.values[1][5] == 1 + 1
    assert job.columns_used(spec, LEFT) == ("pid", "region", "weight")
    assert job.columns_used(spec, RIGHT) == ("cid", "income", "cards")


def test_empty_group_value_is_an_error(tmp_path: Path) -> None:
    left = write(tmp_path / "l.csv", ["id", "g"], [["a", "x"], ["b", " "]])
    spec = JoinAggregateSpec.build(key="id", by=("g",))
    with pytest.raises(DatasetError, match="row 2") as raised:
        job.load_role_data(LEFT, left, spec)
    assert raised.value.column == "g"


def test_a_value_too_large_for_the_scale_is_named(tmp_path: Path) -> None:
    right = write(tmp_path / "r.csv", ["id", "v"], [["a", "1.5"], ["b", "1e17"]])
    spec = JoinAggregateSpec.build(key="id", right_values=("v",), decimals=3)
    with pytest.raises(DatasetError, match=r"row 2.*decimals"):
        job.load_role_data(RIGHT, right, spec)


def test_left_file_without_records_is_an_error(tmp_path: Path) -> None:
    left = write(tmp_path / "l.csv", ["id"], [[""]])
    right = write(tmp_path / "r.csv", ["id"], [["a"]])
    with pytest.raises(Exception, match="no records left"):
        run_in_memory(left, right, JoinAggregateSpec.build(key="id"))


# --------------------------------------------------------------------------- spec


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"key": ""}, "key"),
        ({"key": "id", "decimals": 7}, "decimals"),
        ({"key": "id", "min_cell": 0}, "min_cell"),
        ({"key": "id", "chunk_size": 0}, "chunk_size"),
        ({"key": "id", "colour": "red"}, "colour"),
    ],
)
def test_spec_errors_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as raised:
        JoinAggregateSpec.build(**options)
    assert raised.value.parameter == field


@pytest.mark.parametrize(
    "options",
    [
        {"left_values": ("x",), "right_values": ("x",)},
        {"by": ("g", "g")},
        {"by": ("id",)},
        {"right_values": ("id",)},
    ],
)
def test_spec_rejects_conflicting_columns(options: dict[str, Any]) -> None:
    with pytest.raises(ParameterError):
        JoinAggregateSpec.build(key="id", **options)


def test_peer_key_names_the_right_files_identifier_column() -> None:
    spec = JoinAggregateSpec.build(key="pid", peer_key="cid", right_values=("income",))

    assert job.columns_used(spec, RIGHT) == ("cid", "income")
    assert job.columns_used(spec, LEFT) == ("pid",)
    assert spec.model_dump()["peer_key"] == "cid" and "right_key" not in spec.model_dump()


def test_right_key_is_still_accepted_as_the_old_name_of_peer_key() -> None:
    old = JoinAggregateSpec.build(key="pid", right_key="cid", right_values=("income",))
    from_json = JoinAggregateSpec.model_validate({"key": "pid", "right_key": None})

    assert old == JoinAggregateSpec.build(key="pid", peer_key="cid", right_values=("income",))
    assert from_json.peer_key is None
    assert "right_key" not in old.model_dump()
    with pytest.raises(ParameterError, match="peer_key and right_key"):
        JoinAggregateSpec.build(key="pid", peer_key="cid", right_key="cid")
    with pytest.raises(ParameterError):
        JoinAggregateSpec.build(key="pid", right_key="income", right_values=("income",))


def test_unknown_role() -> None:
    spec = JoinAggregateSpec.build(key="id")
    with pytest.raises(ParameterError):
        job.columns_used(spec, "middle")
    with pytest.raises(ParameterError):
        job.load_role_data("middle", "x.csv", spec)


# --------------------------------------------------------------------------- real processes


def test_local_run_in_two_processes(files: tuple[Path, Path]) -> None:
    left, right = files
    spec = JoinAggregateSpec.build(
        key="pid", peer_key="cid", by=("region",), right_values=("income",), min_cell=5
    )
    seen: set[tuple[str, str]] = set()

    run = job.run_local_join_aggregate(
        left, right, spec, progress=lambda party, step, done, total: seen.add((party, step))
    )

    want = expected_groups(left, right, 2)
    released = {g["by"]["region"]: g for g in run.result["groups"] if not g["suppressed"]}
    assert set(released) == {"East", "North", "South"}
    for region, entry in released.items():
        assert (entry["count"], entry["sum:income"]) == (
            want[region]["count"], want[region]["sum:income"],
        )  # fmt: skip
    assert run.result["seconds"] > 0
    assert set(run.outcomes) == {LEFT, RIGHT}
    assert run.outcomes[RIGHT].output.result["role"] == RIGHT
    assert (LEFT, "match peer records") in seen and (RIGHT, "re-key peer records") in seen
    assert len(run.warnings) >= 3
    with pytest.raises(DatasetError, match="not found"):
        job.run_local_join_aggregate(left, left.with_name("missing.csv"), spec)


def test_missing_value_markers_are_empty_identifiers_dropped_with_a_warning(
    tmp_path: Path,
) -> None:
    rows = [[f"p{i}", "1"] for i in range(4)] + [["NaN", "5"], [" na ", "6"], ["NULL", "7"]]
    right = write(tmp_path / "bank.csv", ["id", "v"], [*rows, ["", "8"]])
    spec = JoinAggregateSpec.build(key="id", right_values=("v",))
    data = job.load_role_data(RIGHT, right, spec)
    assert data.ids == ["p0", "p1", "p2", "p3"]  # "nan", "na" and "null" are not persons
    assert data.values == [[1, 1, 1, 1]]
    assert data.warnings() == [
        f"{right}: 4 records with an empty 'id' or one written as 'NULL', 'NaN', 'na' "
        "dropped (rows 5, 6, 7, 8)"
    ]


@pytest.mark.parametrize("role", [LEFT, RIGHT])
def test_a_file_without_records_is_an_error_naming_it(tmp_path: Path, role: str) -> None:
    path = write(tmp_path / f"{role}.csv", ["id"], [])
    with pytest.raises(DatasetError) as raised:
        job.load_role_data(role, path, JoinAggregateSpec.build(key="id"))
    assert str(raised.value).startswith(f"{path}: the file has a header but no data rows")
    only_markers = write(tmp_path / f"{role}-na.csv", ["id"], [["NA"], ["nan"]])
    with pytest.raises(DatasetError, match="no records left to join"):
        job.load_role_data(role, only_markers, JoinAggregateSpec.build(key="id"))


def test_a_folder_given_as_a_file_is_named_a_folder(tmp_path: Path) -> None:
    left = write(tmp_path / "l.csv", ["id"], [["a"]])
    (tmp_path / "bank").mkdir()
    with pytest.raises(DatasetError, match=r"bank: right file is a folder, not a data file"):
        job.run_local_join_aggregate(left, tmp_path / "bank", JoinAggregateSpec.build(key="id"))
