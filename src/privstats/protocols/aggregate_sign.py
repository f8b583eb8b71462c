"""Whether a sum of the parties' private integers is positive, opening one bit per test.

Used by the aggregate's dominance, p % and regressor-level rules
(``privstats.protocols.aggregate_rules``). Each *test* is a list of *allocations*; each
party holds one integer per allocation, and the test's bit is "some allocation's sum over
parties is positive". Every party ends with the same bits.

Protocol (Paillier, ``phe``; the first party is the key holder H, the second the blinder
B)::

    key      H makes a fresh 2048-bit key pair and sends the public key to every party
    encrypt  every party but B encrypts its integers and sends them to B
    blind    B adds all ciphertexts and its own integers: Enc(S) per allocation; it sends
             H, per allocation, Enc(r·S − r') with fresh r ∈ [1, 2^64) and
             r' ∈ [0, r) from ``secrets`` (S > 0 iff r·S − r' > 0), re-randomised, the
             allocations of each test in a fresh random order
    open     H decrypts and sends every party each test's bit: any value > 0

Threat model: semi-honest parties; H and B do not collude (with two parties, they are
the only two, and each alone learns only what is listed). The hub sees sizes.
What each party learns beyond the bits:

- B and every other party but H: nothing (ciphertexts under H's key; IND-CPA).
- H: per test, the blinded values ``v = r·S − r'`` of its allocations in a random order,
  i.e. how many allocations are positive (not which), and each sum's magnitude up to the
  blinding factor: ``|S| ≤ |v|``, for ``S ≠ 0`` also ``|S| > |v|/2^65``, and ``S = 0``
  gives ``v`` in ``(−2^64, 0]``. For the
  dominance rules ``S`` mixes every party's largest contributions and totals; H cannot
  split it into parties' terms, but with two parties it knows its own term.
- H and B together would learn every ``S``: the bound is stated, not enforced.

Sizes: every party's integer must stay below 2^1900 in absolute value (checked before
encryption; fixed-point codes of sums stay far below), so that ``r·S`` cannot wrap modulo
the 2048-bit key.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from privstats.crypto.random import secure_permutation
from privstats.errors import ParameterError, ProtocolError
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "BLIND_BITS",
    "KEY_BITS",
    "LIMIT_BITS",
    "Bits",
    "Ciphertexts",
    "PublicKey",
    "any_positive",
]

KEY_BITS = 2048
BLIND_BITS = 64
LIMIT_BITS = 1900
CHUNK = 2000
"""Ciphertexts per message (about 1 MB)."""


@message("aggregate.sign.key", 1)
class PublicKey(Message):
    modulus: bytes


@message("aggregate.sign.ciphertexts", 1)
class Ciphertexts(Message):
    data: bytes
    count: int
    last: bool


@message("aggregate.sign.bits", 1)
class Bits(Message):
    bits: list[bool]


def _phe() -> Any:
    try:
        import phe  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - phe is a dependency
        raise ParameterError(
            "the dominance and p % rules need the 'phe' package (pip install phe)",
            parameter="rules",
        ) from exc
    return phe


def any_positive(
    channel: Channel,
    parties: Sequence[str],
    tests: Sequence[Sequence[int]],
    *,
    key_bits: int = KEY_BITS,
) -> list[bool]:
    """Per test, whether some allocation's sum over all parties is positive (see module).

    ``tests[t][a]`` is this party's integer for allocation ``a`` of test ``t``; every party
    passes the same shape. ``parties`` is every party in the same order everywhere.
    """
    flat = [int(v) for test in tests for v in test]
    if any(abs(v) >= 1 << LIMIT_BITS for v in flat):
        raise ParameterError(
            f"a rule's integer exceeds 2^{LIMIT_BITS}; use a smaller frac_bits",
            parameter="frac_bits",
        )
    if not flat:
        return [False] * len(tests)
    holder, blinder, me = parties[0], parties[1], channel.party
    if me == holder:
        phe = _phe()
        public, private = phe.generate_paillier_keypair(n_length=key_bits)
        for peer in parties[1:]:
            channel.send(peer, PublicKey(_to_bytes(public.n, key_bits // 8)))
        _send_encrypted(channel, blinder, public, flat, key_bits)
        values = _recv_all(channel, blinder, len(flat), key_bits)
        bits = _open(private, public.n, values, [len(test) for test in tests])
        for peer in parties[1:]:
            channel.send(peer, Bits(bits))
        return bits
    public = _phe().PaillierPublicKey(int.from_bytes(channel.recv(holder, PublicKey).modulus))
    if me == blinder:
        _blind(channel, parties, public, flat, [len(test) for test in tests], key_bits)
    else:
        _send_encrypted(channel, blinder, public, flat, key_bits)
    bits = channel.recv(holder, Bits).bits
    if len(bits) != len(tests):
        raise ProtocolError(f"{holder!r} sent {len(bits)} bits for {len(tests)} tests", peer=holder)
    return bits


def _to_bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _send_encrypted(
    channel: Channel, peer: str, public: Any, values: Sequence[int], key_bits: int
) -> None:
    cipher = [public.raw_encrypt(v % public.n) for v in values]
    _send_all(channel, peer, cipher, key_bits)


def _send_all(channel: Channel, peer: str, cipher: Sequence[int], key_bits: int) -> None:
    size = key_bits // 4
    for start in range(0, max(len(cipher), 1), CHUNK):
        part = cipher[start : start + CHUNK]
        data = b"".join(_to_bytes(c, size) for c in part)
        channel.send(peer, Ciphertexts(data, len(part), start + CHUNK >= len(cipher)))


def _recv_all(channel: Channel, peer: str, count: int, key_bits: int) -> list[int]:
    size = key_bits // 4
    out: list[int] = []
    while True:
        msg = channel.recv(peer, Ciphertexts)
        if len(msg.data) != msg.count * size:
            raise ProtocolError(f"{peer!r} sent malformed ciphertexts", peer=peer, step="sign")
        out.extend(int.from_bytes(msg.data[i : i + size]) for i in range(0, len(msg.data), size))
        if msg.last:
            break
    if len(out) != count:
        raise ProtocolError(f"{peer!r} sent {len(out)} ciphertexts, not {count}", peer=peer)
    return out


def _blind(
    channel: Channel,
    parties: Sequence[str],
    public: Any,
    own: Sequence[int],
    shape: Sequence[int],
    key_bits: int,
) -> None:
    """B's step: add, blind, re-randomise and shuffle within each test; send to H."""
    n, square = public.n, public.nsquare
    total = [(1 + n * (v % n)) % square for v in own]  # g^d with g = n + 1
    for peer in parties:
        if peer == channel.party:
            continue
        for i, c in enumerate(_recv_all(channel, peer, len(own), key_bits)):
            total[i] = total[i] * c % square
    blinded = []
    for c in total:
        r = 1 + secrets.randbelow((1 << BLIND_BITS) - 1)
        mask = public.raw_encrypt((-secrets.randbelow(r)) % n)  # fresh randomness
        blinded.append(pow(c, r, square) * mask % square)
    shuffled: list[int] = []
    start = 0
    for width in shape:
        order = secure_permutation(width)
        shuffled.extend(blinded[start + int(i)] for i in order)
        start += width
    _send_all(channel, parties[0], shuffled, key_bits)


def _open(private: Any, n: int, values: Sequence[int], shape: Sequence[int]) -> list[bool]:
    """H's step: decrypt the blinded sums and OR their signs within each test."""
    bits = []
    start = 0
    for width in shape:
        bits.append(any(_signed(private, n, c) > 0 for c in values[start : start + width]))
        start += width
    return bits


def _signed(private: Any, n: int, ciphertext: int) -> int:
    """The plaintext in (−n/2, n/2]: the blinded value ``r·S − r'`` H sees."""
    plain = int(private.raw_decrypt(ciphertext))
    return plain - n if plain > n // 2 else plain
