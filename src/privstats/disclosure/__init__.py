"""Disclosure control of outputs before they leave a node, and privacy accounting."""

from privstats.disclosure.budget import Budget
from privstats.disclosure.cells import withheld_cells

__all__ = ["Budget", "withheld_cells"]
