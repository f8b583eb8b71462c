"""Secure aggregation with dropout recovery, and the Shamir sharing it rests on."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from privstats.errors import ComputationError
from privstats.protocols import secagg, shamir
from privstats.protocols.secagg import MaskedInput
from privstats.transport.channel import Channel
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

AGG = "aggregator"


class _DroppedOutError(Exception):
    """Raised in a client that drops out, so its thread ends quietly."""


class _Dropping(Channel):
    """A client's channel that dies when the client is about to send its masked input."""

    def __init__(self, inner: Channel) -> None:
        super().__init__(inner.party, inner.peers)
        self._inner = inner

    def _send_frame(self, peer: str, frame: bytes) -> None:
        if decode(frame).KIND == MaskedInput.KIND:
            raise _DroppedOutError
        self._inner._send_frame(peer, frame)

    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        return self._inner._recv_frame(peer, timeout)

    def close(self) -> None:
        self._inner.close()


def _vectors(count: int, length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        f"office{i}": rng.integers(0, 2**63, size=length, dtype=np.uint64) for i in range(count)
    }


def _round(
    inputs: dict[str, np.ndarray], dropping: frozenset[str] = frozenset(), timeout: float = 1.0
) -> tuple[Any, MemoryNetwork]:
    network = MemoryNetwork([*inputs, AGG], record=True)
    length = len(next(iter(inputs.values())))

    def client(name: str) -> Any:
        def role(channel: Channel) -> None:
            if name not in dropping:
                secagg.client(channel, AGG, inputs[name])
                return
            try:
                secagg.client(_Dropping(channel), AGG, inputs[name])
            except _DroppedOutError:
                return

        return role

    roles: dict[str, Any] = {name: client(name) for name in inputs}
    roles[AGG] = lambda channel: secagg.aggregator(channel, list(inputs), length, timeout=timeout)
    return run_parties(network, roles)[AGG], network


def _plain_sum(inputs: dict[str, np.ndarray], parties: list[str]) -> np.ndarray:
    return sum((inputs[p] for p in parties), np.zeros(len(inputs[parties[0]]), dtype=np.uint64))


def test_any_threshold_of_shamir_shares_rebuilds_the_secret_and_fewer_do_not() -> None:
    secret = shamir.random_secret()
    shares = shamir.share(secret, 3, 5)
    for chosen in itertools.combinations(shares, 3):
        assert shamir.reconstruct({x: shares[x] for x in chosen}) == secret
    assert shamir.reconstruct({x: shares[x] for x in (1, 2)}) != secret


@pytest.mark.parametrize("count", [2, 3, 5])
def test_the_aggregate_equals_the_plain_sum_of_the_inputs(count: int) -> None:
    inputs = _vectors(count, 257, seed=count)
    (total, survivors), _ = _round(inputs)
    assert survivors == sorted(inputs)
    assert np.array_equal(total, _plain_sum(inputs, survivors))


def test_a_client_that_drops_out_does_not_stop_the_round() -> None:
    inputs = _vectors(5, 100, seed=9)
    (total, survivors), _ = _round(inputs, frozenset({"office3"}))
    assert survivors == ["office0", "office1", "office2", "office4"]
    assert np.array_equal(total, _plain_sum(inputs, survivors))


def test_too_many_dropouts_stop_the_round_with_a_clear_error() -> None:
    inputs = _vectors(3, 10, seed=2)
    with pytest.raises(ComputationError, match="needs 2"):
        _round(inputs, frozenset({"office1", "office2"}), timeout=0.5)


def test_the_aggregator_sees_only_uniform_masked_vectors() -> None:
    inputs = {f"office{i}": np.zeros(4096, dtype=np.uint64) for i in range(3)}
    (total, _), network = _round(inputs)
    received = network.channel(AGG).received
    assert received is not None
    masked = [decode(frame, MaskedInput) for _, frame in received if b"secagg.masked" in frame]
    assert len(masked) == 3
    for msg in masked:
        counts = np.bincount(np.frombuffer(msg.data, dtype=np.uint8), minlength=256)
        assert chisquare(counts).pvalue > 1e-4  # all-zero inputs arrive as uniform bytes
    assert np.array_equal(total, np.zeros(4096, dtype=np.uint64))
