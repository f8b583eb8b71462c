"""Disclosure control of outputs before they leave a node, and privacy accounting.

``budget``: the (ε, δ) type · ``cells``: minimum-size rule · ``dp``: every privacy noise
sampler (OpenDP, the OS CSPRNG) · ``accounting``: zCDP and Rényi-DP composition ·
``report``: what a DP release spent and covers.
"""

from privstats.disclosure.budget import Budget
from privstats.disclosure.cells import withheld_cells
from privstats.disclosure.report import PrivacyReport

__all__ = ["Budget", "PrivacyReport", "withheld_cells"]
