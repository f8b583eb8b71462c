"""`privstats run linkage-coverage --review FILE`: error rates from a clerical review.

The files are built so that the linkage's decisions are certain whatever the key: exact
copies score a Dice of 1 and are linked; a source record written in letters the register
never uses shares no q-gram with any register record and is missed. The review then
labels known cases — true links, missed persons, namesakes (linked but labelled not in the
source) and persons absent from the source — so the rates and the adjusted coverage must
equal those computed from the planted truth.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from privstats.errors import DatasetError
from privstats.jobs.linkage_review import read_review
from privstats.stats.linkage_error import adjusted_coverage, errors_from_review

PRIVSTATS = [sys.executable, "-c", "from privstats.cli import main; main()"]
FIELDS = ("first_name", "surname", "dob")
LOWER = "abcdefghiklmnoprstuv"
OTHER = "qwxyzj"  # letters the register's names never use


def _word(rng: np.random.Generator, letters: str, size: int) -> str:
    return "".join(rng.choice(list(letters), size)).capitalize()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A register of 200 persons. The source: persons 0–99 and the namesakes 120–129 as
    exact copies (linked), persons 100–119 in letters and dates the register never uses
    (missed), and 30 strangers."""
    rng = np.random.default_rng(29)
    folder = tmp_path_factory.mktemp("review")
    register = [
        [
            f"P{i:04d}",
            _word(rng, LOWER, 7),
            _word(rng, LOWER, 9),
            f"19{i % 90 + 10}-0{i % 9 + 1}-1{i % 9}",
            ("North", "South")[i % 2],
        ]
        for i in range(200)
    ]
    source = [row[1:4] for row in register[:100]]
    source += [[_word(rng, OTHER, 7), _word(rng, OTHER, 9), "2222/22/22"] for _ in range(20)]
    source += [row[1:4] for row in register[120:130]]
    source += [[_word(rng, OTHER, 6), _word(rng, OTHER, 8), "3333/33/33"] for _ in range(30)]
    review = (
        [(i, 1) for i in range(40)]  # truly in the source, linked
        + [(i, 1) for i in range(100, 120)]  # truly in the source, missed
        + [(i, 0) for i in range(120, 130)]  # namesakes: linked, but not this person
        + [(i, 0) for i in range(150, 180)]  # not in the source, not linked
    )
    with (folder / "register.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["person_id", *FIELDS, "region"], *register])
    with (folder / "source.csv").open("w", newline="") as f:
        csv.writer(f).writerows([list(FIELDS), *source])
    with (folder / "review.csv").open("w", newline="") as f:
        rows = [[f"P{i:04d}", label] for i, label in review] + [["P0190", ""]]  # undecided
        csv.writer(f).writerows([["person_id", "in_source"], *rows])
    return folder / "register.csv", folder / "source.csv", folder / "review.csv"


def _run(register: Path, source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *PRIVSTATS,
            "run",
            "linkage-coverage",
            "--register",
            str(register),
            "--source",
            str(source),
            "--fields",
            ",".join(FIELDS),
            "--by",
            "region",
            "--threshold",
            "0.8",
            "--min-cell",
            "5",
            *extra,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_review_gives_the_planted_error_rates_and_adjusts_coverage(files: tuple) -> None:
    register, source, review = files
    done = _run(register, source, "--review", str(review), "--review-key", "person_id")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["matched"] == 110 and result["register_size"] == 200
    assert result["linkage"]["review"] == {
        "reviewed": 100,
        "undecided": 1,
        "declared": 50,
        "truly_in_source": 60,
        "false_matches": 10,
        "missed_matches": 20,
    }
    truth = [(True, True)] * 40 + [(False, True)] * 20 + [(True, False)] * 10
    errors = errors_from_review(truth + [(False, False)] * 30)
    assert errors.false_match_rate == pytest.approx(0.2) and errors.missed_match_rate == 1 / 3
    expected = adjusted_coverage(110, 200, errors, review_in_register=True)
    adjusted = result["adjusted"]
    assert adjusted["errors"]["source"] == "review"
    assert adjusted["errors"]["false_match_rate"] == pytest.approx(errors.false_match_rate)
    shown = adjusted["coverage"]["adjusted"]
    assert [shown["estimate"], shown["ci_low"], shown["ci_high"]] == pytest.approx(
        list(expected.adjusted)
    )
    # this review is planted, not a random sample, so the adjustment follows its rates:
    # 110 links x (1 - 0.2) / (1 - 1/3) over 200 persons
    assert adjusted["coverage"]["unadjusted"]["estimate"] == pytest.approx(0.55)
    assert shown["estimate"] == pytest.approx(110 * 0.8 / (2 / 3) / 200)
    for group in result["groups"]:
        assert group["adjusted"]["estimate"] > group["estimate"]


def test_a_review_without_its_key_column_is_refused_before_anything_runs(files: tuple) -> None:
    register, source, review = files
    done = _run(register, source, "--review", str(review))
    assert done.returncode != 0
    assert "--review and --review-key go together" in done.stderr


def test_a_review_larger_than_max_review_is_refused_naming_the_option(files: tuple) -> None:
    register, source, review = files
    done = _run(
        register, source, "--review", str(review), "--review-key", "person_id", "--max-review", "50"
    )
    assert done.returncode != 0
    assert "100 reviewed persons; the job allows at most 50 (--max-review" in done.stderr


def test_read_review_names_bad_labels_and_unknown_persons(files: tuple, tmp_path: Path) -> None:
    register, _, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id,in_source\nP0001,maybe\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="row 2: in_source is 'maybe'"):
        read_review(bad, register, "person_id", 10)
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("person_id,in_source\nP9999,1\n", encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"not in the register's 'person_id' column, e\.g\. 'P9999'"
    ):
        read_review(stranger, register, "person_id", 10)
    twice = tmp_path / "twice.csv"
    twice.write_text("person_id,in_source\nP0001,1\nP0001,\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="'P0001' is reviewed twice"):
        read_review(twice, register, "person_id", 10)
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("id,label\nP0001,1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="lacks 'person_id', 'in_source'"):
        read_review(lacking, register, "person_id", 10)
