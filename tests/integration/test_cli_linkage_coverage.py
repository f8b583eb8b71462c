"""``privstats run linkage-coverage`` as a user runs it: three processes over 127.0.0.1.

The matched counts per region are compared with the generator's truth (within the
precision and recall the linkage reaches on these errors) and with a plaintext linker run
on encodings of the same records. Exact agreement of the protocol with the plaintext
linker on the *same* encodings is tested in tests/unit/protocols/test_linkage_threat_model.py
(the key is drawn inside the run and never leaves the data owners, so a test outside
cannot rebuild the run's encodings).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from privstats.linkage.bloom import EncodingSpec, FieldEncoding, encode_records, new_key
from privstats.linkage.linker import link

PRIVSTATS = [sys.executable, "-c", "from privstats.cli import main; main()"]
FIELDS = ("first_name", "surname", "dob", "sex", "postcode")
REGIONS = ("North", "South", "East")
LETTERS = "abcdefghiklmnoprstuvz"


def _typo(rng: np.random.Generator, text: str) -> str:
    i = int(rng.integers(1, len(text) - 1))
    return text[:i] + text[i + 1 :]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list, list, dict]:
    """A register of 900 people in 3 regions; a source of 600, 450 of them register
    people (with typos, moves and swapped dates), 150 others."""
    rng = np.random.default_rng(17)
    folder = tmp_path_factory.mktemp("link")

    def person() -> list[str]:
        return [
            "".join(rng.choice(list(LETTERS), int(rng.integers(4, 8)))).capitalize(),
            "".join(rng.choice(list(LETTERS), int(rng.integers(5, 10)))).capitalize(),
            f"{rng.integers(1930, 2010)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
            str(rng.choice(["F", "M"])),
            str(rng.integers(1000, 9999)),
        ]

    register = [[*person(), REGIONS[i % 3]] for i in range(900)]
    picked = rng.choice(900, size=450, replace=False).tolist()
    source = []
    for i in picked:
        row = list(register[i][:5])
        if rng.random() < 0.15:
            row[0] = _typo(rng, row[0])
        if rng.random() < 0.15:
            row[1] = _typo(rng, row[1])
        if rng.random() < 0.1:
            row[4] = str(rng.integers(1000, 9999))
        source.append(row)
    source += [person() for _ in range(150)]
    truth = {r: sum(1 for i in picked if register[i][5] == r) for r in REGIONS}
    with (folder / "register.csv").open("w", newline="") as f:
        csv.writer(f).writerows([[*FIELDS, "region"], *register])
    with (folder / "source.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["given", "family", "birth", "gender", "zip"], *source])
    return folder / "register.csv", folder / "source.csv", register, source, truth


def test_run_linkage_coverage_releases_counts_close_to_the_truth(files: tuple) -> None:
    register_file, source_file, register, source, truth = files
    done = subprocess.run(
        [
            *PRIVSTATS,
            "run",
            "linkage-coverage",
            "--register",
            str(register_file),
            "--source",
            str(source_file),
            "--fields",
            ",".join(FIELDS),
            "--source-fields",
            "given,family,birth,gender,zip",
            "--by",
            "region",
            "--threshold",
            "0.8",
            "--min-cell",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["computation"] == "linkage_coverage"
    assert result["register_size"] == 900 and result["source_size"] == 600
    assert result["linkage"]["threshold"] == 0.8
    assert result["linkage"]["threshold_source"] == "given"
    by_region = {g["by"]["region"]: g for g in result["groups"]}
    assert set(by_region) == set(REGIONS)
    # precision ≥ 0.98 and recall ≥ 0.95 on these errors: counts within 5 % of the truth
    for region, true in truth.items():
        assert by_region[region]["register_size"] == 300
        assert 0.95 * true <= by_region[region]["matched"] <= 1.02 * true
    assert result["matched"] == sum(g["matched"] for g in result["groups"])
    # a plaintext linker (same fields, another key) finds nearly the same number
    spec = EncodingSpec(tuple(FieldEncoding(f) for f in FIELDS))
    key = new_key()
    plain = link(
        encode_records([r[:5] for r in register], key, spec),
        encode_records(source, key, spec),
        threshold=0.8,
    )
    assert abs(len(plain.rows) - result["matched"]) <= 0.02 * len(plain.rows)


def test_run_linkage_coverage_names_a_bad_weight(files: tuple) -> None:
    register_file, source_file, *_ = files
    done = subprocess.run(
        [
            *PRIVSTATS,
            "run",
            "linkage-coverage",
            "--register",
            str(register_file),
            "--source",
            str(source_file),
            "--fields",
            ",".join(FIELDS),
            "--weights",
            "nickname=9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "nickname=9" in done.stderr
