"""CKKS approximate homomorphic encryption of real vectors: a thin wrapper of TenSEAL.

TenSEAL (Microsoft SEAL underneath) does all the arithmetic; this module only picks
parameters, checks arguments and moves keys and ciphertexts to and from bytes.

Parameters
----------
:class:`CkksParameters` fixes the ring dimension ``N`` (``poly_modulus_degree``; a
ciphertext packs ``N/2`` real values, one per *slot*), the bit sizes of the primes of the
coefficient modulus and the scale ``2^scale_bits`` at which reals are encoded.
:meth:`CkksParameters.for_depth` chooses them for a circuit of a given multiplicative
depth (one level is used by each multiplication, by a plaintext scalar or a ciphertext):

=====  =======  =========================  ========  ================
depth  N        coeff_mod_bit_sizes        total     HE-standard max
=====  =======  =========================  ========  ================
1      8192     60, 40, 60                 160 bits  218 bits
2      8192     60, 40, 40, 60             200 bits  218 bits
3      8192     58, 40, 40, 40, 40         218 bits  218 bits
4–7    16384    60, 40 × depth, 60         ≤ 400     438 bits
=====  =======  =========================  ========  ================

The scale is ``2^40``; the first prime leaves 18–20 bits for the integer part of results,
the last is SEAL's special (key-switching) prime. Every choice stays within the bound of
the Homomorphic Encryption Standard (Albrecht et al., 2018, table for 128-bit classical
security, ternary secret) for its ``N``, so all parameter sets give **128-bit security**;
:meth:`CkksParameters.validate` refuses any other combination.

Keys
----
:func:`create_context` makes a *secret* context: secret key, public key and
relinearisation keys (needed to multiply two ciphertexts), and Galois keys (needed only for
rotations) if asked. :func:`public_context_bytes` serialises it **without the secret key**
— that is what a party that computes on ciphertexts receives; :func:`load_public_context`
refuses bytes that carry a secret key, so a caller cannot leak one by mistake.

Precision: CKKS is approximate. Fresh encryption and each rescaling add an error of
about ``2^-30`` relative to the scale; results should be compared with a tolerance, not
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.errors import CryptoError, MissingExtraError, ParameterError

__all__ = [
    "MAX_COEFF_MODULUS_BITS",
    "CkksParameters",
    "create_context",
    "decrypt_vector",
    "encrypt_vector",
    "load_ciphertext",
    "load_public_context",
    "public_context_bytes",
    "require_tenseal",
]

MAX_COEFF_MODULUS_BITS: dict[int, int] = {8192: 218, 16384: 438}
"""HE Standard: largest total coefficient modulus (bits) for 128-bit security, per N."""

_SCALE_BITS = 40
_MAX_DEPTH = 7

FloatArray = npt.NDArray[np.float64]


def require_tenseal() -> Any:
    """TenSEAL, imported on first use (the optional ``he`` extra); names the extra if missing."""
    try:
        import tenseal
    except ImportError as exc:
        raise MissingExtraError("he", "CKKS encryption (TenSEAL)") from exc
    return tenseal


@dataclass(frozen=True)
class CkksParameters:
    """Ring dimension, coefficient modulus primes and scale of a CKKS context."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int = _SCALE_BITS

    @classmethod
    def for_depth(cls, depth: int) -> CkksParameters:
        """The 128-bit parameters of the module table for a circuit of ``depth`` levels."""
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError(f"depth must be an int, not {type(depth).__name__}")
        if not 1 <= depth <= _MAX_DEPTH:
            raise ParameterError(
                f"multiplicative depth must be 1..{_MAX_DEPTH}, got {depth}; use fewer "
                "layers or a lower-degree activation",
                parameter="depth",
            )
        if depth <= 2:
            return cls(8192, (60, *([40] * depth), 60))
        if depth == 3:
            return cls(8192, (58, 40, 40, 40, 40))
        return cls(16384, (60, *([40] * depth), 60))

    @property
    def slots(self) -> int:
        """How many reals one ciphertext packs."""
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Multiplications (levels) available: the primes between the first and special."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def total_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes)

    def validate(self) -> None:
        """Raise ParameterError unless these parameters give 128-bit security and work."""
        limit = MAX_COEFF_MODULUS_BITS.get(self.poly_modulus_degree)
        if limit is None:
            raise ParameterError(
                f"poly_modulus_degree must be one of {sorted(MAX_COEFF_MODULUS_BITS)}, got "
                f"{self.poly_modulus_degree}",
                parameter="poly_modulus_degree",
            )
        sizes = self.coeff_mod_bit_sizes
        if len(sizes) < 3 or any(not 20 <= bits <= 60 for bits in sizes):
            raise ParameterError(
                f"coeff_mod_bit_sizes needs at least 3 primes of 20..60 bits, got {list(sizes)}",
                parameter="coeff_mod_bit_sizes",
            )
        if self.total_bits > limit:
            raise ParameterError(
                f"coeff_mod_bit_sizes total {self.total_bits} bits; at N = "
                f"{self.poly_modulus_degree} 128-bit security allows at most {limit}",
                parameter="coeff_mod_bit_sizes",
            )
        if not 20 <= self.scale_bits < sizes[0] or any(
            bits < self.scale_bits for bits in sizes[1:]
        ):
            raise ParameterError(
                f"scale_bits {self.scale_bits} must be below the first prime ({sizes[0]} "
                "bits) and at most the others",
                parameter="scale_bits",
            )


def create_context(params: CkksParameters, *, galois_keys: bool = False) -> Any:
    """A new secret TenSEAL context: fresh secret, public and relinearisation keys.

    ``galois_keys=True`` also makes the (large) rotation keys; feature-major packing never
    rotates, so the default leaves them out.
    """
    ts = require_tenseal()
    if not isinstance(params, CkksParameters):
        raise TypeError(f"params must be CkksParameters, not {type(params).__name__}")
    params.validate()
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=params.poly_modulus_degree,
        coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
    )
    context.global_scale = 2.0**params.scale_bits
    if galois_keys:
        context.generate_galois_keys()
    return context


def public_context_bytes(context: Any) -> bytes:
    """``context`` serialised with public, relinearisation and Galois keys, never the secret."""
    data: bytes = context.serialize(
        save_public_key=True,
        save_secret_key=False,
        save_galois_keys=bool(context.has_galois_keys()),
        save_relin_keys=True,
    )
    return data


def load_public_context(data: bytes) -> Any:
    """A context from :func:`public_context_bytes`; refuses bytes holding a secret key."""
    ts = require_tenseal()
    if not isinstance(data, bytes):
        raise TypeError(f"a serialised context is bytes, not {type(data).__name__}")
    try:
        context = ts.context_from(data)
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError on bad bytes
        raise CryptoError(f"the bytes are not a CKKS context: {exc}") from exc
    if context.is_private():
        raise CryptoError("the context holds a secret key; a public context was expected")
    if not context.has_public_key() or not context.has_relin_keys():
        raise CryptoError("the public context lacks its public or relinearisation keys")
    return context


def encrypt_vector(context: Any, values: npt.ArrayLike, *, slots: int) -> bytes:
    """The serialised CKKS encryption of ``values``: 1..``slots`` finite reals.

    ``slots`` is the context's ``N/2`` (:attr:`CkksParameters.slots`); TenSEAL would
    otherwise silently spread a longer vector over several ciphertexts.
    """
    ts = require_tenseal()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not 1 <= array.size <= slots:
        raise ParameterError(
            f"a ciphertext packs 1..{slots} values, got shape {array.shape}", parameter="values"
        )
    if not np.all(np.isfinite(array)):
        raise ParameterError("values to encrypt must be finite", parameter="values")
    data: bytes = ts.ckks_vector(context, array.tolist()).serialize()
    return data


def load_ciphertext(context: Any, data: bytes, *, size: int | None = None) -> Any:
    """A TenSEAL ``CKKSVector`` from bytes, checked to pack ``size`` values if given."""
    ts = require_tenseal()
    if not isinstance(data, bytes):
        raise TypeError(f"a serialised ciphertext is bytes, not {type(data).__name__}")
    try:
        vector = ts.ckks_vector_from(context, data)
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError on bad bytes
        raise CryptoError(f"the bytes are not a CKKS ciphertext: {exc}") from exc
    if size is not None and vector.size() != size:
        raise CryptoError(f"the ciphertext packs {vector.size()} values, expected {size}")
    return vector


def decrypt_vector(context: Any, data: bytes, *, size: int | None = None) -> FloatArray:
    """Decrypt serialised ciphertext ``data`` with the secret ``context``."""
    if not context.is_private():
        raise CryptoError("decryption needs the secret context that made the keys")
    values = load_ciphertext(context, data, size=size).decrypt()
    return np.asarray(values, dtype=np.float64)
