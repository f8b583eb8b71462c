"""The synthesizers by name: ``cart``, ``copula``, ``mst``; one way to build each."""

from __future__ import annotations

from typing import Any

from privstats.errors import ParameterError
from privstats.synth.base import Synthesizer

__all__ = ["METHODS", "make_synthesizer"]

METHODS = ("cart", "copula", "mst")


def make_synthesizer(method: str, **options: Any) -> Synthesizer:
    """A new, unfitted synthesizer of ``method`` with its ``options``."""
    if method == "cart":
        from privstats.synth.cart import CART

        return CART(**options)
    if method == "copula":
        from privstats.synth.copula import GaussianCopula

        return GaussianCopula(**options)
    if method == "mst":
        from privstats.synth.mst import MST

        return MST(**options)
    raise ParameterError(
        f"unknown synthesis method {method!r}; methods are {', '.join(METHODS)}",
        parameter="method",
    )
