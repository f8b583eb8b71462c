"""The issue's output attacks, run as an analyst and a curious party would: through a real
hub and real node processes (LocalFederation), with the nodes' own policies.

Data: two offices hold persons with region, sex, wage, turnover and a flag; one person
("target") is alone in Islands/F at office A, and is the only record with flag = 1. Each
attack once gave her exact wage; here each second job is refused or its cells withheld,
and for the differencing attacks the analyst's best knowledge of her wage is solved for
by LP from every figure released: an interval, not a value.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog

from privstats.client import Federation
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation

REGIONS = ("North", "South", "East")
TARGET_WAGE = 4321


def _write(path: Path, n: int, seed: int, *, target: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "pid": f"{seed}-{i}",
            "region": REGIONS[(i * 7 + seed) % 3],
            "sex": "FM"[i % 2],
            "wage": 2000 + (i * 37 + seed) % 1500,
            "turnover": 100 + (i * 13) % 50,
            "flag": 0,
        }
        for i in range(n)
    ]
    if target:
        rows += [
            {"pid": f"isl-{i}", "region": "Islands", "sex": "M", "wage": 2500 + 10 * i}
            | {"turnover": 120, "flag": 0}
            for i in range(12)
        ]
        rows.append(
            {"pid": "target", "region": "Islands", "sex": "F", "wage": TARGET_WAGE}
            | {"turnover": 110, "flag": 1}
        )
        rows[0]["turnover"] = 90_000  # one firm dominates its region-and-sex cell
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def offices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, Path]]:
    folder = tmp_path_factory.mktemp("attacks")
    _write(folder / "a.csv", 120, 1, target=True)
    _write(folder / "b.csv", 130, 2, target=False)
    with LocalFederation(folder / "fed", node_timeout=30.0, poll_seconds=0.2) as federation:
        federation.add_node(
            "office_a", {"persons": (folder / "a.csv", ["pid"])}, allow=("aggregate",)
        )
        federation.add_node(
            "office_b",
            {"persons": (folder / "b.csv", ["pid"])},
            allow=("aggregate",),
            rules=("nk:1,80",),  # office B's own dominance rule, applied to every job
        )
        federation.wait_for_datasets(2)
        with federation.admin() as admin:
            token = admin.add_token("analyst")
        with Federation(federation.url, token) as analyst:
            yield analyst, folder


def _aggregate(analyst: Federation, **parameters: Any) -> dict[str, Any]:
    job = analyst.submit_aggregate(
        datasets={"office_a": "persons", "office_b": "persons"}, **parameters
    )
    return dict(job.wait(timeout=180).result)


def _cells(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*result["groups"], *result.get("margins", [])]


def _wage_interval(releases: Sequence[Mapping[str, Any]], target: dict[str, str]) -> float:
    """The width of what an analyst can know of the target cell's wage sum from every
    published ``sum:wage`` of ``releases`` (LP over the region × sex cells, each ≥ 0)."""
    atoms = list(itertools.product((*REGIONS, "Islands"), "FM"))
    rows, values = [], []
    for release in releases:
        for cell in release["groups"]:
            if cell.get("sum:wage") is None:
                continue
            by = cell["by"]
            rows.append(
                [
                    float(
                        all(by.get(k, v) == v for k, v in zip(("region", "sex"), atom, strict=True))
                    )
                    for atom in atoms
                ]
            )
            values.append(cell["sum:wage"])
    goal = np.array([float(atom == (target["region"], target["sex"])) for atom in atoms])
    bounds = [(0, None)] * len(atoms)
    low = linprog(goal, A_eq=rows, b_eq=values, bounds=bounds, method="highs")
    high = linprog(-goal, A_eq=rows, b_eq=values, bounds=bounds, method="highs")
    assert low.status == 0, low.message
    return float("inf") if high.status == 3 else -high.fun - low.fun


def test_differencing_across_two_groupings_gives_no_exact_wage(
    offices: tuple[Federation, Path],
) -> None:
    analyst, _ = offices
    by_region = _aggregate(analyst, stats=["count", "sum:wage"], by=["region"])
    by_region_sex = _aggregate(analyst, stats=["count", "sum:wage"], by=["region", "sex"])
    groups = {tuple(g["by"].values()): g for g in by_region_sex["groups"]}
    assert groups[("Islands", "F")]["suppressed"]
    assert groups[("Islands", "M")]["suppressed"]  # her own row's complement
    islands = next(g for g in by_region["groups"] if g["by"]["region"] == "Islands")
    assert islands["sum:wage"] is not None  # the margin is out, and still:
    width = _wage_interval([by_region, by_region_sex], {"region": "Islands", "sex": "F"})
    assert width >= TARGET_WAGE  # anywhere from 0 to past her wage


def test_a_dominated_cell_is_withheld_by_the_owners_rule(offices: tuple[Federation, Path]) -> None:
    analyst, _ = offices
    result = _aggregate(analyst, stats=["count", "sum:turnover"], by=["region", "sex"])
    assert "nk:1,80" in result["rules"]
    dominated = [g for g in result["groups"] if "nk:1,80" in (g.get("reason") or "")]
    assert len(dominated) == 1 and dominated[0]["sum:turnover"] is None


def test_quantiles_that_would_list_values_or_the_maximum_are_refused(
    offices: tuple[Federation, Path],
) -> None:
    analyst, _ = offices
    levels = ("0.4", "0.401", "0.402", "0.403")  # consecutive order statistics of 263
    stats = ["count", "quantile:wage:0.999", *(f"quantile:wage:{q}" for q in levels)]
    result = _aggregate(analyst, stats=stats, min_cell=10)
    cell = result["groups"][0]
    assert cell["count"] == 263 and cell["quantile:wage:0.999"] is None
    released = [cell[f"quantile:wage:{q}"] for q in levels]
    assert sum(v is not None for v in released) == 1  # levels closer than min_cell/N apart
    assert "edge of the data" in cell["refused"]["quantile:wage:0.999"]


def test_a_model_whose_regressor_singles_her_out_is_refused(
    offices: tuple[Federation, Path],
) -> None:
    analyst, _ = offices
    result = _aggregate(analyst, stats=["count"], ols="wage ~ flag")
    assert result["ols"] is None or result["ols"].get("coefficients") is None
    assert "flag" in str(result).lower() and "reason" in str(result)


def test_the_same_job_after_one_record_is_added_withholds_the_difference(
    offices: tuple[Federation, Path],
) -> None:
    analyst, folder = offices
    before = _aggregate(analyst, stats=["count", "sum:wage"], by=["region"])
    with open(folder / "a.csv", "a", encoding="utf-8") as handle:
        handle.write("late-1,East,F,9999,100,0\n")
    after = _aggregate(analyst, stats=["count", "sum:wage"], by=["region"])
    east = [
        next(g for g in release["groups"] if g["by"]["region"] == "East")
        for release in (before, after)
    ]
    assert east[0]["sum:wage"] is not None
    assert east[1]["sum:wage"] is None  # the node's release history withholds it
    assert "job" in (east[1].get("reason") or "")


def test_a_register_padded_with_invented_ids_or_a_one_customer_list_is_refused(
    tmp_path: Path,
) -> None:
    """Each side's node sets the smallest list it lets the other bring: the target plus 9
    invented ids meets no floor of the telecom's (100), and a list of one customer none of
    the office's (50); both jobs stop before anything is matched or released."""
    padded = tmp_path / "padded.csv"
    padded.write_text(
        "pid,region,sex\ntarget,Islands,F\n" + "".join(f"fake-{i},North,M\n" for i in range(9)),
        encoding="utf-8",
    )
    population = tmp_path / "population.csv"
    population.write_text(
        "pid,region,sex\ntarget,Islands,F\n" + "".join(f"c-{i},North,M\n" for i in range(300)),
        encoding="utf-8",
    )
    customers = tmp_path / "telecom.csv"
    customers.write_text("cid\n" + "".join(f"c-{i}\n" for i in range(300)) + "target\n")
    one = tmp_path / "one.csv"
    one.write_text("cid\ntarget\n", encoding="utf-8")
    with LocalFederation(tmp_path / "fed", node_timeout=30.0, poll_seconds=0.2) as federation:
        federation.add_node(
            "nso",
            {"padded": (padded, ["pid"]), "population": (population, ["pid"])},
            min_peer_rows=50,
        )
        federation.add_node(
            "telecom", {"customers": (customers, ["cid"]), "one": (one, ["cid"])}, min_peer_rows=100
        )
        federation.wait_for_datasets(4)
        with federation.admin() as admin:
            token = admin.add_token("analyst")
        with Federation(federation.url, token) as analyst:
            for register, source, floor in (
                ("padded", "customers", 100),
                ("population", "one", 50),
            ):
                job = analyst.submit_coverage(
                    register="nso",
                    register_dataset=register,
                    source="telecom",
                    source_dataset=source,
                    key="pid",
                    peer_key="cid",
                    by=["region", "sex"],
                )
                with pytest.raises(JobFailedError) as failed:
                    job.wait(timeout=180)
                assert "min_peer_rows" in str(failed.value) and str(floor) in str(failed.value)


def test_a_join_rerun_with_the_target_added_to_the_list_is_withheld_by_the_bank(
    tmp_path: Path,
) -> None:
    """The office (left) runs 30 persons, then the same 30 plus the target: the bank's
    node, by its own release history, withholds the second total income."""
    bank = tmp_path / "bank.csv"
    bank.write_text(
        "cid,income\n" + "".join(f"p-{i},{1000 + 7 * i}\n" for i in range(200)) + "target,7777\n",
        encoding="utf-8",
    )
    office = tmp_path / "office.csv"
    office.write_text("pid\n" + "".join(f"p-{i}\n" for i in range(30)), encoding="utf-8")
    with LocalFederation(tmp_path / "fed", node_timeout=30.0, poll_seconds=0.2) as federation:
        federation.add_node("nso", {"persons": (office, ["pid"])}, allow=("join_aggregate",))
        federation.add_node("bank", {"accounts": (bank, ["cid"])}, allow=("join_aggregate",))
        federation.wait_for_datasets(2)
        with federation.admin() as admin:
            token = admin.add_token("analyst")
        with Federation(federation.url, token) as analyst:

            def run() -> dict[str, Any]:
                job = analyst.submit_join_aggregate(
                    left="nso",
                    left_dataset="persons",
                    right="bank",
                    right_dataset="accounts",
                    key="pid",
                    peer_key="cid",
                    right_values=["income"],
                )
                return dict(job.wait(timeout=180).result)

            first = run()
            with open(office, "a", encoding="utf-8") as handle:
                handle.write("target\n")
            second = run()
    assert first["groups"][0]["sum:income"] == sum(1000 + 7 * i for i in range(30))
    assert second["groups"][0]["sum:income"] is None
    assert second["groups"][0]["suppressed"]
