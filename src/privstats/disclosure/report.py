"""A privacy report: what a differentially private release spent, and what that covers.

Every DP release in privstats (MST synthetic data, DP-SGD in federated training) states the
same things, in one checked record rather than a free-form dict:

- the **mechanism** that added the noise, and the **budget** spent as an (ε, δ)
  :class:`~privstats.disclosure.budget.Budget` (None when nothing was spent, ε = 0);
- the **accounting** that composed it (a sentence, e.g. "zCDP, ρ added; …") and its
  figures (``rho`` for zCDP; ``steps``, ``sample_rate``, ``noise_multiplier`` for RDP);
- the **unit of privacy** ("one record", "one respondent") and the neighbouring relation;
- what the guarantee **covers**, what lies **outside ε** (released or assumed public
  without noise) and the caveats a reader must know;
- mechanism-specific ``details`` (MST's tree, measurements, bounds …), shown as given.

:meth:`PrivacyReport.to_dict` is the JSON a result carries: the keys results have always
had, in their order, then the newer ``unit`` and ``covers``. The report only describes a
release; it computes nothing and trusts its caller's figures.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from privstats.disclosure.budget import Budget

__all__ = ["PrivacyReport"]

_NAMED = frozenset(
    {"method", "mechanism", "epsilon", "delta", "accounting", "neighbouring"}
    | {"outside_epsilon", "caveats", "unit", "covers"}
)


class PrivacyReport(BaseModel):
    """What a DP release spent and what its guarantee covers (see the module doc).

    ``to_dict()`` lays the fields out as::

        method?, mechanism, epsilon, delta, <figures>, accounting, neighbouring,
        <details>, outside_epsilon, <trailing>, caveats, unit, covers

    ``method`` only when given; ``figures``, ``details`` and ``trailing`` are merged in
    their own order (``trailing`` holds the mechanism's listings that results have always
    shown after ``outside_epsilon``, e.g. MST's tree and measurements). A key of those
    mappings may not repeat a named field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mechanism: str = Field(description="The mechanism(s) that added the noise.")
    spent: Budget | None = Field(description="(ε, δ) spent; None if nothing was (ε = 0).")
    accounting: str = Field(description="How the mechanisms' losses were composed.")
    unit: str = Field("one record", description="The unit of privacy.")
    neighbouring: str = Field(
        "add or remove one record", description="Neighbouring datasets the guarantee is for."
    )
    covers: str = Field(description="What the (ε, δ) guarantee covers.")
    outside_epsilon: tuple[str, ...] = Field(
        (), description="What the release shows that ε does not cover."
    )
    caveats: tuple[str, ...] = ()
    method: str | None = Field(None, description="The releasing method (e.g. 'mst').")
    figures: Mapping[str, float | int] = Field(
        default_factory=dict, description="The accounting's figures (rho; steps, …)."
    )
    details: Mapping[str, Any] = Field(default_factory=dict)
    trailing: Mapping[str, Any] = Field(default_factory=dict)

    @property
    def epsilon(self) -> float:
        """ε spent (0 if nothing was)."""
        return self.spent.epsilon if self.spent is not None else 0.0

    @property
    def delta(self) -> float:
        """δ spent (0 if nothing was)."""
        return self.spent.delta if self.spent is not None else 0.0

    @model_validator(mode="after")
    def _keys_are_unique(self) -> PrivacyReport:
        extra = [*self.figures, *self.details, *self.trailing]
        clashes = sorted(_NAMED.intersection(extra)) + sorted(
            {key for key in extra if extra.count(key) > 1}
        )
        if clashes:
            raise ValueError(f"report keys given twice: {', '.join(clashes)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, a fresh copy (see the class doc for the layout)."""
        out: dict[str, Any] = {} if self.method is None else {"method": self.method}
        out |= {"mechanism": self.mechanism, "epsilon": self.epsilon, "delta": self.delta}
        out |= dict(self.figures)
        out |= {"accounting": self.accounting, "neighbouring": self.neighbouring}
        out |= copy.deepcopy(dict(self.details))
        out["outside_epsilon"] = list(self.outside_epsilon)
        out |= copy.deepcopy(dict(self.trailing))
        out |= {"caveats": list(self.caveats), "unit": self.unit, "covers": self.covers}
        return out

    def __str__(self) -> str:
        spent = str(self.spent) if self.spent is not None else "ε = 0"
        return f"{self.mechanism}: {spent} per {self.unit.removeprefix('one ')} ({self.accounting})"
