"""Disclosure control of outputs before they leave a node, and privacy accounting.

``budget``: the (ε, δ) type · ``cells``: minimum-size rule · ``dp``: every privacy noise
sampler (OpenDP, the OS CSPRNG) · ``accounting``: zCDP and Rényi-DP composition ·
``report``: what a DP release spent and covers · ``tables``: tables with margins — primary
rules, secondary suppression by MILP, the interval audit.
"""

from privstats.disclosure.budget import Budget
from privstats.disclosure.cells import withheld_cells
from privstats.disclosure.report import PrivacyReport
from privstats.disclosure.tables import (
    ProtectedTable,
    Table,
    primary_suppression,
    protect,
    secondary_suppression,
    tabulate,
)

__all__ = [
    "Budget",
    "PrivacyReport",
    "ProtectedTable",
    "Table",
    "primary_suppression",
    "protect",
    "secondary_suppression",
    "tabulate",
    "withheld_cells",
]
