"""What each party of the linkage protocol receives, checked against its threat model.

Every frame is recorded. The linker must receive only hellos and encodings (with opaque
labels from the register), never the key nor a clear value; the source only the key; the
register only the linker's counts (and with a review, one linked flag per reviewed record).
The counts mapped back by the register must equal
those of the plaintext linker run on the same encodings.
"""

from __future__ import annotations

import numpy as np
import pytest

from privstats.errors import ComputationError
from privstats.linkage.bloom import EncodingSpec, FieldEncoding, encode_records
from privstats.linkage.linker import counts_by_label, link
from privstats.protocols import linkage
from privstats.transport.codec import Message, decode
from privstats.transport.memory import MemoryNetwork, run_parties

SPEC = EncodingSpec(tuple(FieldEncoding(f) for f in ("first_name", "surname", "dob")))
REGISTER = [
    (f"Given{i:03d}", f"Family{i * 13 % 97:02d}", f"19{i % 80:02d}-03-0{i % 9 + 1}")
    for i in range(240)
]
SOURCE = [REGISTER[i] for i in range(0, 240, 3)] + [("Zed", "Nobody", "2001-01-01")]
DOMAINS = np.array([i % 4 for i in range(240)], dtype=np.intp)


def _received(network: MemoryNetwork, party: str) -> list[tuple[str, Message, bytes]]:
    channel = network.channel(party)
    assert channel.received is not None
    return [(peer, decode(frame), frame) for peer, frame in channel.received]


def test_each_party_receives_only_what_the_threat_model_allows() -> None:
    network = MemoryNetwork(["register", "source", "linker"], record=True)
    out = run_parties(
        network,
        {
            "register": lambda ch: linkage.register(
                ch, "source", "linker", REGISTER, DOMAINS, 4, SPEC
            ),
            "source": lambda ch: linkage.source(ch, "register", "linker", SOURCE, SPEC),
            "linker": lambda ch: linkage.linker(ch, "register", "source", threshold=0.9),
        },
    )
    view = out["register"]
    assert view.matched == [20, 20, 20, 20]  # every third record, spread over 4 domains

    source_got = _received(network, "source")
    assert [type(m) for _, m, _ in source_got] == [linkage.EncodingKey]
    key = source_got[0][1].key  # type: ignore[attr-defined]
    assert len(key) == 32

    linker_got = _received(network, "linker")
    assert {type(m) for _, m, _ in linker_got} == {linkage.Hello, linkage.Encodings}
    everything = b"".join(frame for _, _, frame in linker_got)
    assert key not in everything
    for record in (*REGISTER, *SOURCE):
        for value in record:  # (values of 6+ bytes: shorter ones occur in random bytes)
            assert len(value) < 6 or value.encode() not in everything
    source_labels = [
        m.labels for p, m, _ in linker_got if isinstance(m, linkage.Encodings) and p == "source"
    ]
    assert source_labels and all(tags == b"" for tags in source_labels)

    register_got = _received(network, "register")
    assert [type(m) for _, m, _ in register_got] == [linkage.LinkCounts]

    # the counts equal a plaintext linker on the same key's encodings, by domain
    left, right = encode_records(REGISTER, key, SPEC), encode_records(SOURCE, key, SPEC)
    plain = link(left, right, threshold=0.9)
    assert view.matched == counts_by_label(plain.rows, DOMAINS.astype(np.int64), 4)


def test_the_linker_sees_shuffled_rows_and_permuted_labels() -> None:
    seen_orders = set()
    for _ in range(3):
        network = MemoryNetwork(["register", "source", "linker"], record=True)
        out = run_parties(
            network,
            {
                "register": lambda ch: linkage.register(
                    ch, "source", "linker", REGISTER, DOMAINS, 4, SPEC
                ),
                "source": lambda ch: linkage.source(ch, "register", "linker", SOURCE, SPEC),
                "linker": lambda ch: linkage.linker(ch, "register", "source", threshold=0.9),
            },
        )
        assert out["register"].matched == [20, 20, 20, 20]
        labels = b"".join(
            m.labels for p, m, _ in _received(network, "linker") if isinstance(m, linkage.Encodings)
        )
        seen_orders.add(labels)
    assert len(seen_orders) == 3  # order and labels are fresh in every run


def _with_review(network: MemoryNetwork, review: list[int], max_review: int) -> dict[str, object]:
    return run_parties(
        network,
        {
            "register": lambda ch: linkage.register(
                ch, "source", "linker", REGISTER, DOMAINS, 4, SPEC, review=review
            ),
            "source": lambda ch: linkage.source(ch, "register", "linker", SOURCE, SPEC),
            "linker": lambda ch: linkage.linker(
                ch, "register", "source", threshold=0.9, max_review=max_review
            ),
        },
    )


def test_a_review_tells_the_register_only_whether_each_reviewed_record_was_linked() -> None:
    review = [5, 0, 17, 3, 239, 120, 121, 7]
    network = MemoryNetwork(["register", "source", "linker"], record=True)
    view = _with_review(network, review, max_review=len(review))["register"]
    assert isinstance(view, linkage.RegisterView)
    # the source holds every third register record: those, and only those, are linked
    assert view.reviewed_linked == [i % 3 == 0 for i in review]
    assert view.matched == [20, 20, 20, 20]

    register_got = _received(network, "register")
    assert [type(m) for _, m, _ in register_got] == [linkage.LinkCounts, linkage.ReviewAnswer]
    answer = register_got[1][1]
    assert isinstance(answer, linkage.ReviewAnswer) and len(answer.linked) == len(review)

    linker_got = _received(network, "linker")
    queries = [m for _, m, _ in linker_got if isinstance(m, linkage.ReviewQuery)]
    assert len(queries) == 1
    positions = np.frombuffer(queries[0].positions, dtype="<u4")
    # positions in the shuffled order the linker saw, not the register's own row numbers
    assert len(positions) == len(review) and len(set(positions.tolist())) == len(review)
    hellos = [m for p, m, _ in linker_got if isinstance(m, linkage.Hello)]
    assert sorted(h.review for h in hellos) == [0, len(review)]


def test_the_linker_refuses_a_review_larger_than_the_job_allows() -> None:
    network = MemoryNetwork(["register", "source", "linker"])
    with pytest.raises(ComputationError) as raised:
        _with_review(network, list(range(12)), max_review=11)
    assert raised.value.__cause__ is not None
    assert "at most 11 (max_review)" in str(raised.value.__cause__)


def test_a_review_naming_a_record_twice_is_refused_at_the_register() -> None:
    network = MemoryNetwork(["register", "source", "linker"])
    with pytest.raises(ComputationError) as raised:
        _with_review(network, [4, 4], max_review=10)
    assert "twice" in str(raised.value.__cause__)


def test_the_linker_refuses_more_records_than_the_dataset_declares() -> None:
    network = MemoryNetwork(["register", "source", "linker"])
    with pytest.raises(ComputationError) as raised:
        run_parties(
            network,
            {
                "register": lambda ch: linkage.register(
                    ch, "source", "linker", REGISTER, DOMAINS, 4, SPEC
                ),
                "source": lambda ch: linkage.source(ch, "register", "linker", SOURCE, SPEC),
                "linker": lambda ch: linkage.linker(
                    ch, "register", "source", declared_rows={"register": 239, "source": 81}
                ),
            },
        )
    assert "240 records announced; the dataset the hub lists holds 239" in str(
        raised.value.__cause__
    )
