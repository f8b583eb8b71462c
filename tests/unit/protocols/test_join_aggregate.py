"""The join-and-aggregate protocol over in-memory channels, against pandas on the same data.

Each test runs both parties as threads of this process and compares the left party's
counts and sums with an inner merge and group-by of the plaintext tables: the left table
keeps the first record of a repeated identifier, the right table sums the values of one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.errors import ComputationError, ParameterError, ProtocolError
from privstats.protocols import join_aggregate as ja
from privstats.protocols.join_aggregate import DecryptRequest, LeftResult, RightResult
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties


def release_all(counts: Sequence[int]) -> list[int]:
    return list(range(len(counts)))


def by_group(result: LeftResult) -> dict[int, tuple[int, ...]]:
    """The released sums by group index (the cells of :func:`ja.per_group` are (str(g),))."""
    return {int(key[0]): sums for key, sums in result.sums.items()}


def at_least(minimum: int) -> Callable[[Sequence[int]], list[int]]:
    return lambda counts: [g for g, n in enumerate(counts) if n >= minimum]


def run(
    left_ids: Sequence[str],
    groups: Sequence[int],
    n_groups: int,
    right_ids: Sequence[str],
    left_values: Sequence[Sequence[int]] = (),
    right_values: Sequence[Sequence[int]] = (),
    *,
    release: Callable[[Sequence[int]], list[int]] = release_all,
    chunks: tuple[int, int] = (ja.DEFAULT_CHUNK_SIZE, ja.DEFAULT_CHUNK_SIZE),
    record: bool = False,
    **left_options: Any,
) -> tuple[LeftResult, RightResult, MemoryNetwork]:
    network = MemoryNetwork(["nso", "bank"], timeout=60, record=record)
    out = run_parties(
        network,
        {
            "nso": lambda ch: ja.left(
                ch,
                "bank",
                left_ids,
                groups,
                n_groups,
                left_values,
                release=ja.per_group(release),
                chunk_size=chunks[0],
                **left_options,
            ),
            "bank": lambda ch: ja.right(ch, "nso", right_ids, right_values, chunk_size=chunks[1]),
        },
    )
    return out["nso"], out["bank"], network


def expected(
    left_ids: Sequence[str],
    groups: Sequence[int],
    n_groups: int,
    right_ids: Sequence[str],
    left_values: Sequence[Sequence[int]] = (),
    right_values: Sequence[Sequence[int]] = (),
) -> tuple[list[int], list[tuple[int, ...]]]:
    """Counts and sums per group from pandas: merge, then group by."""
    lcols = [f"l{c}" for c in range(len(left_values))]
    rcols = [f"r{c}" for c in range(len(right_values))]
    left = pd.DataFrame({"id": list(left_ids), "g": list(groups)})
    for name, column in zip(lcols, left_values, strict=True):
        left[name] = list(column)
    right = pd.DataFrame({"id": list(right_ids)})
    for name, column in zip(rcols, right_values, strict=True):
        right[name] = list(column)
    left = left.drop_duplicates("id", keep="first")
    right = right.groupby("id", as_index=False, sort=False)[rcols].sum() if rcols else right
    right = right.drop_duplicates("id")
    merged = left.merge(right, on="id", how="inner")
    grouped = merged.groupby("g")
    counts = grouped.size().reindex(range(n_groups), fill_value=0)
    sums = grouped[[*lcols, *rcols]].sum().reindex(range(n_groups), fill_value=0)
    return (
        [int(n) for n in counts],
        [tuple(int(v) for v in row) for row in sums.itertuples(index=False)],
    )


# --------------------------------------------------------------------------- correctness


def test_counts_and_sums_equal_pandas_merge_and_groupby() -> None:
    """Three groups, a left and two right columns (negative values too), duplicates on both
    sides: counts and exact integer sums equal the plaintext computation."""
    left_ids = [f"person-{i:03d}" for i in range(60)] + ["person-007", "person-010"]
    groups = [i % 3 for i in range(60)] + [2, 0]
    left_values = [[i * 10 - 200 for i in range(62)]]
    right_ids = [f"person-{i:03d}" for i in range(30, 90)] + ["person-031", "person-045"]
    right_values = [
        [100_000 + 37 * i for i in range(62)],
        [(-1) ** i * i for i in range(62)],
    ]

    result, bank, _ = run(left_ids, groups, 3, right_ids, left_values, right_values)

    counts, sums = expected(left_ids, groups, 3, right_ids, left_values, right_values)
    assert list(result.counts) == counts
    assert by_group(result) == dict(enumerate(sums))
    assert result.left_size == 60 and result.right_size == 60
    assert result.matched == 30
    assert bank == RightResult(left_size=60, right_size=60, decrypted=9)
    assert result.right_integer == (True, True)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 14),  # identifier
            st.integers(0, 2),  # group
            st.integers(-1000, 1000),  # left value
        ),
        max_size=14,
    ),
    st.lists(st.tuples(st.integers(0, 14), st.integers(-(10**6), 10**6)), max_size=14),
)
def test_any_small_inputs_match_pandas(
    left_rows: list[tuple[int, int, int]], right_rows: list[tuple[int, int]]
) -> None:
    """Any sizes (also empty), repeated and unicode identifiers, zero and negative values."""
    left_ids = [f"Ünit-{i}" for i, _, _ in left_rows]
    groups = [g for _, g, _ in left_rows]
    right_ids = [f"Ünit-{i}" for i, _ in right_rows]
    left_values = [[v for _, _, v in left_rows]]
    right_values = [[v for _, v in right_rows]]

    result, bank, _ = run(left_ids, groups, 3, right_ids, left_values, right_values, chunks=(4, 3))

    counts, sums = expected(left_ids, groups, 3, right_ids, left_values, right_values)
    assert list(result.counts) == counts
    assert by_group(result) == dict(enumerate(sums))
    assert bank.left_size == len(set(left_ids)) and bank.right_size == len(set(right_ids))


def test_count_only_without_value_columns() -> None:
    result, bank, _ = run(["a", "b", "c"], [0, 1, 1], 2, ["b", "c", "d"])
    assert result.counts == (0, 2)
    assert by_group(result) == {0: (), 1: ()}
    assert bank.decrypted == 0


def test_empty_intersection_and_empty_sides() -> None:
    """No common identifier: every count is 0 and nothing needs decrypting."""
    result, bank, _ = run(["a", "b"], [0, 0], 1, ["x", "y"], right_values=[[5, 6]],
                          release=at_least(1))  # fmt: skip
    assert result.counts == (0,) and by_group(result) == {} and bank.decrypted == 0
    result, bank, _ = run([], [], 1, ["x"], right_values=[[5]], release=at_least(1))
    assert result.counts == (0,) and bank.left_size == 0
    result, bank, _ = run(["a"], [0], 1, [], right_values=[[]], release=at_least(1))
    assert result.counts == (0,) and result.right_size == 0


def test_released_zero_count_group_decrypts_to_zero() -> None:
    """A released group with no matches sums to 0 (the identity pair, rerandomised)."""
    result, _, _ = run(["a", "b"], [0, 1], 2, ["a"], right_values=[[7]])
    assert by_group(result) == {0: (7,), 1: (0,)}


# --------------------------------------------------------------------------- suppression


def test_withheld_groups_are_never_decrypted() -> None:
    """Only the groups the release rule returns are sent for decryption; the others have
    counts (the left party learns them) but no sums."""
    left_ids = [f"id{i}" for i in range(40)]
    groups = [0] * 20 + [1] * 15 + [2] * 5
    right_ids = left_ids[::-1]
    values = [[1_000 + i for i in range(40)], [i % 7 for i in range(40)]]

    result, bank, network = run(
        left_ids, groups, 3, right_ids, right_values=values, release=at_least(10), record=True
    )

    assert result.counts == (20, 15, 5)
    assert set(by_group(result)) == {0, 1}
    received = network.channel("bank").received
    assert received is not None
    requests = [decode(frame) for _, frame in received]
    points = b"".join(m.points for m in requests if isinstance(m, DecryptRequest))
    assert len(points) // 32 == 2 * 2 == bank.decrypted  # 2 released groups × 2 columns
    _, sums = expected(left_ids, groups, 3, right_ids, right_values=values)
    assert by_group(result) == {0: sums[0], 1: sums[1]}


def test_chunked_streams_and_one_worker_give_the_same_result() -> None:
    left_ids = [f"k{i}" for i in range(23)]
    groups = [i % 2 for i in range(23)]
    right_ids = [f"k{i}" for i in range(5, 30)]
    values = [[i * i for i in range(25)]]
    whole, _, _ = run(left_ids, groups, 2, right_ids, right_values=values)
    chunked, _, _ = run(
        left_ids, groups, 2, right_ids, right_values=values, chunks=(2, 3), workers=1
    )
    assert whole.counts == chunked.counts and by_group(whole) == by_group(chunked)


def test_sums_beyond_the_decryptable_range_ask_for_fewer_decimals() -> None:
    with pytest.raises(ComputationError, match="decimals") as raised:
        run(["a", "b"], [0, 0], 1, ["a", "b"], right_values=[[600, 700]], bound=1_000)
    assert isinstance(raised.value.__cause__, ParameterError)
    assert raised.value.__cause__.parameter == "decimals"


# --------------------------------------------------------------------------- checks


def test_column_count_mismatch_is_a_protocol_error() -> None:
    with pytest.raises(ComputationError) as raised:
        run(["a"], [0], 1, ["a"], right_values=[[1]], right_columns=2)
    assert isinstance(raised.value.__cause__, ProtocolError)


@pytest.mark.parametrize(
    ("groups", "n_groups", "values", "message"),
    [
        ([0, 3], 2, (), "outside"),
        ([0], 1, (), "identifiers but"),
        ([0, 0], 0, (), "n_groups"),
        ([0, 0], 1, [[1]], "values for 2"),
        ([0, 0], 1, [[1, 2**63]], "2\\^63"),
    ],
)
def test_left_inputs_are_checked(
    groups: list[int], n_groups: int, values: list[list[int]], message: str
) -> None:
    network = MemoryNetwork(["nso", "bank"])
    with pytest.raises(ParameterError, match=message):
        ja.left(network.channel("nso"), "bank", ["a", "b"], groups, n_groups, values,
                release=ja.per_group(release_all))  # fmt: skip


def test_right_inputs_are_checked() -> None:
    network = MemoryNetwork(["nso", "bank"])
    with pytest.raises(ParameterError):
        ja.right(network.channel("bank"), "nso", ["a"], [[1]], decimals=[7])
    with pytest.raises(ParameterError):
        ja.right(network.channel("bank"), "nso", ["a"], [[1]], integer=[True, False])
    with pytest.raises(ParameterError, match="chunk_size"):
        ja.right(network.channel("bank"), "nso", ["a"], chunk_size=0)
    with pytest.raises(TypeError):
        ja.right(network.channel("bank"), "nso", ["a"], [[1.5]])  # type: ignore[list-item]


def test_the_package_exports_each_public_name_of_its_modules_once() -> None:
    """Callers import from ``privstats.protocols.join_aggregate``, as before it was a package."""
    names = {
        "CONTEXT", "DEFAULT_CHUNK_SIZE", "MAX_COLUMNS", "MAX_DECIMALS", "MAX_GROUPS",
        "MAX_RECORDS", "DecryptRequest", "DecryptShares", "LeftEntries", "LeftHello",
        "LeftKeys", "LeftResult", "RightEntries", "RightHello", "RightKeys", "RightResult",
        "ShuffledEntries", "left", "right", "Approver", "Candidate", "CellContributions",
        "Label", "LeftGo", "Noise", "Planner", "ReleaseCandidate", "ReleaseCell",
        "ReleasePlan", "ReleaseVerdict", "per_group",
    }  # fmt: skip
    modules = {
        name: importlib.import_module(f"privstats.protocols.join_aggregate.{name}")
        for name in ("messages", "left", "right", "release")
    }

    assert len(ja.__all__) == len(names) and set(ja.__all__) == names
    assert ja.__doc__ is not None and "Threat model" in ja.__doc__
    for name in names:
        homes = [m for m in modules.values() if getattr(m, name, None) is getattr(ja, name)]
        assert homes, name
