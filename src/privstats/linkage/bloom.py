"""Record-level Bloom-filter encodings (CLKs) for private probabilistic linkage.

A cryptographic long-term key (CLK, Schnell, Bachteler and Reiher 2011) hashes the padded
q-grams of every linkage field of a record into one bit array of ``length`` bits: each
gram sets ``k`` bits (the field's weight), chosen by double hashing (Kirsch and
Mitzenmacher) of HMAC-SHA256 under a 32-byte key that only the data owners hold. Two
encodings of similar records share many bits, so their Dice coefficient approximates the
q-gram similarity of the records, without the linker knowing the key.

Hardening against frequency and pattern-mining attacks (Christen, Ranbaduge, Vatsalan and
Schnell 2019; Christen, Schnell, Vatsalan and Ranbaduge 2017):

- ``salt_field``: a field's grams are hashed together with a stable value of the record
  (e.g. the year of birth, ``salt_chars=4`` of ``dob``), so the same name sets different
  bits in different cohorts (a record whose salt value is wrong cannot match);
- ``hardening="xor_fold"``: the two halves of the array are XOR-ed (Schnell, Borgs and
  Encheva 2016), so no bit pattern maps back to one gram; ``"balance"``: the array is
  concatenated with its complement and permuted under the key (Schnell 2015), so every
  encoding has the same number of set bits;
- ``flip_probability``: BLIP (Schnell and Borgs 2016), every bit is flipped independently
  with probability ``f``, drawn from :mod:`secrets` (randomised response on the bits).

Encodings are packed ``uint8`` rows (``length`` bits → ``length / 8`` bytes); similarity is
counted with numpy's ``bitwise_count`` on ``uint64`` views.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError

__all__ = [
    "DEFAULT_HASHES",
    "KEY_BYTES",
    "EncodingSpec",
    "FieldEncoding",
    "dice",
    "encode_records",
    "new_key",
    "normalise",
    "popcount",
    "qgrams",
]

KEY_BYTES = 32
DEFAULT_HASHES = 16
Hardening = Literal["none", "xor_fold", "balance"]
_CHUNK_ROWS = 8192


def new_key() -> bytes:
    """A fresh 32-byte encoding key (from :mod:`secrets`): the data owners share it, the
    linker and the hub never see it."""
    return secrets.token_bytes(KEY_BYTES)


@dataclass(frozen=True)
class FieldEncoding:
    """One linkage field and its weight: the number of bits each of its grams sets."""

    name: str
    hashes: int = DEFAULT_HASHES


@dataclass(frozen=True)
class EncodingSpec:
    """How both data owners encode their records; they must agree on every value."""

    fields: tuple[FieldEncoding, ...]
    length: int = 1024
    q: int = 2
    salt_field: str | None = None
    """The field whose value salts every other field's grams (None: no salt)."""
    salt_chars: int = 0
    """Characters of the salt field's value used (0: all; 4 of an ISO date: the year)."""
    hardening: Hardening = "none"
    flip_probability: float = 0.0

    def __post_init__(self) -> None:
        if not self.fields:
            raise ParameterError("an encoding needs at least one field", parameter="fields")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ParameterError(
                f"linkage fields must be distinct, got {names}", parameter="fields"
            )
        if self.length < 64 or self.length % 128:
            raise ParameterError(
                f"encoding length must be a multiple of 128 bits (≥ 128), got {self.length}",
                parameter="length",
            )
        if not 1 <= self.q <= 4:
            raise ParameterError(f"q-gram size must be 1 to 4, got {self.q}", parameter="q")
        if any(not 1 <= f.hashes <= 200 for f in self.fields):
            raise ParameterError("each field's hashes must be 1 to 200", parameter="weights")
        if self.salt_field is not None and self.salt_field not in names:
            raise ParameterError(
                f"salt field {self.salt_field!r} is not one of the linkage fields {names}",
                parameter="salt_field",
            )
        if not 0.0 <= self.flip_probability < 0.5:
            raise ParameterError(
                f"flip probability must be in [0, 0.5), got {self.flip_probability}",
                parameter="flip_probability",
            )

    @property
    def bits(self) -> int:
        """Bits of one encoding after hardening."""
        if self.hardening == "xor_fold":
            return self.length // 2
        if self.hardening == "balance":
            return self.length * 2
        return self.length

    @property
    def row_bytes(self) -> int:
        """Bytes of one packed encoding."""
        return self.bits // 8


def normalise(value: str) -> str:
    """Lower case, accents removed, only letters and digits, single spaces."""
    text = unicodedata.normalize("NFKD", value.casefold())
    text = "".join(c if c.isalnum() else " " for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


def qgrams(value: str, q: int = 2) -> list[str]:
    """The padded q-grams of a normalised value (``"_a", "an", "n_"`` for ``"an"``);
    an empty value has none."""
    if not value:
        return []
    padded = "_" * (q - 1) + value + "_" * (q - 1)
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


class _GramTable:
    """Each distinct (salt, gram) of one field → its ``k`` bit positions, computed once."""

    def __init__(self, key: bytes, index: int, hashes: int, length: int) -> None:
        self._key = key
        self._prefix = index.to_bytes(2, "big")
        self._steps = np.arange(hashes, dtype=np.uint64)
        self._length = np.uint64(length)
        self._ids: dict[tuple[str, str], int] = {}
        self._rows: list[npt.NDArray[np.int64]] = []

    def ids(self, salt: str, grams: Sequence[str]) -> list[int]:
        out = []
        for gram in grams:
            found = self._ids.get((salt, gram))
            if found is None:
                found = self._ids[(salt, gram)] = len(self._rows)
                self._rows.append(self._positions(salt, gram))
            out.append(found)
        return out

    def _positions(self, salt: str, gram: str) -> npt.NDArray[np.int64]:
        message = self._prefix + salt.encode() + b"\x00" + gram.encode()
        digest = hmac.digest(self._key, message, hashlib.sha256)
        h1 = np.uint64(int.from_bytes(digest[:8], "big"))
        h2 = np.uint64(int.from_bytes(digest[8:16], "big") | 1)
        with np.errstate(over="ignore"):
            return ((h1 + self._steps * h2) % self._length).astype(np.int64)

    def table(self) -> npt.NDArray[np.int64]:
        if not self._rows:
            return np.zeros((0, len(self._steps)), dtype=np.int64)
        return np.stack(self._rows)


def _keyed_permutation(key: bytes, size: int) -> npt.NDArray[np.intp]:
    """A permutation of ``range(size)`` that only the key holders can compute."""
    tags = [
        hmac.digest(key, b"balance" + i.to_bytes(4, "big"), hashlib.sha256) for i in range(size)
    ]
    return np.array(sorted(range(size), key=tags.__getitem__), dtype=np.intp)


def _flip_mask(shape: tuple[int, int], probability: float) -> npt.NDArray[np.bool_]:
    """Each entry True with ``probability``, from the operating system's CSPRNG."""
    draws = np.frombuffer(secrets.token_bytes(4 * shape[0] * shape[1]), dtype=np.uint32)
    return (draws < np.uint32(round(probability * 2**32))).reshape(shape)


def encode_records(
    records: Sequence[Sequence[str]], key: bytes, spec: EncodingSpec
) -> npt.NDArray[np.uint8]:
    """The packed encodings (one row of ``spec.row_bytes`` per record) of ``records``, each a
    sequence of values in the order of ``spec.fields``; values are normalised here."""
    if len(key) != KEY_BYTES:
        raise ParameterError(f"an encoding key has {KEY_BYTES} bytes, got {len(key)}")
    names = [f.name for f in spec.fields]
    salt_at = None if spec.salt_field is None else names.index(spec.salt_field)
    tables = [_GramTable(key, i, f.hashes, spec.length) for i, f in enumerate(spec.fields)]
    ids: list[list[list[int]]] = [[] for _ in spec.fields]
    for row, values in enumerate(records):
        if len(values) != len(names):
            raise ParameterError(
                f"record {row + 1} has {len(values)} values for {len(names)} linkage fields"
            )
        clean = [normalise(v) for v in values]
        salt = ""
        if salt_at is not None:
            salt = clean[salt_at].replace(" ", "")
            salt = salt[: spec.salt_chars] if spec.salt_chars else salt
        for f, value in enumerate(clean):
            own_salt = "" if f == salt_at else salt
            ids[f].append(tables[f].ids(own_salt, qgrams(value, spec.q)))
    positions = [t.table() for t in tables]
    permutation = _keyed_permutation(key, 2 * spec.length) if spec.hardening == "balance" else None
    out = np.zeros((len(records), spec.row_bytes), dtype=np.uint8)
    for start in range(0, len(records), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(records))
        bits = np.zeros((stop - start, spec.length), dtype=np.bool_)
        for f, table in enumerate(positions):
            chunk = ids[f][start:stop]
            counts = np.fromiter((len(g) for g in chunk), dtype=np.intp, count=len(chunk))
            if not counts.sum():
                continue
            flat = np.fromiter((i for g in chunk for i in g), dtype=np.intp, count=counts.sum())
            rows = np.repeat(np.arange(stop - start), counts * table.shape[1])
            bits[rows, table[flat].ravel()] = True
        bits = _harden(bits, spec, permutation)
        if spec.flip_probability > 0:
            bits ^= _flip_mask(bits.shape, spec.flip_probability)
        out[start:stop] = np.packbits(bits, axis=1)
    return out


def _harden(
    bits: npt.NDArray[np.bool_], spec: EncodingSpec, permutation: npt.NDArray[np.intp] | None
) -> npt.NDArray[np.bool_]:
    half = spec.length // 2
    if spec.hardening == "xor_fold":
        return np.asarray(bits[:, :half] ^ bits[:, half:])
    if spec.hardening == "balance" and permutation is not None:
        return np.concatenate([bits, ~bits], axis=1)[:, permutation]
    return bits


def _words(packed: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(packed).view(np.uint64)


def popcount(packed: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Set bits of every packed row."""
    counts: npt.NDArray[np.int64] = np.bitwise_count(_words(packed)).sum(axis=1, dtype=np.int64)
    return counts


def dice(left: npt.NDArray[np.uint8], right: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Dice coefficient ``2|a∧b| / (|a| + |b|)`` of paired packed rows (0 for two empty rows)."""
    a, b = _words(left), _words(right)
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
    total = np.bitwise_count(a).sum(axis=1, dtype=np.int64) + np.bitwise_count(b).sum(
        axis=1, dtype=np.int64
    )
    out: npt.NDArray[np.float64] = np.zeros(len(common))
    np.divide(2.0 * common, total, out=out, where=total > 0)
    return out
