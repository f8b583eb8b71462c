"""Disclosure control of tables with margins: primary rules, secondary suppression, audit.

What τ-Argus and R's sdcTable do for statistical offices, as a pure module: build a table
with every margin from microdata (:func:`tabulate`), find the cells the primary rules make
sensitive (``freq:3``, ``nk:1,80``, ``p:10``, ``zero``, ``full``), choose secondary
suppressions by MILP so that no primary cell can be recovered from the published cells and
the additivity equations (:func:`protect`), and audit the result exactly by LP
(:meth:`ProtectedTable.audit`). The published table reveals the released cells, and by the
audit, an interval for each withheld one; nothing narrower than its protection levels.

Linked tables (:func:`tabulate_linked`: region × activity and region × size of the same
records) are one table whose shared margins are one cell, so they are protected jointly.

``_shape``: a dimension and its hierarchy · ``_table``: cells, margins, additivity, linked
tables · ``_group``: full cells and the zeros that reveal them · ``_rules``: primary rules
and protection levels · ``_audit``: the attacker's LP · ``_protect``: primary and secondary
suppression. Cell-key perturbation, the alternative that withholds nothing, is
:mod:`privstats.disclosure.cell_key`.
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
    FullCellRule,
    PPercentRule,
    Rule,
    Verdict,
    ZeroRule,
    parse_rule,
)
from privstats.disclosure.tables._table import (
    TOTAL,
    Cell,
    Dimension,
    Table,
    tabulate,
    tabulate_linked,
)

__all__ = [
    "TOTAL",
    "Cell",
    "Dimension",
    "DominanceRule",
    "FrequencyRule",
    "FullCellRule",
    "Interval",
    "PPercentRule",
    "ProtectedTable",
    "Rule",
    "Table",
    "Verdict",
    "ZeroRule",
    "attacker_intervals",
    "parse_rule",
    "primary_suppression",
    "protect",
    "secondary_suppression",
    "tabulate",
    "tabulate_linked",
]
