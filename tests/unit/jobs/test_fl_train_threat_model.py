"""What each party of federated training receives, against the module's threat model.

The coordinator must receive from an office only its class labels and feature names,
secure-aggregation keys, sealed share boxes, masked vectors (uniform bytes) and unmasking
shares; an office must receive only what comes from the coordinator: the setup, the global
model of every round, the key list, sealed boxes addressed to it, and survivor lists —
never another office's masked vector, statistics or labels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from privstats.data.activity_demo import ActivityDemo, make_activity_demo
from privstats.jobs.fl_train import COORDINATOR, FlTrainSpec, coordinator_role, party_role
from privstats.protocols import secagg
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

ROUNDS = 3


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[MemoryNetwork, ActivityDemo]:
    demo = make_activity_demo(tmp_path_factory.mktemp("activity"), subjects_per_office=4, seed=5)
    spec = FlTrainSpec.build(label=demo.label, subject=demo.subject, rounds=ROUNDS)
    offices = sorted(demo.offices)
    network = MemoryNetwork([*offices, COORDINATOR], record=True)

    def office(name: str) -> Any:
        return lambda channel: party_role(channel, spec.read(demo.offices[name]), spec)

    roles: dict[str, Any] = {name: office(name) for name in offices}
    roles[COORDINATOR] = lambda channel: coordinator_role(channel, offices, spec)
    run_parties(network, roles)
    return network, demo


def _kinds(frames: list[tuple[str, bytes]]) -> Counter[str]:
    return Counter(decode(frame).KIND for _, frame in frames)


def _uniform(data: bytes) -> bool:
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    return bool(chisquare(counts).pvalue > 1e-4)


def test_the_coordinator_receives_only_masked_vectors_and_sealed_shares(
    recorded: tuple[MemoryNetwork, ActivityDemo],
) -> None:
    network, demo = recorded
    received = network.channel(COORDINATOR).received
    assert received is not None
    aggregations = 1 + ROUNDS + 1  # statistics, every round, the confusion matrices
    for office in demo.offices:
        frames = [(peer, frame) for peer, frame in received if peer == office]
        assert _kinds(frames) == {
            "fl.hello": 1,
            "secagg.keys": aggregations,
            "secagg.shares": aggregations,
            "secagg.masked": aggregations,
            "secagg.unmask": aggregations,
            "fl.privacy": 1,
        }
        masked = [decode(f, secagg.MaskedInput) for _, f in frames if b"secagg.masked" in f]
        # statistics and updates are large enough for a meaningful test of their bytes
        for msg in masked[: 1 + ROUNDS]:
            assert _uniform(msg.data), office
        hello = next(decode(f) for _, f in frames if b"fl.hello" in f)
        assert set(hello.features) == set(demo.feature_names)


def test_an_office_hears_only_the_coordinator_and_never_another_offices_values(
    recorded: tuple[MemoryNetwork, ActivityDemo],
) -> None:
    network, demo = recorded
    for office in demo.offices:
        received = network.channel(office).received
        assert received is not None
        assert {peer for peer, _ in received} == {COORDINATOR}
        kinds = _kinds(received)
        assert set(kinds) == {
            "fl.setup",
            "fl.model",
            "fl.params",
            "secagg.key_list",
            "secagg.shares",
            "secagg.survivors",
        }
        assert kinds["fl.params"] == ROUNDS + 1  # the global model of each round, and the last
        boxes = b"".join(
            box
            for _, frame in received
            if b"secagg.shares" in frame
            for box in decode(frame, secagg.SealedShares).boxes
        )
        assert _uniform(boxes)  # the other offices' shares arrive sealed to this office
