"""``privstats demo linkage`` as a user runs it: real processes for each party on loopback.

The demo's figures are checked against a plaintext computation on the same generated
people: the exact-id PSI count equals the plaintext exact matching, the truth equals the
generator's, the unadjusted coverage misses the truth and the adjusted interval holds it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from privstats.cli._console import out
from privstats.cli.demo_linkage import (
    WayResult,
    _adjust,
    _as_json,
    _errors_in,
    _matched_by_region,
    _table,
    exact_key,
    make_linkage_demo,
)
from privstats.data.people import make_people

PRIVSTATS = [sys.executable, "-c", "from privstats.cli import main; main()"]
SIZES = {"register": 1_500, "source": 1_000, "overlap": 900, "seed": 7}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("linkage")
    done = subprocess.run(
        [
            *PRIVSTATS,
            "demo",
            "linkage",
            "--register-size",
            str(SIZES["register"]),
            "--source-size",
            str(SIZES["source"]),
            "--overlap",
            str(SIZES["overlap"]),
            "--seed",
            str(SIZES["seed"]),
            "--review",
            "300",
            "--keep",
            str(folder),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), folder


def test_truth_is_the_generators(demo: tuple[dict, Path]) -> None:
    result, _ = demo
    register, _, truth = make_people(
        SIZES["register"], SIZES["source"], SIZES["overlap"], SIZES["seed"]
    )
    covered = {pid for pid in truth.values() if pid is not None}
    by_region = Counter(row["region"] for row in register if row["person_id"] in covered)
    assert result["truth"]["Total"] == {
        "covered": SIZES["overlap"],
        "register_size": SIZES["register"],
        "coverage": SIZES["overlap"] / SIZES["register"],
    }
    for region, count in by_region.items():
        assert result["truth"][region]["covered"] == count


def test_exact_id_psi_equals_plaintext_matching_and_misses(demo: tuple[dict, Path]) -> None:
    result, folder = demo
    register, source, _ = make_people(
        SIZES["register"], SIZES["source"], SIZES["overlap"], SIZES["seed"]
    )
    keys = {exact_key(row) for row in source}
    plain = Counter(row["region"] for row in register if exact_key(row) in keys)
    exact = next(way for way in result["ways"] if way["name"] == "exact id")
    assert exact["matched"]["Total"] == sum(plain.values())
    for region, count in plain.items():
        assert exact["matched"][region] == count
    assert (folder / "register.csv").is_file() and (folder / "source.csv").is_file()
    # the unreliable identifier misses true matches: unadjusted coverage well below truth
    truth = result["truth"]["Total"]["coverage"]
    unadjusted = exact["groups"]["Total"]["unadjusted"]
    assert unadjusted["ci_high"] < truth - 0.02


def test_adjusted_coverage_holds_the_truth(demo: tuple[dict, Path]) -> None:
    result, _ = demo
    truth = result["truth"]["Total"]["coverage"]
    assert [way["name"] for way in result["ways"]] == ["exact id", "multi-key", "Bloom filters"]
    for way in result["ways"]:
        total = way["groups"]["Total"]
        adjusted = total["adjusted"]
        assert 0 <= way["errors"]["missed_match_rate"] < 1
        # every way's rates come from the same random review (the Bloom way's through the
        # linker's answers for the reviewed persons): the interval holds the truth
        assert way["errors"]["source"] == "review", way["name"]
        assert adjusted["ci_low"] <= truth <= adjusted["ci_high"], way["name"]
        assert way["reviewed"] == 300
    exact = next(way for way in result["ways"] if way["name"] == "exact id")["groups"]["Total"]
    assert abs(exact["adjusted"]["estimate"] - truth) < abs(exact["unadjusted"]["estimate"] - truth)


def test_human_output_shows_both_side_by_side(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *PRIVSTATS,
            "demo",
            "linkage",
            "--register-size",
            "600",
            "--source-size",
            "400",
            "--overlap",
            "350",
            "--review",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for text in ("exact id", "true coverage", "unadjusted", "adjusted", "false-match rate"):
        assert text in done.stdout


def test_bad_option_is_refused_with_a_message() -> None:
    done = subprocess.run(
        [*PRIVSTATS, "demo", "linkage", "--overlap", "5000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "overlap" in done.stderr


def test_a_way_with_given_rates_or_none_is_shown_honestly(tmp_path: Path) -> None:
    # a way whose result carries the linker's rates (as the Bloom-filter kind's may), and
    # one that carries none: the first is adjusted with them, the second shows "no rates"

    demo = make_linkage_demo(tmp_path, register_size=300, source_size=200, overlap=150)
    regions = [label for label in demo.true_coverage() if label != "Total"]
    result = {
        "matched": 140,
        "suppressed": False,
        "groups": [{"by": {"region": r}, "matched": 10, "suppressed": False} for r in regions],
        "adjusted": {  # as the linkage-coverage kind nests them
            "errors": {"false_match_rate": 0.02, "missed_match_rate": 0.1, "source": "mixture"},
            "coverage": {"adjusted": [0.5, 0.4, 0.6]},
        },
    }
    given = WayResult("given", "", _matched_by_region(result), [], errors=_errors_in(result))
    bare = WayResult("bare", "", _matched_by_region(result), [])
    for way in (given, bare):
        _adjust(way, demo, 0.95)
    total = given.figures["Total"]
    assert total is not None and total.adjusted[0] == pytest.approx(140 * 0.98 / 0.9 / 300)
    with out.capture() as captured:
        out.print(_table(demo, bare))
    assert "no rates" in captured.get()
    shown = _as_json(demo, [given, bare], {"bloom": "not installed"})
    assert shown["ways"][0]["errors"]["source"] == "mixture"
    assert shown["ways"][1]["errors"] is None
    assert shown["ways"][1]["groups"]["Total"]["adjusted"] is None
    assert shown["not_run"] == {"bloom": "not installed"}
