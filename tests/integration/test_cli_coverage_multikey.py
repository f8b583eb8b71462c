"""Coverage by match keys (``--match-key``) when the files share no identifier.

Real processes: ``privstats run coverage`` spawns one process per party on 127.0.0.1, and
the hub kind runs through a LocalFederation (hub and two nodes). A small local generator
plants one kind of error per person in the source so that each rule misses some true
matches and the union of the rules catches them all:

====================  ========================  ====  ====  ====
source copy            example                   R1    R2    R3
====================  ========================  ====  ====  ====
clean (reformatted)    Bill / 03-02-1980 / sw1…  yes   yes   yes
wrong day of birth     1980-02-04                no    no    yes
moved                  another postcode          yes   yes   no
surname typo           Smitth (doubled letter)   yes   no    no
====================  ========================  ====  ====  ====

R1 = soundex(surname)+dob+sex, R2 = initial(first_name)+surname+dob,
R3 = first_name+surname+postcode. Results are compared with that table and with the
plaintext matching of the same rules on the same files.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from privstats.client import Federation
from privstats.jobs.coverage_keys import rule_figures
from privstats.jobs.coverage_release import CoverageTerms, protect_release
from privstats.linkage.match_keys import parse_rules, record_keys
from privstats.local_federation import LocalFederation

PRIVSTATS = [sys.executable, "-c", "from privstats.cli import main; main()"]
RULES = [
    "soundex(surname)+dob+sex",
    "initial(first_name)+surname+dob",
    "first_name+surname+postcode",
]
REGIONS = {"North": 160, "South": 140, "East": 120, "Tiny": 4}
FIRST = ["William", "Robert", "Elizabeth", "Margaret", "James", "Thomas", "Anna", "Sofia"]
NICK = {"William": "Bill", "Robert": "Bob", "Elizabeth": "Liz", "Margaret": "Peggy"}
SURNAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker",
    "Wright", "Hughes", "Green", "Hall", "Wood", "Clarke", "Turner", "Müller", "García",
]  # fmt: skip
ERRORS = ("clean", "dob", "moved", "typo")
EXPECTED_RULES = {  # per error kind: does each rule still match?
    "clean": (True, True, True),
    "dob": (False, False, True),
    "moved": (True, True, False),
    "typo": (True, False, False),
}


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRIVSTATS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _typo(surname: str) -> str:
    """Double a consonant after the first letter: Soundex codes it alike, the text differs."""
    for i, c in enumerate(surname[1:], start=1):
        if c.lower() not in "aeiouy":
            return surname[:i] + c + surname[i:]
    return surname + surname[-1]


def make_people(folder: Path, seed: int = 3) -> dict[str, Any]:
    """Register and source CSVs (no common identifier) and the truth per region."""
    rng = random.Random(seed)
    days = rng.sample(range(20_000), sum(REGIONS.values()))  # unique birth dates
    register, source = [], []
    truth: dict[str, dict[str, Any]] = {}
    pid = 0
    for region, n in REGIONS.items():
        counts = {"size": n, "matched": 0, "rules": [0, 0, 0]}
        for _ in range(n):
            first, surname = rng.choice(FIRST), rng.choice(SURNAMES)
            dob = dt.date(1940, 1, 1) + dt.timedelta(days=days[pid])
            sex = rng.choice("MF")
            postcode = f"{region[:2].upper()}{rng.randrange(1, 99)} {rng.randrange(1, 9)}AB"
            register.append([f"P{pid:05d}", first, surname, dob.isoformat(), sex, postcode, region])
            pid += 1
            if rng.random() < 0.3:
                continue  # not in the source
            error = rng.choice(ERRORS)
            s_first = NICK.get(first, first) if rng.random() < 0.5 else first.upper()
            s_surname = _typo(surname) if error == "typo" else surname
            s_dob = dob + dt.timedelta(days=1) if error == "dob" else dob
            s_post = "ZZ9 9ZZ" if error == "moved" else postcode.replace(" ", "").lower()
            source.append([s_first, s_surname, s_dob.strftime("%d/%m/%Y"), sex.lower(), s_post])
            counts["matched"] += 1
            for j, hit in enumerate(EXPECTED_RULES[error]):
                counts["rules"][j] += hit
        truth[region] = counts
    for i in range(60):  # customers not in the register
        source.append([f"Stray{i}", f"Nobody{i}x", "01/01/2001", "f", "XX1 1XX"])
    rng.shuffle(source)
    with (folder / "register.csv").open("w", newline="") as f:
        header = ["person_id", "first_name", "surname", "dob", "sex", "postcode", "region"]
        csv.writer(f).writerows([header, *register])
    with (folder / "source.csv").open("w", newline="") as f:
        header = ["given", "family_name", "birth_date", "sex", "postcode"]
        csv.writer(f).writerows([header, *source])
    return {"truth": truth, "register": register, "source": source}


def plaintext(people: dict[str, Any]) -> dict[str, tuple[int, list[int]]]:
    """Per region: the matched persons (any rule) and per rule, matched in the clear."""
    rules = parse_rules(RULES)
    names = ["first_name", "surname", "dob", "sex", "postcode"]
    src = [record_keys(dict(zip(names, row, strict=True)), rules) for row in people["source"]]
    keys = [{k[j] for k in src if k[j]} for j in range(len(RULES))]
    out: dict[str, tuple[int, list[int]]] = {}
    for row in people["register"]:
        mine = record_keys(dict(zip(names, row[1:6], strict=True)), rules)
        hits = [bool(k) and k in keys[j] for j, k in enumerate(mine)]
        any_hit, per_rule = out.get(row[6], (0, [0, 0, 0]))
        out[row[6]] = (any_hit + any(hits), [a + b for a, b in zip(per_rule, hits, strict=True)])
    return out


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("multikey")
    return folder, make_people(folder)


def _match_options() -> list[str]:
    options = [
        "--source-field", "first_name=given", "--source-field", "surname=family_name",
        "--source-field", "dob=birth_date",
    ]  # fmt: skip
    for rule in RULES:
        options += ["--match-key", rule]
    return options


def _check(result: dict[str, Any], people: dict[str, Any]) -> None:
    truth = people["truth"]
    clear = plaintext(people)
    groups = {g["by"]["region"]: g for g in result["groups"]}
    assert groups["Tiny"]["suppressed"] and groups["Tiny"]["matched_by_rule"] is None
    released = [r for r, g in groups.items() if not g["suppressed"]]
    assert len(released) >= 2
    for region in released:
        entry = groups[region]
        assert entry["register_size"] == truth[region]["size"]
        assert entry["matched"] == truth[region]["matched"] == clear[region][0]
        per_rule = [entry["matched_by_rule"][rule] for rule in RULES]
        assert per_rule == truth[region]["rules"] == clear[region][1]
        # each single rule misses true matches that the union catches
        assert max(per_rule) < entry["matched"]
    assert result["match_keys"] == RULES
    total = sum(t["matched"] for t in truth.values())
    assert result["matched"] == total
    assert result["source_size"] == len(people["source"])
    assert [result["matched_by_rule"][r] for r in RULES] == [
        sum(t["rules"][j] for t in truth.values()) for j in range(3)
    ]


def test_run_coverage_with_match_keys_equals_the_plaintext_matching(
    people: tuple[Path, dict[str, Any]],
) -> None:
    folder, data = people
    proc = _cli(
        "run", "coverage", "--register", str(folder / "register.csv"),
        "--source", str(folder / "source.csv"), "--key", "person_id", "--by", "region",
        "--min-cell", "5", *_match_options(), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _check(json.loads(proc.stdout), data)


def test_known_linkage_error_rates_adjust_every_released_cell(
    people: tuple[Path, dict[str, Any]],
) -> None:
    folder, data = people
    proc = _cli(
        "run", "coverage", "--register", str(folder / "register.csv"),
        "--source", str(folder / "source.csv"), "--key", "person_id", "--by", "region",
        "--min-cell", "5", *_match_options(), "--linkage-errors", "0.02,0.08", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    _check(result, data)  # the counts are those of the run without rates
    for group in result["groups"]:
        if group["suppressed"]:
            assert group["adjusted"] is None
            continue
        expected = group["matched"] * 0.98 / 0.92 / group["register_size"]
        assert group["adjusted"]["estimate"] == pytest.approx(expected)
        assert group["adjusted"]["ci_low"] < group["adjusted"]["estimate"]
    assert result["adjusted"]["errors"]["source"] == "given"
    assert result["adjusted"]["coverage"]["adjusted"]["estimate"] == pytest.approx(
        result["matched"] * 0.98 / 0.92 / result["register_size"]
    )


def test_one_rule_alone_misses_what_the_union_catches(
    people: tuple[Path, dict[str, Any]],
) -> None:
    folder, data = people
    proc = _cli(
        "run", "coverage", "--register", str(folder / "register.csv"),
        "--source", str(folder / "source.csv"), "--key", "person_id",
        "--min-cell", "5", "--source-field", "surname=family_name",
        "--source-field", "dob=birth_date", "--match-key", RULES[0], "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    truth = data["truth"]
    assert result["matched"] == sum(t["rules"][0] for t in truth.values())
    assert result["matched"] < sum(t["matched"] for t in truth.values())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--match-key", "sha256(surname)+dob"], "unknown function 'sha256'"),
        (["--match-key", RULES[0], "--dp-epsilon", "1"], "does not combine with --dp-epsilon"),
        (["--match-key", RULES[0], "--source-field", "postcode=pc"], "no --match-key rule"),
        (["--match-key", RULES[0], "--source-field", "surname"], "RULE_COLUMN=SOURCE_COLUMN"),
    ],
)
def test_wrong_match_key_options_say_what_to_fix(
    people: tuple[Path, dict[str, Any]], extra: list[str], message: str
) -> None:
    folder, _ = people
    proc = _cli(
        "run", "coverage", "--register", str(folder / "register.csv"),
        "--source", str(folder / "source.csv"), "--key", "person_id", *extra, "--json",
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_the_hub_kind_runs_match_keys_between_two_nodes(
    people: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, data = people
    with LocalFederation(tmp_path / "fed", node_timeout=5.0, poll_seconds=0.2) as federation:
        federation.add_node(
            "nso", {"population": (folder / "register.csv", ["person_id"])}, min_cell=5
        )
        # the columns the rules read identify persons: the source declares them as keys
        names = ["given", "family_name", "birth_date"]
        federation.add_node("telco", {"customers": (folder / "source.csv", names)}, min_cell=5)
        federation.wait_for_datasets(2)
        with federation.admin() as admin:
            token = admin.add_token("analyst")
        with Federation(federation.url, token) as analyst:
            job = analyst.submit_coverage(
                register="nso",
                register_dataset="population",
                source="telco",
                source_dataset="customers",
                key="person_id",
                by=["region"],
                min_cell=5,
                match_keys=RULES,
                source_fields={
                    "first_name": "given",
                    "surname": "family_name",
                    "dob": "birth_date",
                },
            ).wait(180)
            result = job.result
    _check(result, data)


def test_a_rule_whose_counts_would_pin_a_withheld_cell_is_withheld_everywhere() -> None:
    """In-process check of the per-rule disclosure step: Tiny is withheld on its size and
    East with it (secondary). Rule B matched nobody in either, so the published total
    minus North and South pins both at 0: B's figures are withheld in every cell; rule A's
    leave the two cells an interval of 7 persons and are released."""
    labels = [("East",), ("North",), ("South",), ("Tiny",)]
    sizes = dict(zip(labels, [40, 50, 60, 3], strict=True))
    matched = dict(zip(labels, [20, 30, 30, 2], strict=True))
    by_rule = [[5, 0], [25, 10], [20, 12], [2, 0]]  # per domain: rule A, rule B
    decisions = protect_release(sizes, matched, ("region",), CoverageTerms(10))
    assert decisions.withheld(labels) == {("East",), ("Tiny",)}
    figures = rule_figures(decisions, labels, ("region",), ["A", "B"], by_rule)
    assert set(figures.withheld) == {"B"}
    assert figures.cells[("North",)] == {"matched_by_rule": {"A": 25}}
    assert ("East",) not in figures.cells and ("Tiny",) not in figures.cells
    assert figures.overall == {"A": 52}
