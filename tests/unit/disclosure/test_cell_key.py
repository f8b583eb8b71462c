"""Cell-key perturbation: the ptable's rows have the stated mean and variance, the
perturbation is the same wherever the same contributors meet, the noise over many cells
has the ptable's distribution, no count 1 … js is published, and zeros stay zero."""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

import pytest

from privstats.disclosure.cell_key import (
    cell_key,
    create_key_file,
    perturb,
    ptable,
    random_record_keys,
    read_key_file,
    record_keys,
)
from privstats.disclosure.tables import TOTAL, tabulate
from privstats.errors import DatasetError, ParameterError

SECRET = bytes(range(32))  # a fixed test key: the tests must be repeatable


@pytest.mark.parametrize(("d", "v", "js"), [(2, 1.0, 0), (2, 1.0, 2), (3, 2.0, 1), (5, 3.0, 3)])
def test_every_row_has_mean_zero_and_the_last_has_variance_v(d: int, v: float, js: int) -> None:
    table = ptable(d, v, js)
    assert len(table.rows) == d + js + 2
    for count, row in enumerate(table.rows):
        assert sum(p for _, p in row) == pytest.approx(1.0, abs=1e-12)
        assert sum(c * p for c, p in row) == pytest.approx(0.0, abs=1e-12)
        assert all(p > 0 for _, p in row)
        for change, _ in row:
            published = count + change
            assert abs(change) <= d and published >= 0
            assert not 1 <= published <= js
    last = table.rows[-1]
    assert [c for c, _ in last] == list(range(-d, d + 1))  # the full, symmetric row
    assert sum(c * c * p for c, p in last) == pytest.approx(v, abs=1e-10)
    assert table.rows[0] == ((0, 1.0),)


def test_rows_below_the_threshold_take_the_nearest_variance() -> None:
    # D = 2, js = 2, count 1: the only targets are 0 and 3 (changes −1, +2); mean 0 needs
    # p(−1) = 2/3, and the variance is then 2/3 + 4/3 = 2, the least possible.
    row = dict(ptable(2, 1.0, 2).row(1))
    assert row == pytest.approx({-1: 2 / 3, 2: 1 / 3})
    # count 3 cannot go down without landing on 1 … 2 (0 is 3 away): it stays.
    assert ptable(2, 1.0, 2).row(3) == ((0, 1.0),)
    # larger counts use the last row
    assert ptable(2, 1.0, 2).row(1000) == ptable(2, 1.0, 2).rows[-1]


def test_the_cell_key_picks_the_change_by_cumulative_probability() -> None:
    table = ptable(2, 1.0, 0)
    row = table.row(10)
    edge = row[0][1]  # p(−2)
    assert table.change(10, 0.0) == -2
    assert table.change(10, edge - 1e-12) == -2
    assert table.change(10, edge + 1e-12) == -1
    assert table.change(10, 1 - 1e-12) == 2
    with pytest.raises(ParameterError):
        table.change(10, 1.0)


def test_no_count_one_to_js_is_published_and_zeros_stay_zero() -> None:
    table = ptable(3, 1.5, 2)
    keys = [i / 997 for i in range(997)]
    for count in range(30):
        published = {count + table.change(count, k) for k in keys}
        assert not published & {1, 2}
        assert min(published) >= 0
        if count == 0:
            assert published == {0}


def test_the_noise_over_many_cells_has_the_ptables_distribution() -> None:
    # 5,000 disjoint cells of 20 contributors each, keyed by HMAC of their ids.
    table = ptable(2, 1.0, 0)
    keys = record_keys([f"firm-{i}" for i in range(100_000)], SECRET)
    changes = [table.change(20, cell_key(keys[i : i + 20])) for i in range(0, 100_000, 20)]
    n = len(changes)
    mean = sum(changes) / n
    variance = sum(c * c for c in changes) / n - mean**2
    assert abs(mean) < 4 * (1.0 / n) ** 0.5  # 4 standard errors
    assert variance == pytest.approx(1.0, abs=0.08)
    seen = Counter(changes)
    for change, p in table.row(20):
        assert seen[change] / n == pytest.approx(p, abs=4 * (p * (1 - p) / n) ** 0.5)


def firms() -> list[dict[str, str]]:
    return [
        {"id": f"f{i}", "region": "NSE"[i % 3], "activity": "CGM"[i % 4 % 3], "size": "sl"[i % 2]}
        for i in range(40)
    ]


def test_the_same_contributors_get_the_same_perturbation_in_every_table() -> None:
    records = firms()
    keys = record_keys([r["id"] for r in records], SECRET)
    by_activity = perturb(tabulate(records, ["region", "activity"], record_keys=keys), ptable())
    by_size = perturb(tabulate(records, ["region", "size"], record_keys=keys), ptable())
    # the region margins hold the same firms in both tables: the same published counts
    for region in ("N", "S", "E", TOTAL):
        first = by_activity.counts[by_activity.table.index[(region, TOTAL)]]
        second = by_size.counts[by_size.table.index[(region, TOTAL)]]
        assert first == second
    # and again from scratch, in another order of the records
    reordered = list(reversed(records))
    again = perturb(
        tabulate(
            reordered,
            ["region", "activity"],
            record_keys=record_keys([r["id"] for r in reordered], SECRET),
        ),
        ptable(),
    )
    assert again.counts == by_activity.counts
    # another secret: other keys (with 40 cells, some count must change)
    other = perturb(
        tabulate(
            records,
            ["region", "activity"],
            record_keys=record_keys([r["id"] for r in records], bytes(32)),
        ),
        ptable(),
    )
    assert other.counts != by_activity.counts


def test_perturbed_records_never_say_which_cells_are_true_zeros() -> None:
    records = [*firms(), {"id": "x", "region": "W", "activity": "C", "size": "s"}]
    keys = record_keys([r["id"] for r in records], SECRET)
    result = perturb(tabulate(records, ["region", "activity"], record_keys=keys), ptable())
    published = result.records()
    assert {cell["status"] for cell in published} == {"perturbed"}
    for cell, truth in zip(published, result.table.cells, strict=True):
        assert abs(cell["count"] - truth.count) <= 2
        assert cell["count"] >= 0 and cell["rules"] == []
        if truth.count == 0:
            assert cell["count"] == 0


def test_record_keys_and_key_files(tmp_path: Path) -> None:
    assert record_keys(["a", "b"], SECRET) == record_keys(["a", "b"], SECRET)
    assert record_keys(["a"], SECRET) != record_keys(["a"], bytes(32))
    assert all(0 <= k < 2**64 for k in random_record_keys(50))
    assert len(set(random_record_keys(50))) == 50
    with pytest.raises(ParameterError):
        record_keys(["a"], b"short")
    path = tmp_path / "ckm.key"
    create_key_file(path)
    assert len(read_key_file(path)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (tmp_path / "bad.key").write_text("not hex\n")
    with pytest.raises(DatasetError, match=r"bad\.key"):
        read_key_file(tmp_path / "bad.key")
    (tmp_path / "short.key").write_text("00ff\n")
    with pytest.raises(DatasetError, match="2 bytes"):
        read_key_file(tmp_path / "short.key")


def test_bad_parameters_are_named() -> None:
    for d, v, js in ((0, 1.0, 0), (2, 1.0, 3), (2, 0.0, 0), (2, 1.0, -1)):
        with pytest.raises(ParameterError) as caught:
            ptable(d, v, js)
        assert caught.value.parameter == "ckm"
    magnitude = tabulate([{"a": "x", "v": 1.0}], ["a"], value="v")
    with pytest.raises(ParameterError, match="counts only"):
        perturb(magnitude, ptable())


def test_record_keys_must_match_the_records() -> None:
    with pytest.raises(ParameterError, match="1 record keys for 2 records") as caught:
        tabulate([{"a": "x"}, {"a": "y"}], ["a"], record_keys=[5])
    assert caught.value.parameter == "record_keys"
    table = tabulate([{"a": "x"}, {"a": "y"}], ["a"], record_keys=[2**63, 2**63 + 7])
    assert table.cell(TOTAL).ckm_key == 7  # the sum wraps modulo 2⁶⁴
    assert cell_key([2**63, 2**63 + 7]) == 7 / 2**64
