"""Real and synthetic tables as numeric columns, the common input of utility and risk figures.

:func:`encoded_tables` checks each table is a non-empty DataFrame, conforms it to the
schema (a missing column or unknown category is a DatasetError naming the table) and
encodes every column numerically: category codes with −1 for missing, numbers and days
with NaN for missing. :func:`estimator_seed` turns a seeded stream into a scikit-learn
``random_state``, so equal seeds give equal figures.
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.errors import DatasetError, ParameterError
from privstats.synth.schema import Schema, to_numeric

__all__ = ["encoded_tables", "estimator_seed"]


def encoded_tables(
    schema: Schema, *tables: tuple[pd.DataFrame, str]
) -> list[dict[str, npt.NDArray[Any]]]:
    """Each table conformed to the schema, as numeric columns (codes −1 / NaN missing)."""
    out = []
    for table, what in tables:
        if not isinstance(table, pd.DataFrame):
            raise ParameterError(
                f"the {what} must be a pandas DataFrame, got {type(table).__name__}",
                parameter=what.replace(" ", "_"),
            )
        if not len(table):
            raise DatasetError(f"the {what} has no records")
        conformed = schema.conform(table, f"the {what}")
        out.append(
            {column.name: to_numeric(conformed[column.name], column, what) for column in schema}
        )
    return out


def estimator_seed(stream: SeededStream) -> int:
    """A 31-bit seed for a scikit-learn estimator, drawn from the stream."""
    return int.from_bytes(stream.bytes(4), "little") & 0x7FFFFFFF
