"""The generator of people with linkage errors: shapes, truth, and each planted error kind."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from privstats.data.people import (
    FIELDS,
    FIRST_NAMES_FEMALE,
    FIRST_NAMES_MALE,
    NICKNAMES,
    NO_ERRORS,
    POSTCODE_AREAS,
    SURNAMES,
    ErrorRates,
    make_people,
    typo,
)
from privstats.errors import ParameterError


def _only(**rates: float) -> ErrorRates:
    return ErrorRates(**{**vars(NO_ERRORS), **rates})


def test_shapes_ids_and_truth() -> None:
    register, source, truth = make_people(600, 400, 300, seed=1)
    assert len(register) == 600 and len(source) == 400
    assert all(set(row) == {"person_id", *FIELDS} for row in register)
    assert all(set(row) == set(FIELDS) for row in source)
    ids = [row["person_id"] for row in register]
    assert len(set(ids)) == 600 and all(re.fullmatch(r"\d{10}", i) for i in ids)
    assert set(truth) == set(range(400))
    linked = [pid for pid in truth.values() if pid is not None]
    assert len(linked) == 300 and len(set(linked)) == 300 and set(linked) <= set(ids)


def test_same_seed_same_people_other_seed_other_people() -> None:
    assert make_people(200, 100, 50, seed=3) == make_people(200, 100, 50, seed=3)
    assert make_people(200, 100, 50, seed=3)[0] != make_people(200, 100, 50, seed=4)[0]


def test_without_errors_the_source_copies_the_register() -> None:
    register, source, truth = make_people(500, 300, 250, seed=2, errors=NO_ERRORS)
    by_id = {row["person_id"]: row for row in register}
    for index, pid in truth.items():
        if pid is not None:
            assert source[index] == {k: by_id[pid][k] for k in FIELDS}
    for row in register:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["dob"])
        assert row["sex"] in {"F", "M"}
        assert row["first_name"] in (FIRST_NAMES_FEMALE if row["sex"] == "F" else FIRST_NAMES_MALE)
        assert row["postcode"][:2] in {"CA", "NO", "NE", "EA", "SO", "SW", "WE", "IS"}


def test_common_names_are_common() -> None:
    register, _, _ = make_people(3_000, 0, 0, seed=5)
    counts = Counter(row["surname"] for row in register)
    assert counts[SURNAMES[0]] > 5 * max(counts[SURNAMES[-1]], 1)
    assert len(FIRST_NAMES_FEMALE) + len(FIRST_NAMES_MALE) >= 250 and len(SURNAMES) >= 250


def _pairs(rates: ErrorRates, seed: int = 9) -> list[tuple[dict[str, str], dict[str, str]]]:
    register, source, truth = make_people(2_000, 1_500, 1_500, seed=seed, errors=rates)
    by_id = {row["person_id"]: row for row in register}
    return [(by_id[pid], source[i]) for i, pid in truth.items() if pid is not None]


def test_each_error_kind_at_its_rate() -> None:
    pairs = _pairs(_only(day_month_swap=0.5))
    swapped = [s for r, s in pairs if s["dob"] != r["dob"]]
    eligible = [r for r, _ in pairs if int(r["dob"][8:]) <= 12 and r["dob"][5:7] != r["dob"][8:]]
    assert 0.4 < len(swapped) / len(eligible) < 0.6
    for r, s in pairs:
        if s["dob"] != r["dob"]:
            assert s["dob"] == f"{r['dob'][:4]}-{r['dob'][8:]}-{r['dob'][5:7]}"

    pairs = _pairs(_only(nickname=1.0))
    for r, s in pairs:
        assert s["first_name"] in NICKNAMES.get(r["first_name"], (r["first_name"],))

    pairs = _pairs(_only(moved=0.2))
    moved = [(r, s) for r, s in pairs if s["postcode"] != r["postcode"]]
    assert 0.15 < len(moved) / len(pairs) < 0.25
    assert any(r["region"] != s["region"] for r, s in moved)
    assert all(s["postcode"].startswith(POSTCODE_AREAS[s["region"]]) for _, s in moved)

    pairs = _pairs(_only(missing=0.1))
    blanked = [s for _, s in pairs if "" in s.values()]
    assert 0.07 < len(blanked) / len(pairs) < 0.13
    assert {k for s in blanked for k, v in s.items() if v == ""} <= {
        "first_name",
        "dob",
        "sex",
        "postcode",
    }

    pairs = _pairs(_only(typo=0.2))
    changed = [
        (r, s)
        for r, s in pairs
        if (r["first_name"], r["surname"]) != (s["first_name"], s["surname"])
    ]
    assert 0.15 < len(changed) / len(pairs) < 0.25


def test_namesakes_share_name_and_birth_but_not_the_person() -> None:
    register, source, truth = make_people(1_000, 500, 0, seed=4, errors=_only(namesake=0.5))
    keys = {(r["first_name"], r["surname"], r["dob"]) for r in register}
    twins = [s for s in source if (s["first_name"], s["surname"], s["dob"]) in keys]
    assert 0.4 < len(twins) / 500 < 0.6
    assert all(pid is None for pid in truth.values())


def test_typo_is_one_edit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        word = str(rng.choice(list(SURNAMES)))
        changed = typo(rng, word)
        assert changed[0] == word[0]
        assert len(word) - 1 <= len(changed) <= len(word)
    assert typo(rng, "Li") == "Li"


def test_invalid_sizes_and_rates() -> None:
    with pytest.raises(ParameterError, match="overlap"):
        make_people(10, 5, 6, seed=1)
    with pytest.raises(ParameterError, match="non-negative"):
        make_people(-1, 5, 0, seed=1)
    with pytest.raises(ParameterError, match="typo"):
        ErrorRates(typo=1.5)
