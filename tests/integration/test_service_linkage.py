"""``linkage_coverage`` through a real hub: register, source and a data-less linker node.

Three ``privstats node run`` processes on 127.0.0.1: the office's register, the telecom's
customers and a linkage unit that holds no data (its policy lets it take part in
``linkage_coverage`` jobs without a dataset). The released matched counts are compared with
the generator's truth, within the precision and recall the linkage reaches; the job is
refused by a linker node whose policy has no data-less rule for the kind.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from privstats.client import Federation
from privstats.data.people import FIELDS, NO_ERRORS, make_people
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation

COLUMNS = ("first_name", "surname", "dob", "sex", "postcode")


def _write(path: Path, rows: list, columns: tuple[str, ...]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(dict(row) for row in rows)
    return path


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalFederation, dict]]:
    folder = tmp_path_factory.mktemp("linkage")
    register, source, truth = make_people(900, 600, 500, seed=11, errors=NO_ERRORS)
    register_file = _write(folder / "register.csv", register, ("person_id", *FIELDS))
    source_file = _write(folder / "customers.csv", source, tuple(FIELDS))
    in_register = {pid for pid in truth.values() if pid is not None}
    reviewed = [row["person_id"] for row in register[::15]]  # 60 persons, a clerk's sample
    review_file = folder / "review.csv"
    review_file.write_text(
        "person_id,in_source\n" + "".join(f"{pid},{int(pid in in_register)}\n" for pid in reviewed),
        encoding="utf-8",
    )
    truly = sum(pid in in_register for pid in reviewed)
    regions: dict[str, int] = {}
    for row in register:
        if row["person_id"] in in_register:
            regions[row["region"]] = regions.get(row["region"], 0) + 1
    with LocalFederation(folder / "fed", node_timeout=60.0, poll_seconds=0.2) as fed:
        fed.add_node(
            "nso",
            {
                "population": (register_file, ["person_id", *COLUMNS]),
                "review": (review_file, ["person_id", "in_source"]),
            },
            allow=("linkage_coverage",),
        )  # fmt: skip
        fed.add_node(
            "telco", {"customers": (source_file, list(COLUMNS))}, allow=("linkage_coverage",)
        )
        fed.add_node("unit", {}, allow=("linkage_coverage",))
        fed.add_node("bystander", {}, allow=("coverage",))
        fed.wait_for_datasets(2)
        yield fed, {"truth_by_region": regions, "truth": len(in_register), "truly": truly}


def _analyst(federation: LocalFederation, name: str) -> Federation:
    with federation.admin() as admin:
        return Federation(federation.url, admin.add_token(name))


@pytest.mark.slow
def test_linkage_coverage_runs_through_the_hub_with_a_dataless_linker(
    federation: tuple[LocalFederation, dict],
) -> None:
    fed, expected = federation
    with _analyst(fed, "ana") as analyst:
        job = analyst.submit(
            "linkage_coverage",
            {"fields": list(COLUMNS), "by": ["region"], "min_cell": 10},
            {"register": "nso", "source": "telco", "linker": "unit"},
            {"register": "population", "source": "customers"},
        )
        result = job.wait(timeout=300).result
    assert "linker" not in job.info["manifest"]["datasets"]
    assert result["computation"] == "linkage_coverage"
    assert result["register_size"] == 900 and result["source_size"] == 600
    # no errors planted: the linkage finds every true match and no false one
    assert result["matched"] == expected["truth"]
    for group in result["groups"]:
        if group["matched"] is not None:
            assert group["matched"] == expected["truth_by_region"][group["by"]["region"]]


@pytest.mark.slow
def test_a_review_the_register_node_offers_gives_the_rates(
    federation: tuple[LocalFederation, dict],
) -> None:
    fed, expected = federation
    spec = {
        "fields": list(COLUMNS),
        "by": ["region"],
        "review": "review",  # at a hub: a dataset the register's node offers
        "review_key": "person_id",
        "max_review": 100,
    }
    roles = {"register": "nso", "source": "telco", "linker": "unit"}
    with _analyst(fed, "cai") as analyst:
        job = analyst.submit(
            "linkage_coverage", spec, roles, {"register": "population", "source": "customers"}
        )
        result = job.wait(timeout=300).result
        assert job.info["manifest"]["disclosure"]["review_max"] == 100
        # no errors planted: the 60 reviewed persons' links agree with the truth
        assert result["linkage"]["review"] == {
            "reviewed": 60,
            "undecided": 0,
            "declared": expected["truly"],
            "truly_in_source": expected["truly"],
            "false_matches": 0,
            "missed_matches": 0,
        }
        assert result["adjusted"]["errors"]["source"] == "review"
        assert result["adjusted"]["coverage"]["adjusted"]["estimate"] == pytest.approx(
            expected["truth"] / 900
        )
        # a file the node does not offer cannot be named: the node refuses to read it
        job = analyst.submit(
            "linkage_coverage",
            {**spec, "review": "/etc/passwd"},
            roles,
            {"register": "population", "source": "customers"},
        )
        with pytest.raises(JobFailedError, match=r"'/etc/passwd' this node does not offer"):
            job.wait(timeout=120)


@pytest.mark.slow
def test_a_linker_node_without_a_dataless_rule_refuses_the_job(
    federation: tuple[LocalFederation, dict],
) -> None:
    fed, _ = federation
    with _analyst(fed, "ben") as analyst:
        job = analyst.submit(
            "linkage_coverage",
            {"fields": list(COLUMNS), "by": ["region"]},
            {"register": "nso", "source": "telco", "linker": "bystander"},
            {"register": "population", "source": "customers"},
        )
        with pytest.raises(JobFailedError, match=r"rejected by 'bystander'.*without data"):
            job.wait(timeout=120)
