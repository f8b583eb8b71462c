"""Fixed-point encoding: real values as integers ``round(x·2^f)`` for exact integer sums.

Secure sums add integers exactly, in a ring; statistics need real values. ``FixedPoint``
is the bridge: a real ``x`` becomes the integer ``round(x·2^f)`` (``f = frac_bits``), so
the encoding error is at most ``2^−(f+1)`` per value and a sum of ``N`` encoded values is
within ``N·2^−(f+1)`` of the real sum. Decoding divides by ``2^f``.

It sits in ``data`` (the numeric representation of a party's values, with no statistics
or protocol in it) so that every layer above — ``stats``, ``ml``, ``synth``, ``protocols``
and ``jobs`` — can use the one encoding; ``privstats.protocols.sharing`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError

__all__ = ["FixedPoint"]


@dataclass(frozen=True)
class FixedPoint:
    """Real values as integers ``round(x·2^frac_bits)``; error at most ``2^−(frac_bits+1)``."""

    frac_bits: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.frac_bits <= 52:
            raise ParameterError(
                f"frac_bits must be between 0 and 52, got {self.frac_bits}", parameter="frac_bits"
            )

    @property
    def scale(self) -> float:
        return float(1 << self.frac_bits)

    @property
    def max_error(self) -> float:
        """The largest encoding error of one value."""
        return 0.5 / self.scale

    def encode(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Encode finite reals whose scaled magnitude stays below 2^62."""
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ParameterError("fixed-point values must be finite (no NaN or infinity)")
        scaled = np.rint(array * self.scale)
        if scaled.size and np.abs(scaled).max() >= 2.0**62:
            raise ParameterError(
                f"a value of magnitude {np.abs(array).max():.6g} is too large for fixed point "
                f"with {self.frac_bits} fractional bits (limit {2.0 ** (62 - self.frac_bits):.6g})",
                parameter="values",
            )
        return scaled.astype(np.int64)

    def encode_exact(self, values: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """Encode finite reals of any magnitude as Python integers (an object array)."""
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ParameterError("fixed-point values must be finite (no NaN or infinity)")
        scaled = np.rint(array * self.scale)
        if scaled.size == 0 or np.abs(scaled).max() < 2.0**62:
            return scaled.astype(np.int64).astype(object)
        # float → int is exact for every finite float; only the rounding above loses bits
        return np.array([int(v) for v in scaled.tolist()], dtype=object)

    def decode(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64) / self.scale
