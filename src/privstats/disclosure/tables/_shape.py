"""The shape of a table's dimension: its labels, hierarchy and ``"Total"``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TOTAL", "Dimension"]

TOTAL = "Total"
"""The label of a dimension's total."""


@dataclass(frozen=True)
class Dimension:
    """A dimension's labels (leaves, subtotals, ``"Total"``) and each label's children."""

    name: str
    labels: tuple[str, ...]
    children: Mapping[str, tuple[str, ...]]
    parent: Mapping[str, str]

    def ancestors(self, label: str) -> tuple[str, ...]:
        """``label`` and every node above it up to ``"Total"``."""
        chain = [label]
        while chain[-1] != TOTAL:
            chain.append(self.parent[chain[-1]])
        return tuple(chain)
