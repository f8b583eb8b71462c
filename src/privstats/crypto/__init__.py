"""Thin wrappers of vetted cryptographic libraries: no hand-written group or cipher code."""

from privstats.crypto import elgamal
from privstats.crypto.dlog import discrete_log
from privstats.crypto.group import (
    POINT_BYTES,
    Scalar,
    hash_to_group,
    multiply,
    random_points,
)
from privstats.crypto.random import secure_permutation, shuffle_points

__all__ = [
    "POINT_BYTES",
    "Scalar",
    "discrete_log",
    "elgamal",
    "hash_to_group",
    "multiply",
    "random_points",
    "secure_permutation",
    "shuffle_points",
]
