"""Disclosure control of tables with margins: primary rules, secondary suppression, audit.

What τ-Argus and R's sdcTable do for statistical offices, as a pure module: build a table
with every margin from microdata (:func:`tabulate`), find the cells the primary rules make
sensitive (``freq:3``, ``nk:1,80``, ``p:10``), choose secondary suppressions by MILP so
that no primary cell can be recovered from the published cells and the additivity
equations (:func:`protect`), and audit the result exactly by LP
(:meth:`ProtectedTable.audit`). The published table reveals the released cells, and by the
audit, an interval for each withheld one; nothing narrower than its protection levels.

``_table``: cells, margins, additivity · ``_rules``: primary rules and protection levels ·
``_audit``: the attacker's LP · ``_protect``: primary and secondary suppression.
"""

from privstats.disclosure.tables._audit import Interval, attacker_intervals
from privstats.disclosure.tables._protect import (
    ProtectedTable,
    primary_suppression,
    protect,
    secondary_suppression,
)
from privstats.disclosure.tables._rules import (
    DominanceRule,
    FrequencyRule,
    PPercentRule,
    Rule,
    Verdict,
    parse_rule,
)
from privstats.disclosure.tables._table import TOTAL, Cell, Dimension, Table, tabulate

__all__ = [
    "TOTAL",
    "Cell",
    "Dimension",
    "DominanceRule",
    "FrequencyRule",
    "Interval",
    "PPercentRule",
    "ProtectedTable",
    "Rule",
    "Table",
    "Verdict",
    "attacker_intervals",
    "parse_rule",
    "primary_suppression",
    "protect",
    "secondary_suppression",
    "tabulate",
]
