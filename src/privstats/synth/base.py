"""The one interface every synthesizer has: ``fit(table, schema)``, then ``sample(n, seed)``.

``fit`` learns from the confidential table (conformed to the schema first); ``sample``
draws ``n`` synthetic records reproducibly from ``seed`` with a
:class:`~privstats.crypto.random.SeededStream` — the seed replays the release, so the
data owner keeps it with the confidential data. A synthesizer that spends a privacy
budget says so in :attr:`Synthesizer.privacy`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.errors import ParameterError
from privstats.synth.schema import Schema

__all__ = ["Synthesizer"]


class Synthesizer(ABC):
    """Fit on a table, sample synthetic tables with the same schema."""

    method: ClassVar[str]
    """The name users pick it by (``cart``, ``copula``, ``mst``)."""

    def __init__(self) -> None:
        self._schema: Schema | None = None
        self._fitted_rows = 0

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            raise ParameterError(f"the {self.method} synthesizer is not fitted; call fit first")
        return self._schema

    @property
    def privacy(self) -> dict[str, Any] | None:
        """The differential-privacy budget spent by ``fit`` (None: no formal guarantee)."""
        return None

    @property
    def default_rows(self) -> int:
        """How many records a release draws when nobody says: as many as were fitted.

        A differentially private synthesizer overrides this with a noisy count, since the
        real number of records is not covered by its budget.
        """
        self.schema  # noqa: B018 - raises when not fitted
        return self._fitted_rows

    def fit(self, table: pd.DataFrame, schema: Schema | None = None) -> Self:
        """Learn from ``table`` (its schema inferred unless given); returns self."""
        if not len(table):
            raise ParameterError("cannot fit a synthesizer on a table without records")
        schema = schema or Schema.infer(table)
        self._fit(schema.conform(table, "the table to fit"), schema)
        self._schema = schema
        self._fitted_rows = len(table)
        return self

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` synthetic records with the fitted schema; equal seeds give equal tables."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(f"n must be a positive number of rows, got {n!r}", parameter="n")
        schema = self.schema
        drawn = self._sample(n, SeededStream(seed, f"synth.{self.method}"))
        return schema.conform(drawn, f"the {self.method} synthesizer's sample")

    @abstractmethod
    def _fit(self, table: pd.DataFrame, schema: Schema) -> None:
        """Learn from ``table``, already conformed to ``schema``."""

    @abstractmethod
    def _sample(self, n: int, stream: SeededStream) -> pd.DataFrame:
        """Draw ``n`` records (columns of the schema; conformed by :meth:`sample`)."""
