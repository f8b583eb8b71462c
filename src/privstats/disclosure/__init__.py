"""Disclosure control of outputs before they leave a node."""

from privstats.disclosure.cells import withheld_cells

__all__ = ["withheld_cells"]
