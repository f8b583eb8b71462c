"""How much a synthetic table gives away about the real records it was fitted on.

Every function takes the real (confidential, training) table, the synthetic table and
their :class:`~privstats.synth.schema.Schema`; tables are conformed to the schema first
(a missing column or an unknown category is a :class:`~privstats.errors.DatasetError`).
:func:`risk_report` gathers the figures a release report shows:

- **exact copies** (:func:`exact_copies`): the share of synthetic records identical to
  some real record in every column (a missing value equals a missing value). 0 is the
  goal for continuous data; with few, coarse columns identical records also arise by
  chance, so read it against the share of real records that repeat among themselves.
- **DCR, closer to training** (:func:`dcr_closer_to_train`): with a real *holdout* the
  synthesizer never saw, the share of synthetic records whose distance to the closest
  training record is smaller than to the closest holdout record (ties count half).
  Training and holdout are first subsampled to equal size, so **0.5 is ideal** (the
  synthetic records are no closer to the records used than to unseen ones from the
  same population); values towards 1 say records were memorised.
  The distance is Gower-like (:func:`distance_to_closest_record`): per column,
  ``|x − y|`` for numeric and date values scaled to [0, 1] by the real table's range
  (values outside it clipped), 0/1 for equal/different categories, 1 if exactly one of
  the two values is missing and 0 if both are; averaged over the columns.
- **RepU, replicated uniques** (:func:`replicated_uniques`; Raab et al., synthpop's
  ``replicated.uniques``): the records unique in the real table on the
  quasi-identifiers whose combination is also unique in the synthetic table. The report
  gives them as a **percentage of the real records (0–100)**, as synthpop's
  ``per.replications``; lower is safer.
- **TCAP**, targeted correct attribution probability (:func:`tcap`; Taub et al. 2018, as
  in synthpop's ``disclosure``): an intruder who knows a real person's
  quasi-identifiers looks them up in the synthetic table; where every synthetic record
  with those values has the same sensitive value (a within-equivalence-class
  attribution probability, WEAP, of 1) they attribute it. TCAP is the share of those
  attributions that are correct, over the real records whose quasi-identifiers occur in
  the synthetic table with a single sensitive value; None if there are no such records.
  Compare it with the baseline of guessing the most common value.

Matching on quasi-identifiers and the sensitive column is exact (a missing value is a
value of its own); continuous quasi-identifiers rarely match and should be coarsened
first. Random subsampling uses a :class:`~privstats.crypto.random.SeededStream`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.errors import DatasetError, ParameterError
from privstats.synth.schema import Schema, to_numeric

__all__ = [
    "RISK_KEYS",
    "dcr_closer_to_train",
    "distance_to_closest_record",
    "exact_copies",
    "replicated_uniques",
    "risk_report",
    "tcap",
]

RISK_KEYS: tuple[str, ...] = ("exact_copies", "dcr_closer_to_train", "repu", "tcap")
"""The keys of :func:`risk_report`, in order."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Encoded = dict[str, npt.NDArray[Any]]

_QUERY_BLOCK = 256
_REFERENCE_BLOCK = 4096
_TIE = 1e-9


def _encoded(schema: Schema, table: pd.DataFrame, what: str) -> Encoded:
    """The table conformed to the schema, as numeric columns (codes −1 / NaN missing)."""
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(
            f"the {what} must be a pandas DataFrame, got {type(table).__name__}",
            parameter=what.split()[0],
        )
    if not len(table):
        raise DatasetError(f"the {what} has no records")
    conformed = schema.conform(table, f"the {what}")
    return {column.name: to_numeric(conformed[column.name], column, what) for column in schema}


def _names(schema: Schema, names: Sequence[str] | str, what: str) -> tuple[str, ...]:
    chosen = (names,) if isinstance(names, str) else tuple(names)
    for name in chosen:
        schema[name]  # an unknown column raises, listing the columns
    if len(set(chosen)) != len(chosen):
        raise ParameterError(f"the {what} name a column twice", parameter=what)
    return chosen


def _row_keys(tables: Sequence[Encoded], names: Sequence[str]) -> tuple[list[IntArray], int]:
    """Per table, one integer per record, equal exactly when the records agree on ``names``.

    Joint factorisation (hash tables) column by column, a missing value matching a missing
    value; also returns the number of distinct keys.
    """
    sizes = [len(next(iter(table.values()))) for table in tables]
    key = np.zeros(sum(sizes), np.int64)
    count = 1
    for name in names:
        values = np.concatenate([table[name] for table in tables])
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        combined = key * len(uniques) + np.asarray(codes, dtype=np.int64)
        factorised, distinct = pd.factorize(combined)
        key = np.asarray(factorised, dtype=np.int64)
        count = len(distinct)
    bounds = np.cumsum([0, *sizes])
    return [key[a:b] for a, b in pairwise(bounds)], count


# -- exact copies ------------------------------------------------------------------------


def exact_copies(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> float:
    """Share of synthetic records identical to some real record in every column (0–1).

    Missing equals missing; numbers must be equal exactly (after conforming to the
    schema, so integers and dates compare as such). 0 is the goal (module doc).
    """
    encoded_real = _encoded(schema, real, "real table")
    encoded_syn = _encoded(schema, synthetic, "synthetic table")
    (keys_real, keys_syn), _ = _row_keys([encoded_real, encoded_syn], schema.names)
    return float(np.isin(keys_syn, keys_real).mean())


# -- distance to closest record ----------------------------------------------------------


class _Gower:
    """Per-column encodings whose summed absolute differences are the Gower distances.

    A numeric column scaled to [0, 1] is one coordinate ``x``; if any table misses values
    in it, two coordinates: ``(x/2, −x/2)`` for a value and ``(1/2, 1/2)`` for a missing
    one, whose L1 distances are ``|x − y|``, 1 (one missing) and 0 (both missing).
    Categorical columns compare codes (−1 missing) for equality.
    """

    def __init__(self, schema: Schema, scale_from: Encoded, tables: Sequence[Encoded]) -> None:
        self.schema = schema
        self.columns = len(schema.columns)
        self._ranges: dict[str, tuple[float, float]] = {}
        self._split: set[str] = set()
        for column in schema:
            if column.kind == "categorical":
                continue
            present = scale_from[column.name][~np.isnan(scale_from[column.name])]
            low = float(present.min()) if present.size else 0.0
            high = float(present.max()) if present.size else 0.0
            self._ranges[column.name] = (low, high)
            if any(np.isnan(table[column.name]).any() for table in tables):
                self._split.add(column.name)

    def encode(self, table: Encoded) -> tuple[FloatArray, IntArray]:
        """(numeric coordinates, categorical codes), each column-major (columns × rows)."""
        numeric: list[FloatArray] = []
        categorical: list[IntArray] = []
        for column in self.schema:
            values = table[column.name]
            if column.kind == "categorical":
                categorical.append(values.astype(np.int64))
                continue
            low, high = self._ranges[column.name]
            width = high - low
            with np.errstate(invalid="ignore"):
                scaled = np.clip((values - low) / width, 0.0, 1.0) if width > 0 else values * 0.0
            if column.name in self._split:
                missing = np.isnan(scaled)
                numeric.append(np.where(missing, 0.5, scaled / 2))
                numeric.append(np.where(missing, 0.5, -scaled / 2))
            else:
                numeric.append(scaled)
        rows = len(next(iter(table.values())))
        return (
            np.ascontiguousarray(np.array(numeric).reshape(len(numeric), rows)),
            np.ascontiguousarray(np.array(categorical, dtype=np.int64).reshape(-1, rows)),
        )


def _nearest(
    query: tuple[FloatArray, IntArray], reference: tuple[FloatArray, IntArray]
) -> FloatArray:
    """Per query record, the smallest summed per-column distance to a reference record.

    Computed in tiles of 256 × 4096 records (about 8 MB each) on a few threads, so the
    memory stays bounded whatever the table sizes.
    """
    query_num, query_cat = query
    ref_num, ref_cat = reference
    n_query, n_ref = query_num.shape[1], ref_num.shape[1]

    def block(start: int) -> FloatArray:
        stop = min(start + _QUERY_BLOCK, n_query)
        best = np.full(stop - start, np.inf)
        for begin in range(0, n_ref, _REFERENCE_BLOCK):
            end = min(begin + _REFERENCE_BLOCK, n_ref)
            total = np.zeros((stop - start, end - begin))
            scratch = np.empty_like(total)
            unequal = np.empty(total.shape, dtype=bool)
            for q, r in zip(query_num, ref_num, strict=True):
                np.subtract(q[start:stop, None], r[None, begin:end], out=scratch)
                np.abs(scratch, out=scratch)
                total += scratch
            for q_codes, r_codes in zip(query_cat, ref_cat, strict=True):
                np.not_equal(q_codes[start:stop, None], r_codes[None, begin:end], out=unequal)
                total += unequal
            np.minimum(best, total.min(axis=1), out=best)
        return best

    workers = max(1, min(4, os.cpu_count() or 1))
    starts = range(0, n_query, _QUERY_BLOCK)
    if workers == 1 or len(starts) == 1:
        parts = [block(start) for start in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(block, starts))
    return np.concatenate(parts) if parts else np.empty(0)


def distance_to_closest_record(
    query: pd.DataFrame,
    reference: pd.DataFrame,
    schema: Schema,
    *,
    scale_from: pd.DataFrame | None = None,
) -> FloatArray:
    """Per record of ``query``, the Gower-like distance (0–1) to its closest ``reference``.

    Per column: ``|x − y|`` for numeric and date values scaled to [0, 1] by the range of
    ``scale_from`` (default: ``reference``; values outside it clipped), 0/1 for
    equal/different categories, 1 if exactly one value is missing, 0 if both are; the
    mean over the columns. Computed exactly, in bounded-memory tiles.
    """
    encoded_query = _encoded(schema, query, "query table")
    encoded_ref = _encoded(schema, reference, "reference table")
    encoded_scale = (
        encoded_ref if scale_from is None else _encoded(schema, scale_from, "scaling table")
    )
    gower = _Gower(schema, encoded_scale, [encoded_query, encoded_ref])
    if not gower.columns:
        return np.zeros(len(query))
    sums = _nearest(gower.encode(encoded_query), gower.encode(encoded_ref))
    out: FloatArray = sums / gower.columns
    return out


def _subsample(table: Encoded, size: int, stream: SeededStream) -> Encoded:
    rows = len(next(iter(table.values())))
    if rows == size:
        return table
    chosen = np.sort(stream.permutation(rows)[:size])
    return {name: values[chosen] for name, values in table.items()}


def dcr_closer_to_train(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    holdout: pd.DataFrame,
    *,
    seed: int = 0,
) -> float:
    """Share of synthetic records closer to the training than to the holdout data (0–1).

    ``real`` is the training table, ``holdout`` real records the synthesizer never saw;
    the larger of the two is subsampled (without replacement, from ``seed``) to the size
    of the smaller. For each synthetic record the distance to the closest training and
    to the closest holdout record are compared (Gower-like, scaled by the training
    table's ranges, see :func:`distance_to_closest_record`); closer to training counts
    1, a tie ½. **0.5 is ideal**; towards 1 the synthesizer memorised its training data.
    """
    if holdout is None:
        raise ParameterError("the DCR test needs a holdout table", parameter="holdout")
    encoded_real = _encoded(schema, real, "real table")
    encoded_syn = _encoded(schema, synthetic, "synthetic table")
    encoded_hold = _encoded(schema, holdout, "holdout table")
    if not schema.columns:
        return 0.5
    size = min(len(real), len(holdout))
    stream = SeededStream(seed, "synth.risk.dcr")
    train = _subsample(encoded_real, size, stream)
    held = _subsample(encoded_hold, size, stream)
    gower = _Gower(schema, encoded_real, [encoded_syn, train, held])
    query = gower.encode(encoded_syn)
    to_train = _nearest(query, gower.encode(train))
    to_holdout = _nearest(query, gower.encode(held))
    difference = to_holdout - to_train
    closer = np.where(np.abs(difference) <= _TIE, 0.5, (difference > 0).astype(np.float64))
    return float(closer.mean())


# -- quasi-identifier based measures -----------------------------------------------------


def replicated_uniques(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    quasi_identifiers: Sequence[str],
) -> tuple[int, float]:
    """(count, percentage of the real records) of replicated uniques (synthpop's RepU).

    A replicated unique is a combination of the quasi-identifiers' values held by exactly
    one real record and exactly one synthetic record (synthpop's ``rep.uniques``); the
    percentage divides the count by the number of real records (``per.replications``).
    """
    names = _names(schema, quasi_identifiers, "quasi_identifiers")
    if not names:
        raise ParameterError(
            "replicated uniques need at least one quasi-identifier",
            parameter="quasi_identifiers",
        )
    encoded_real = _encoded(schema, real, "real table")
    encoded_syn = _encoded(schema, synthetic, "synthetic table")
    (keys_real, keys_syn), count = _row_keys([encoded_real, encoded_syn], names)
    unique_real = np.bincount(keys_real, minlength=count) == 1
    unique_syn = np.bincount(keys_syn, minlength=count) == 1
    replicated = int(np.sum(unique_real & unique_syn))
    return replicated, 100.0 * replicated / len(real)


def tcap(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    quasi_identifiers: Sequence[str],
    sensitive: str,
) -> float | None:
    """Targeted correct attribution probability of ``sensitive`` given the quasi-identifiers.

    Over the real records whose quasi-identifier values occur in the synthetic table with
    a single value of ``sensitive`` (WEAP = 1), the share whose own value is that one
    (0–1; lower is safer). None if no real record is in such a class.
    """
    names = _names(schema, quasi_identifiers, "quasi_identifiers")
    schema[sensitive]
    if not names:
        raise ParameterError(
            "TCAP needs at least one quasi-identifier", parameter="quasi_identifiers"
        )
    if sensitive in names:
        raise ParameterError(
            f"the sensitive column {sensitive!r} is also a quasi-identifier",
            parameter="sensitive",
        )
    encoded_real = _encoded(schema, real, "real table")
    encoded_syn = _encoded(schema, synthetic, "synthetic table")
    (keys_real, keys_syn), count = _row_keys([encoded_real, encoded_syn], names)
    (target_real, target_syn), _ = _row_keys([encoded_real, encoded_syn], [sensitive])
    pairs = np.unique(np.column_stack([keys_syn, target_syn]), axis=0)
    values_per_key = np.bincount(pairs[:, 0], minlength=count)
    value_of_key = np.full(count, -1, np.int64)
    value_of_key[pairs[:, 0]] = pairs[:, 1]
    eligible = values_per_key[keys_real] == 1
    if not eligible.any():
        return None
    correct = target_real[eligible] == value_of_key[keys_real[eligible]]
    return float(correct.mean())


# -- the report --------------------------------------------------------------------------


def risk_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    holdout: pd.DataFrame | None = None,
    quasi_identifiers: Sequence[str] = (),
    sensitive: str | None = None,
    seed: int = 0,
) -> dict[str, float | None]:
    """All disclosure-risk figures of a synthetic table, under the keys :data:`RISK_KEYS`.

    ``exact_copies`` (share 0–1, :func:`exact_copies`); ``dcr_closer_to_train`` (share,
    0.5 ideal, :func:`dcr_closer_to_train`; None without ``holdout``); ``repu``
    (replicated uniques as a **percentage** of the real records, :func:`replicated_uniques`;
    None without ``quasi_identifiers``); ``tcap`` (:func:`tcap`; None without both
    ``quasi_identifiers`` and ``sensitive``, or when no real record falls in a synthetic
    class with a single sensitive value). Readings are in the module documentation.
    """
    names = _names(schema, quasi_identifiers, "quasi_identifiers")
    if sensitive is not None:
        schema[sensitive]
        if sensitive in names:
            raise ParameterError(
                f"the sensitive column {sensitive!r} is also a quasi-identifier",
                parameter="sensitive",
            )
    report: dict[str, float | None] = {
        "exact_copies": exact_copies(real, synthetic, schema),
        "dcr_closer_to_train": None,
        "repu": None,
        "tcap": None,
    }
    if holdout is not None:
        report["dcr_closer_to_train"] = dcr_closer_to_train(
            real, synthetic, schema, holdout, seed=seed
        )
    if names:
        report["repu"] = replicated_uniques(real, synthetic, schema, names)[1]
        if sensitive is not None:
            report["tcap"] = tcap(real, synthetic, schema, names, sensitive)
    return report
