"""PSI's privacy options: counts kept by the receiver, peer-size floors, dummy matches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.errors import ComputationError, ParameterError, ProtocolError
from privstats.protocols import psi
from privstats.protocols.psi import Counts, DummyKey, Points, SenderHello
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties


def _run(r_ids: list[str], groups: list[int], s_ids: list[str], **kw: Any) -> dict[str, Any]:
    receiver_kw = {k: v for k, v in kw.items() if k != "dummy_matches"}
    sender_kw = {k: v for k, v in kw.items() if k != "n_groups"}
    net = MemoryNetwork(["r", "s"], timeout=10, record=True)
    out = run_parties(
        net,
        {
            "r": lambda ch: psi.receiver(ch, "s", r_ids, groups, **receiver_kw),
            "s": lambda ch: psi.sender(ch, "r", s_ids, **sender_kw),
        },
    )
    out["frames"] = {party: net.channel(party).received or [] for party in ("r", "s")}
    return out


def _plain(r_ids: list[str], groups: list[int], n_groups: int, s_ids: list[str]) -> list[int]:
    own = set(s_ids)
    return [
        sum(1 for i, g in zip(r_ids, groups, strict=True) if g == k and i in own)
        for k in range(n_groups)
    ]


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=4), max_size=20, unique=True),
    st.lists(st.text(min_size=1, max_size=4), max_size=20, unique=True),
    st.data(),
)
def test_dummy_matches_add_exactly_the_chosen_counts(
    r_ids: list[str], s_ids: list[str], data: st.DataObject
) -> None:
    """The receiver counts m_g + k_g; it sees |S| (padding removed) and nothing else."""
    groups = [data.draw(st.integers(0, 2)) for _ in r_ids]
    pad = data.draw(st.integers(1, 4))
    dummies = data.draw(st.lists(st.integers(0, pad), min_size=3, max_size=3))
    out = _run(r_ids, groups, s_ids, n_groups=3, dummy_pad=pad, dummy_matches=dummies)
    plain = _plain(r_ids, groups, 3, s_ids)
    assert list(out["r"].matched) == [m + k for m, k in zip(plain, dummies, strict=True)]
    assert out["r"].sender_size == len(s_ids)
    assert list(out["s"].matched) == list(out["r"].matched)  # revealed by default
    hello = next(decode(f, SenderHello) for _, f in out["frames"]["r"] if b"sender_hello" in f)
    assert hello.size == len(s_ids) + 3 * pad


def test_the_receiver_cannot_tell_dummies_by_position_or_number() -> None:
    """Group returns are padded to |R_g| + pad whatever the dummies; the own set too."""
    r_ids, groups, s_ids = ["a", "b", "c"], [0, 0, 1], ["b", "z"]
    sizes = []
    for dummies in ([0, 0], [3, 1]):
        out = _run(
            r_ids,
            groups,
            s_ids,
            n_groups=2,
            dummy_pad=3,
            dummy_matches=dummies,
            reveal_counts=False,
        )
        points = [decode(f) for _, f in out["frames"]["r"]]
        per_group: dict[int, int] = {}
        for msg in points:
            if isinstance(msg, Points):
                per_group[msg.group] = per_group.get(msg.group, 0) + len(msg.points) // 32
        sizes.append(per_group)
        assert not any(isinstance(decode(f), Counts) for _, f in out["frames"]["s"])
        assert any(isinstance(decode(f), DummyKey) for _, f in out["frames"]["s"])
    assert sizes[0] == sizes[1] == {psi.SENDER_SET: 2 + 2 * 3, 0: 2 + 3, 1: 1 + 3}


def test_without_reveal_counts_the_sender_learns_no_count() -> None:
    out = _run(["a", "b"], [0, 1], ["a"], n_groups=2, reveal_counts=False)
    assert out["r"].matched == (1, 0)
    assert out["s"].matched == () and out["s"].group_sizes == (1, 1)


@pytest.mark.parametrize("role", ["r", "s"])
def test_a_peer_below_the_floor_is_stopped_at_the_hello(role: str) -> None:
    kw = {"min_peer_size": 5}
    with pytest.raises(ComputationError) as info:
        run_parties(
            MemoryNetwork(["r", "s"], timeout=10),
            {
                "r": lambda ch: psi.receiver(ch, "s", ["a", "b"], **(kw if role == "r" else {})),
                "s": lambda ch: psi.sender(ch, "r", ["a"], **(kw if role == "s" else {})),
            },
        )
    assert info.value.party == role
    assert isinstance(info.value.__cause__, ProtocolError)
    assert "fewer than the 5 this data owner requires" in str(info.value.__cause__)


def test_dummy_matches_out_of_range_are_refused() -> None:
    with pytest.raises(ComputationError) as info:
        _run(["a"], [0], ["a"], n_groups=1, dummy_pad=2, dummy_matches=[3])
    assert isinstance(info.value.__cause__, ParameterError)
    assert "between 0 and dummy_pad=2" in str(info.value.__cause__)
