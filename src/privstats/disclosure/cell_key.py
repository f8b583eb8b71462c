"""Cell-key perturbation of frequency tables: small, consistent noise instead of suppression.

The cell-key method (CKM) of the Australian Bureau of Statistics and Destatis (the census
tables of both; the ``ptable`` and ``cellKey`` R packages of sdcTools; τ-Argus's CKM) adds
a small integer to every count, decided by the cell's contributors and not by chance:

* every contributor gets a *record key*, a 64-bit number: HMAC-SHA256 of its identifier
  under the office's secret key (:func:`record_keys`; the same contributor gets the same
  key in every table), or a fresh random number when there is no identifier;
* a cell's *cell key* is the fractional part of the sum of its contributors' record keys,
  uniform on [0, 1) and the same wherever the same contributors meet (a margin shared by
  two tables is perturbed alike in both);
* a *perturbation table* (:func:`ptable`) gives, for each original count, the
  probabilities of each change ``v`` in ``−D … D``; the cell key picks ``v`` by where it
  falls among the cumulative probabilities.

The ptable (parameters ``D`` the largest change, ``V`` its variance, ``js`` the counts
never published) is the maximum-entropy distribution with mean 0 and variance ``V`` over
the allowed changes, as the ``ptable`` package builds it: no count becomes negative, no
published count is 1 … ``js``, an empty cell stays 0. Counts from ``D + js + 1`` up all
use the same row, with exactly mean 0 and variance ``V``; the rows below it keep mean 0
and take the variance nearest to ``V`` their allowed changes permit (the count 3 with
``D = 2, js = 2`` cannot go down without landing in 1 … 2, so it stays 3).

What it protects and does not: a published count is within ``D`` of the truth, and which
way is unknown without the secret key, so differencing two published cells no longer
gives a small count exactly. Margins are perturbed on their own: the published table is
not additive, and must be said to be. Only counts are perturbed here (magnitudes are
not). Keep the key secret and the same across releases: a new key per release would let
repeated releases of one cell be averaged.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privstats.disclosure.tables import Table
from privstats.errors import DatasetError, ParameterError
from privstats.files import write_text_atomically

__all__ = [
    "PTable",
    "PerturbedTable",
    "cell_key",
    "create_key_file",
    "perturb",
    "ptable",
    "random_record_keys",
    "read_key_file",
    "record_keys",
]

_SPAN = 2**64
_MIN_KEY_BYTES = 16


def create_key_file(path: str | Path) -> None:
    """Write a new secret key (32 random bytes, hex) readable by its owner only."""
    write_text_atomically(path, secrets.token_bytes(32).hex() + "\n", private=True)


def read_key_file(path: str | Path) -> bytes:
    """The secret key in ``path`` (hex text, as :func:`create_key_file` writes it)."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(
            f"{path}: cannot read a hex key ({type(exc).__name__}); create one with "
            "`privstats sdc key FILE`",
            path=str(path),
        ) from None
    if len(key) < _MIN_KEY_BYTES:
        raise DatasetError(
            f"{path}: the key has {len(key)} bytes; a cell-key secret needs at least "
            f"{_MIN_KEY_BYTES}",
            path=str(path),
        )
    return key


def record_keys(ids: Sequence[str], secret: bytes) -> list[int]:
    """Each contributor's record key: the first 8 bytes of HMAC-SHA256(secret, id)."""
    if len(secret) < _MIN_KEY_BYTES:
        raise ParameterError(
            f"the secret has {len(secret)} bytes; use at least {_MIN_KEY_BYTES}",
            parameter="secret",
        )
    return [
        int.from_bytes(hmac.new(secret, str(i).encode("utf-8"), hashlib.sha256).digest()[:8])
        for i in ids
    ]


def random_record_keys(n: int) -> list[int]:
    """Record keys for contributors without an identifier: random (OS CSPRNG), so a
    cell's perturbation is consistent within one run but not across runs."""
    return [secrets.randbits(64) for _ in range(n)]


def cell_key(keys: Sequence[int]) -> float:
    """The fractional part of the sum of record keys (each read as a fraction of 2⁶⁴)."""
    return (sum(keys) % _SPAN) / _SPAN


@dataclass(frozen=True)
class PTable:
    """Per original count ``i`` (rows 0 … ``D + js + 1``, the last for every larger count):
    the changes ``v`` it can get and their probabilities."""

    d: int
    v: float
    js: int
    rows: tuple[tuple[tuple[int, float], ...], ...]

    def row(self, count: int) -> tuple[tuple[int, float], ...]:
        """The (change, probability) pairs for an original ``count``."""
        if count < 0:
            raise ParameterError(f"a count is ≥ 0, got {count}", parameter="count")
        return self.rows[min(count, len(self.rows) - 1)]

    def change(self, count: int, key: float) -> int:
        """The change the cell key ``key`` (in [0, 1)) picks for ``count``."""
        if not 0 <= key < 1:
            raise ParameterError(f"a cell key is in [0, 1), got {key}", parameter="key")
        pairs = self.row(count)
        cumulative = _cumulative([p for _, p in pairs])
        position = min(bisect.bisect_right(cumulative, key), len(pairs) - 1)
        return pairs[position][0]


def _cumulative(probabilities: list[float]) -> list[float]:
    """Running sums, the last set to exactly 1 (no key may fall past the end)."""
    out = list(itertools.accumulate(probabilities))
    out[-1] = 1.0
    return out


def ptable(d: int = 2, v: float = 1.0, js: int = 0) -> PTable:
    """The perturbation table for largest change ``d``, variance ``v`` and counts 1 … ``js``
    never published (see the module doc)."""
    if d < 1 or not 0 <= js <= d:
        raise ParameterError(f"need D ≥ 1 and 0 ≤ js ≤ D, got D={d}, js={js}", parameter="ckm")
    if not 0 < v < math.inf:
        raise ParameterError(f"need a variance V > 0, got {v}", parameter="ckm")
    rows: list[tuple[tuple[int, float], ...]] = [((0, 1.0),)]  # an empty cell stays empty
    for count in range(1, d + js + 2):
        allowed = [
            change for change in range(-d, d + 1) if count + change == 0 or count + change > js
        ]
        rows.append(_row([c for c in allowed if count + c >= 0], v))
    return PTable(d, v, js, tuple(rows))


def _row(allowed: list[int], variance: float) -> tuple[tuple[int, float], ...]:
    """Mean 0, variance as near ``variance`` as ``allowed`` permits, maximum entropy."""
    negative = [c for c in allowed if c < 0]
    positive = [c for c in allowed if c > 0]
    if not negative or not positive:
        return ((0, 1.0),)  # 0 is allowed here (the count is above js): it stays
    lowest, highest = negative[0], positive[-1]
    inner_low, inner_high = negative[-1], positive[0]
    most = -lowest * highest
    least = 0.0 if 0 in allowed else -inner_low * inner_high
    if variance >= most:
        return _two_points(lowest, highest)
    if variance <= least:
        return ((0, 1.0),) if 0 in allowed else _two_points(inner_low, inner_high)
    return tuple(zip(allowed, _max_entropy(np.array(allowed, dtype=float), variance), strict=True))


def _two_points(low: int, high: int) -> tuple[tuple[int, float], ...]:
    """The mean-0 distribution on ``low < 0 < high``."""
    return ((low, high / (high - low)), (high, -low / (high - low)))


def _max_entropy(support: np.ndarray[Any, np.dtype[np.float64]], variance: float) -> list[float]:
    """``p ∝ exp(a·v + b·v²)`` with mean 0 and the given variance: Newton's method on the
    convex dual ``log Σ exp(a v + b v²) − b·variance``."""
    features = np.stack([support, support**2 - variance])
    theta = np.zeros(2)

    def dual(t: np.ndarray[Any, np.dtype[np.float64]]) -> float:
        z = t @ features
        top = float(z.max())
        return top + math.log(float(np.exp(z - top).sum()))

    for _ in range(200):
        z = theta @ features
        weights = np.exp(z - z.max())
        p = weights / weights.sum()
        gradient = features @ p
        if float(np.abs(gradient).max()) < 1e-13:
            break
        centred = features - gradient[:, None]
        hessian = (centred * p) @ centred.T
        step = np.linalg.solve(hessian + 1e-15 * np.eye(2), gradient)
        scale, now = 1.0, dual(theta)
        while dual(theta - scale * step) > now - 1e-4 * scale * float(gradient @ step):
            scale /= 2
            if scale < 1e-12:
                break
        theta = theta - scale * step
    z = theta @ features
    weights = np.exp(z - z.max())
    return [float(w) for w in weights / weights.sum()]


@dataclass(frozen=True)
class PerturbedTable:
    """A frequency table with every count perturbed by the cell-key method."""

    table: Table
    ptable: PTable
    counts: tuple[int, ...]

    def records(self) -> list[dict[str, Any]]:
        """Every cell as ``{"by", "count", "value", "status": "perturbed", "rules": []}``.
        Every cell says "perturbed", empty ones too: a status "empty" beside a published 0
        would tell a true zero from a small count perturbed to 0."""
        return [
            {
                "by": self.table.by(cell),
                "count": count,
                "value": float(count),
                "status": "perturbed",
                "rules": [],
            }
            for cell, count in zip(self.table.cells, self.counts, strict=True)
        ]


def perturb(table: Table, perturbation: PTable) -> PerturbedTable:
    """Perturb every count of ``table`` (built with record keys) by ``perturbation``."""
    if table.magnitude:
        raise ParameterError(
            "cell-key perturbation here perturbs counts only; tabulate without a value column",
            parameter="value",
        )
    counts = tuple(
        cell.count + perturbation.change(cell.count, cell.ckm_key / _SPAN) for cell in table.cells
    )
    return PerturbedTable(table, perturbation, counts)
