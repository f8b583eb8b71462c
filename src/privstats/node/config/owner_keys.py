"""The owner's release rules and total budget caps: keys of ``[policy]`` and of each dataset.

``[policy]`` sets them for every dataset; a ``[datasets.<name>]`` table may set any of them
again for its dataset (left out: the ``[policy]`` value applies).

- ``max_epsilon_total``, ``max_delta_total``: the most (ε, δ) all jobs together may spend
  on a dataset, kept in the node's ledger across restarts (None: no total cap). The
  per-job caps stay ``max_epsilon``/``max_delta``.
- ``rules``: table rules added to every job's on this dataset (``"nk:1,80"``,
  ``"p:10"``, ``"freq:5"``), with secondary suppression.
- ``min_peer_rows``: the smallest input a peer may bring to a job with this dataset (a
  PSI set, a join's list); 0: no floor.
- ``min_matched``: a released cell holding 1 … ``min_matched − 1`` of this dataset's
  records is withheld; 0: no floor.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from privstats.disclosure.tables import parse_rule
from privstats.errors import ParameterError

__all__ = ["DatasetOwnerKeys", "PolicyOwnerKeys"]


def _check_rules(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    for rule in value or ():
        try:
            parse_rule(rule)
        except ParameterError as exc:
            raise ValueError(str(exc)) from exc
    return value


class PolicyOwnerKeys(BaseModel):
    """The ``[policy]`` keys of the owner's rules and total caps (see the module doc)."""

    max_epsilon_total: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False)
    max_delta_total: float | None = Field(None, ge=0, lt=1, strict=True)
    rules: tuple[str, ...] = ()
    min_peer_rows: int = Field(0, ge=0, strict=True)
    min_matched: int = Field(0, ge=0, strict=True)

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_rules(value) or ()


class DatasetOwnerKeys(BaseModel):
    """The same keys for one dataset; None: the ``[policy]`` value applies."""

    max_epsilon_total: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False)
    max_delta_total: float | None = Field(None, ge=0, lt=1, strict=True)
    rules: tuple[str, ...] | None = None
    min_peer_rows: int | None = Field(None, ge=0, strict=True)
    min_matched: int | None = Field(None, ge=0, strict=True)

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _check_rules(value)
