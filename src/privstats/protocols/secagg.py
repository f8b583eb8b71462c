"""Secure aggregation of vectors with dropout recovery (Bonawitz et al., CCS 2017).

Clients (statistical offices) each hold a vector in Z/2⁶⁴ (fixed-point model updates);
an *aggregator* learns the sum over the clients that finish the round, and nothing else,
even if some clients drop out in the middle. Semi-honest version of the protocol::

    1  client → agg   two fresh X25519 public keys: c (masks) and s (boxes)
       agg → client   every key received (the clients U1)
    2  client i       draws a self-mask seed b_i; Shamir-shares b_i and its mask secret
                      key c_i (threshold t, over the ristretto255 scalar field) and seals
                      share j to client j's box key s_j
       client → agg   the sealed shares; agg → client j: the shares sealed to it (U2)
    3  client i       y_i = x_i + PRG(b_i) + Σ_{j∈U2, j<i} PRG(s_ij) − Σ_{j∈U2, j>i} PRG(s_ij)
                      with s_ij = KDF(X25519(c_i, c_j)), the same for i and j
       client → agg   y_i (the clients that send it are U3)
    4  agg → client   U3; client → agg: its share of b_j for each j in U3 and of c_j for
                      each j in U2 − U3 (never both for one j)
       agg            rebuilds b_j (j ∈ U3) and c_j (dropped j) from ≥ t shares, removes
                      the self masks and the dropped clients' pair masks: Σ_{U3} x_i

Threat model: clients and aggregator semi-honest; threshold ``t`` > n/2 (default
⌊n/2⌋ + 1). What each party receives: the aggregator — public keys, sealed boxes it
cannot open, masked vectors that are uniformly random in Z/2⁶⁴ one by one, and the shares
it needs to unmask the sum; a client — public keys and the shares sealed to it. A
coalition of the aggregator and fewer than ``t`` clients learns nothing beyond the sum of
the surviving clients' inputs. A client that stops answering is dropped after
``timeout`` seconds (or at once if its link closes); the round goes on while at least
``t`` clients remain. Leaks: which clients dropped at which step. Primitives: X25519 and
sealed boxes from libsodium (PyNaCl), ChaCha20 as PRG (libsodium's deterministic
randombytes), BLAKE2b as KDF, scalar-field arithmetic from libsodium (``shamir``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import rbcl
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.public import PrivateKey, PublicKey, SealedBox

from privstats.errors import ParameterError, ProtocolError, TransportError
from privstats.protocols import shamir
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = ["aggregator", "client", "default_threshold"]

_CONTEXT = b"privstats.secagg.v1"
M = TypeVar("M", bound=Message)


@message("secagg.keys", 1)
class AdvertiseKeys(Message):
    mask_key: bytes
    box_key: bytes


@message("secagg.key_list", 1)
class KeyList(Message):
    clients: list[str]
    mask_keys: list[bytes]
    box_keys: list[bytes]


@message("secagg.shares", 1)
class SealedShares(Message):
    peers: list[str]
    boxes: list[bytes]


@message("secagg.masked", 1)
class MaskedInput(Message):
    data: bytes


@message("secagg.survivors", 1)
class Survivors(Message):
    clients: list[str]


@message("secagg.unmask", 1)
class UnmaskShares(Message):
    peers: list[str]
    shares: list[bytes]


def default_threshold(clients: int) -> int:
    """⌊n/2⌋ + 1: a majority of the clients must survive and help unmask."""
    return clients // 2 + 1


def _prg(seed: bytes, length: int) -> npt.NDArray[np.uint64]:
    key = hashlib.blake2b(seed, digest_size=32, person=b"secagg.prg").digest()
    raw = rbcl.randombytes_buf_deterministic(8 * length, key)
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def _pair_seed(secret: bytes, public: bytes) -> bytes:
    shared = crypto_scalarmult(secret, public)
    return hashlib.blake2b(shared, digest_size=32, key=_CONTEXT).digest()


def _pair_masks(
    me: str, secret: bytes, keys: dict[str, bytes], others: Sequence[str], length: int
) -> npt.NDArray[np.uint64]:
    total = np.zeros(length, dtype=np.uint64)
    for other in others:
        mask = _prg(_pair_seed(secret, keys[other]), length)
        total = total + mask if me < other else total - mask
    return total


def client(
    channel: Channel,
    aggregator_party: str,
    values: npt.NDArray[np.uint64],
    *,
    threshold: int | None = None,
) -> None:
    """A client's side: contribute ``values`` (Z/2⁶⁴ elements) to the aggregator's sum."""
    me = channel.party
    values = np.asarray(values, dtype=np.uint64).reshape(-1)
    # the mask key is a scalar so that it can be Shamir-shared; X25519 clamps it when used
    mask_secret, box_key = shamir.random_secret(), PrivateKey.generate()
    mask_public = bytes(crypto_scalarmult_base(mask_secret))
    channel.send(aggregator_party, AdvertiseKeys(mask_public, bytes(box_key.public_key)))

    listed = channel.recv(aggregator_party, KeyList)
    if me not in listed.clients:
        raise ProtocolError("the aggregator left this client out", peer=aggregator_party)
    mask_keys = dict(zip(listed.clients, listed.mask_keys, strict=True))
    box_keys = dict(zip(listed.clients, listed.box_keys, strict=True))
    t = threshold or default_threshold(len(listed.clients))
    if not len(listed.clients) >= t:
        raise ProtocolError(f"only {len(listed.clients)} clients, fewer than {t}")
    self_seed = shamir.random_secret()
    index = {party: i + 1 for i, party in enumerate(listed.clients)}
    seed_shares = shamir.share(self_seed, t, len(listed.clients))
    key_shares = shamir.share(mask_secret, t, len(listed.clients))
    peers, boxes = [], []
    for party in listed.clients:
        if party == me:
            continue
        payload = me.encode() + b"\0" + seed_shares[index[party]] + key_shares[index[party]]
        peers.append(party)
        boxes.append(SealedBox(PublicKey(box_keys[party])).encrypt(payload))
    channel.send(aggregator_party, SealedShares(peers, boxes))

    received = channel.recv(aggregator_party, SealedShares)
    held: dict[str, tuple[bytes, bytes]] = {me: (seed_shares[index[me]], key_shares[index[me]])}
    opener = SealedBox(box_key)
    for sender, box in zip(received.peers, received.boxes, strict=True):
        payload = opener.decrypt(box)
        name, _, shares = payload.partition(b"\0")
        if name.decode() != sender or len(shares) != 64:
            raise ProtocolError(f"a share box claims to come from {name!r}, not {sender!r}")
        held[sender] = (shares[:32], shares[32:])
    u2 = sorted(held)
    masked = (
        values
        + _prg(self_seed, len(values))
        + _pair_masks(me, mask_secret, mask_keys, [p for p in u2 if p != me], len(values))
    )
    channel.send(aggregator_party, MaskedInput(masked.astype("<u8").tobytes()))

    survivors = set(channel.recv(aggregator_party, Survivors).clients)
    if not survivors <= set(u2):
        raise ProtocolError(
            "the aggregator named survivors that never shared", peer=aggregator_party
        )
    # for a survivor its self-mask seed, for a dropped client its mask key; never both
    pieces = [held[p][0] if p in survivors else held[p][1] for p in u2]
    channel.send(aggregator_party, UnmaskShares(u2, pieces))


def _recv_or_drop(channel: Channel, party: str, kind: type[M], timeout: float) -> M | None:
    try:
        return channel.recv(party, kind, timeout=timeout)
    except TransportError:  # timed out or the link closed: the client dropped out
        return None


def _forward_shares(
    channel: Channel, alive: Sequence[str], shared: dict[str, dict[str, bytes]]
) -> None:
    """Send each surviving client the sealed shares the others made for it."""
    for party in alive:
        peers, boxes = [], []
        for sender in alive:
            if sender == party:
                continue
            box = shared[sender].get(party)
            if box is None:
                raise ProtocolError(f"{sender!r} sent no share for {party!r}", peer=sender)
            peers.append(sender)
            boxes.append(box)
        channel.send(party, SealedShares(peers, boxes))


def _sum_inputs(
    inputs: dict[str, bytes], alive: Sequence[str], length: int
) -> npt.NDArray[np.uint64]:
    """The sum of the survivors' masked inputs (masks still in)."""
    total = np.zeros(length, dtype=np.uint64)
    for party in alive:
        vector = np.frombuffer(inputs[party], dtype="<u8").astype(np.uint64)
        if len(vector) != length:
            raise ProtocolError(f"{party!r} sent {len(vector)} values, not {length}", peer=party)
        total = total + vector
    return total


def aggregator(
    channel: Channel,
    clients: Sequence[str],
    length: int,
    *,
    threshold: int | None = None,
    timeout: float = 60.0,
) -> tuple[npt.NDArray[np.uint64], list[str]]:
    """The aggregator's side: the sum over the surviving clients, and who they are."""
    t = threshold or default_threshold(len(clients))
    if not 1 <= t <= len(clients):
        raise ParameterError(f"threshold {t} must be between 1 and {len(clients)}")

    def need(alive: Sequence[str], step: str) -> None:
        if len(alive) < t:
            raise ProtocolError(
                f"{step}: only {len(alive)} of {len(clients)} clients answered; the round "
                f"needs {t}",
                step=step,
            )

    keys = {p: _recv_or_drop(channel, p, AdvertiseKeys, timeout) for p in clients}
    u1 = sorted(p for p, k in keys.items() if k is not None)
    need(u1, "keys")
    advertised = {p: k for p, k in keys.items() if k is not None}
    listing = KeyList(u1, [advertised[p].mask_key for p in u1], [advertised[p].box_key for p in u1])
    for party in u1:
        channel.send(party, listing)
    mask_keys = dict(zip(listing.clients, listing.mask_keys, strict=True))

    sealed = {p: _recv_or_drop(channel, p, SealedShares, timeout) for p in u1}
    shared = {p: dict(zip(m.peers, m.boxes, strict=True)) for p, m in sealed.items() if m}
    u2 = sorted(shared)
    need(u2, "shares")
    _forward_shares(channel, u2, shared)

    received = {p: _recv_or_drop(channel, p, MaskedInput, timeout) for p in u2}
    inputs = {p: m.data for p, m in received.items() if m is not None}
    u3 = sorted(inputs)
    need(u3, "masked inputs")
    for party in u3:
        channel.send(party, Survivors(u3))
    answers = {p: _recv_or_drop(channel, p, UnmaskShares, timeout) for p in u3}
    replies = {p: r for p, r in answers.items() if r is not None}
    u4 = list(replies)
    need(u4, "unmasking")

    index = {party: i + 1 for i, party in enumerate(u1)}
    total = _sum_inputs(inputs, u3, length)
    collected: dict[str, dict[int, bytes]] = {p: {} for p in u2}
    for helper in u4:
        reply = replies[helper]
        for party, piece in zip(reply.peers, reply.shares, strict=True):
            collected[party][index[helper]] = piece
    for party in u2:
        secret = shamir.reconstruct(dict(list(collected[party].items())[:t]))
        if party in u3:
            total = total - _prg(secret, length)
        else:  # a dropped client: remove its pair masks from every survivor's input
            survivors_masks = np.zeros(length, dtype=np.uint64)
            for other in u3:
                mask = _prg(_pair_seed(secret, mask_keys[other]), length)
                survivors_masks = (
                    survivors_masks + mask if other < party else survivors_masks - mask
                )
            total = total - survivors_masks
    return total, u3
