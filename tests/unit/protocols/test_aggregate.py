"""The aggregate protocol's party steps, over memory channels in one process.

What it proves: the pooled counts and sums equal the plaintext ones on the concatenated
records; each party receives exactly the messages the threat model lists (a hello and the
labels per peer, one share and one partial sum per peer for each of the three sums and
the 63 bisection rounds); labels travel in chunks; a peer that breaks the protocol is named.
The release made from these figures is tested in tests/unit/jobs/test_aggregate_job.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from privstats.data.fixed_point import FixedPoint
from privstats.data.tables import Table
from privstats.errors import ComputationError, ParameterError, ProtocolError
from privstats.protocols import aggregate as protocol
from privstats.protocols.aggregate import (
    ROUNDS,
    AggregateTerms,
    Labels,
    PartyState,
    PooledAggregate,
    check_parties,
)
from privstats.stats.aggregate import make_plan
from privstats.transport.channel import Channel
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

F = 16


def _table(party: str, regions: Sequence[str], x: Sequence[float]) -> Table:
    values = {"x": np.asarray(x, dtype=float)}
    return Table(f"{party}.csv", len(regions), {"region": np.asarray(regions, dtype=str)}, values)


def _terms(
    stats: Sequence[str], *, min_cell: int = 1, by: tuple[str, ...] = ("region",)
) -> AggregateTerms:
    plan = make_plan(stats, frac_bits=F)
    agreed = {"stats": list(stats), "by": list(by), "min_cell": min_cell}
    return AggregateTerms(plan=plan, by=by, min_cell=min_cell, levels=None, agreed=agreed)


def _run(tables: dict[str, Table], terms: AggregateTerms) -> tuple[PooledAggregate, MemoryNetwork]:
    parties = list(tables)
    network = MemoryNetwork(parties, timeout=60, record=True)

    def role(party: str):  # type: ignore[no-untyped-def]
        return lambda channel: protocol.party(channel, parties, tables[party], terms)

    results = run_parties(network, {p: role(p) for p in parties})
    first = results[parties[0]]
    assert all(result == first for result in results.values())
    return first, network


def _received(network: MemoryNetwork, party: str) -> list[tuple[str, Any]]:
    return [(peer, decode(frame)) for peer, frame in network.channel(party).received or []]


TABLES = {
    "a": _table("a", ["N", "N", "S", "W"], [1.5, -2.25, 3.0, 7.0]),
    "b": _table("b", ["S", "S", "N"], [4.0, 0.125, 10.0]),
    "c": _table("c", ["N", "E"], [2.0, 5.5]),
}


def test_pooled_counts_and_sums_equal_the_plaintext_ones() -> None:
    terms = _terms(("var:x",))

    pooled, _ = _run(TABLES, terms)

    regions = np.concatenate([t.categories["region"] for t in TABLES.values()])
    x = np.concatenate([t.values["x"] for t in TABLES.values()])
    fixed = FixedPoint(F)
    assert pooled.labels == [("E",), ("N",), ("S",), ("W",)]
    assert pooled.withheld == set()
    for g, (label,) in enumerate(pooled.labels):
        codes = [int(c) for c in fixed.encode(x[regions == label])]
        assert pooled.counts[g] == [len(codes), len(codes)]  # records; records with x
        assert pooled.sums[(g, 1)] == [sum(codes), sum(c * c for c in codes)]
    assert pooled.ols_sums is None and pooled.ols_count == 0


def test_withheld_groups_have_counts_but_no_sums_or_quantiles() -> None:
    terms = _terms(("mean:x", "median:x"), min_cell=3)

    pooled, _ = _run(TABLES, terms)

    # E (1) and W (1) are below 3; together they make 2, so S (3), the smallest, joins them
    assert pooled.withheld == {("E",), ("W",), ("S",)}
    assert [c[0] for c in pooled.counts] == [1, 4, 3, 1]
    assert {g for g, _ in pooled.sums} == {1}  # only N's blocks (unweighted records: no sums)
    assert pooled.sums[(1, 0)] == [] and len(pooled.sums[(1, 1)]) == 1  # Σx
    # N's median (the 2nd of 4) has one record below it, fewer than 3: refused, not searched
    assert pooled.quantiles == {}
    assert list(pooled.refused) == [(1, "x", Fraction(1, 2))]
    assert "fewer than 3 records below" in pooled.refused[(1, "x", Fraction(1, 2))]


def test_each_party_receives_what_the_threat_model_lists() -> None:
    """A hello, the labels, the owner's terms and withheld cells from every peer, then per
    peer one share and one partial sum for each of the three sums and the 63 bisection
    rounds — nothing else (no dominance rule asked: no sign test)."""
    terms = _terms(("median:x",))
    parties = list(TABLES)

    _, network = _run(TABLES, terms)

    for party in parties:
        received = _received(network, party)
        kinds = Counter(type(msg).__name__ for _, msg in received)
        peers = len(parties) - 1
        sums = 3 + ROUNDS
        assert kinds == {
            "Hello": peers,
            "Labels": peers,
            "OwnerTerms": peers,  # the owners' floors and rules
            "Withheld": peers,  # the cells each party's owner withholds (none here)
            "ShareChunk": sums * peers,
            "PartialChunk": sums * peers,
        }
        for peer, msg in received:
            if isinstance(msg, Labels):  # exactly the peer's own distinct labels, sorted
                own = sorted(set(TABLES[peer].categories["region"].tolist()))
                assert msg.labels == [[label] for label in own] and msg.last


def test_labels_travel_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "LABELS_PER_MESSAGE", 2)
    tables = {
        "a": _table("a", ["p", "q", "r", "s", "t"], [1.0] * 5),
        "b": _table("b", ["q"], [2.0]),
    }

    pooled, network = _run(tables, _terms(("count",)))

    assert pooled.labels == [("p",), ("q",), ("r",), ("s",), ("t",)]
    chunks = [msg for _, msg in _received(network, "b") if isinstance(msg, Labels)]
    assert [len(msg.labels) for msg in chunks] == [2, 2, 1]
    assert [msg.last for msg in chunks] == [False, False, True]


def test_a_peer_sending_labels_of_the_wrong_width_is_named() -> None:
    terms = _terms(("count",))
    parties = ["honest", "odd"]
    network = MemoryNetwork(parties, timeout=30)
    table = _table("honest", ["N"], [1.0])

    def odd(channel: Channel) -> None:
        protocol.agree(PartyState(channel, tuple(parties), terms))
        channel.send("honest", Labels([["N", "extra"]], True))
        channel.recv("honest", Labels)

    with pytest.raises(ComputationError) as info:
        run_parties(
            network,
            {"honest": lambda ch: protocol.party(ch, parties, table, terms), "odd": odd},
        )

    cause = info.value.__cause__
    assert isinstance(cause, ProtocolError)
    assert "'odd' sent group labels that do not have 1 values" in str(cause)


@pytest.mark.parametrize(
    ("parties", "why"),
    [
        (["me"], "2 to 10 distinct parties"),
        ([f"p{i}" for i in range(10)] + ["me"], "2 to 10 distinct parties"),
        (["me", "me", "you"], "2 to 10 distinct parties"),
        (["you", "them"], "'me' is not among the parties"),
    ],
)
def test_the_party_list_is_checked(parties: list[str], why: str) -> None:
    channel = MemoryNetwork(["me", "you"]).channel("me")

    with pytest.raises(ParameterError, match=why):
        check_parties(channel, parties)
