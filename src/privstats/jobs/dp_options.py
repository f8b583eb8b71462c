"""The DP options every releasing kind shares: ``--dp-epsilon`` (alias ``--epsilon``),
``--dp-delta``, ``--dp-rho``, ``--dp-unit``, ``--dp-max-records``, ``--dp-bounds``,
``--dp-bins``, ``--dp-collusion``.

A kind nests :class:`~privstats.disclosure.dp_release.DpTerms` as an optional spec field
(``dp: DpTerms | None = None``) and adds ``**dp_cli_fields()`` to its ``cli`` mapping; the
command line then builds the nested terms from these options, and no option given means
no DP (``dp`` stays None). ``dp_budget`` is the kind's ``budget``.
"""

from __future__ import annotations

from typing import Any

from privstats.disclosure.budget import Budget
from privstats.disclosure.dp_release import DpTerms, parse_bounds
from privstats.jobs.kind import CliField

__all__ = ["dp_budget", "dp_cli_fields"]


def dp_cli_fields(field: str = "dp") -> dict[str, CliField]:
    """The ``cli`` hints of a nested ``DpTerms`` spec field named ``field``."""
    return {
        f"{field}.epsilon": CliField(option="--dp-epsilon", aliases=("--epsilon",)),
        f"{field}.delta": CliField(option="--dp-delta"),
        f"{field}.rho": CliField(option="--dp-rho"),
        f"{field}.unit": CliField(option="--dp-unit"),
        f"{field}.max_records_per_unit": CliField(option="--dp-max-records"),
        f"{field}.bounds": CliField(option="--dp-bounds", parse=parse_bounds),
        f"{field}.bins": CliField(option="--dp-bins"),
        f"{field}.collusion": CliField(option="--dp-collusion"),
    }


def dp_budget(spec: Any, field: str = "dp") -> Budget | None:
    """The budget a spec with an optional ``DpTerms`` field spends (None without DP)."""
    terms = getattr(spec, field, None)
    return terms.budget() if isinstance(terms, DpTerms) else None
