"""Sequential CART synthesis, as R's synthpop does it with ``method = "cart"``.

The columns are synthesised one after another in a *visit sequence* (the schema's column
order unless ``visit_sequence`` says otherwise). The first is a bootstrap of its observed
values, missing ones included. Every later column has a classification tree (categorical)
or a regression tree (integer, continuous, date) fitted on the columns before it; each
synthetic record is dropped down that tree with its already-synthesised values and gets
the value of a real training record drawn uniformly from the records in the same leaf
(the leaf's *donors*). A node is split only when it holds at least ``3 * min_leaf``
training records, rpart's ``minsplit`` when only ``minbucket`` is given, as in synthpop.
All draws come from the :class:`~privstats.crypto.random.SeededStream` the sample was
started with.

Encoding. Predictors are numbers: categorical columns enter as their category codes
(−1 missing), which lets a tree split on ordered groups of codes only, a restriction of
rpart's free grouping of categories that synthpop uses; numeric and date columns enter as
their value, missing values filled below the observed minimum, plus a missing indicator,
so trees can split on missingness. A categorical target's missing values are donors like
any other code. A numeric target with missing values has two trees: a classification
tree whose donors say "missing or not", then a regression tree, fitted on the observed
values, for the records drawn as present. Missing shares are kept either way.

Protections, on by default and turned off only knowingly:

- ``min_leaf = 5``: every leaf of every tree holds at least this many training records,
  so a synthetic value is drawn from at least ``min_leaf`` donors (synthpop's
  ``minbucket``);
- ``smoothing = True``: a numeric donor value is replaced by a draw from a Gaussian
  kernel around it, with Silverman's bandwidth computed on the leaf's smoothable donors,
  clipped to the column's observed range and rounded for integers and dates. Left
  unsmoothed: missing values, values equal to the column's observed minimum or maximum
  (zeros of a zero-inflated column stay zeros), values holding more than 20% of the
  column's observed values (spikes), and values of a leaf whose smoothable donors have a
  single distinct value. The released values are smoothed once the whole record is
  drawn: the trees of later columns are walked with the donor values themselves, the
  values they were fitted on. Walking them with smoothed values (as synthpop does with
  its one bandwidth per column, ``smoothing = "density"``) sends records into leaves
  their values never reached in the training data; on UCI Adult that moved 1.0–1.4 points
  of ``race`` from White to the rarer groups and distorted ``education`` and
  ``native-country`` likewise, far beyond sampling noise;
- ``quasi_identifiers = ()`` with ``uniques = "drop"``: a synthetic record whose
  combination of quasi-identifier values is that of a real record unique in the training
  data is dropped, and records are drawn in further batches (at most 10) until ``n`` are
  left; ``uniques = "perturb"`` instead gives it the quasi-identifiers of a random
  synthetic record that does not match a real unique; ``"keep"`` does nothing. Without
  quasi-identifiers no record is checked.

What it does NOT protect: there is no formal guarantee (no differential privacy;
:attr:`~privstats.synth.base.Synthesizer.privacy` is None). CART copies real values from
its leaves, so rare values and rare combinations of values can reappear in the synthetic
data, and whole real records can be reproduced, most easily from small tables, small
leaves or with smoothing off; categorical values are never smoothed. The protections above
lower that risk, they do not remove it: assess the disclosure risk of a release before
publishing it. The fitted model holds real values (the donors), so it is as confidential
as the training data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from privstats.crypto.random import SeededStream
from privstats.errors import ParameterError
from privstats.synth.base import Synthesizer
from privstats.synth.schema import ColumnSpec, Schema, from_numeric, to_numeric

__all__ = ["CART"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
UniquesRule = Literal["drop", "perturb", "keep"]

SPIKE_SHARE = 0.2
"""A value holding more than this share of a column's observed values is not smoothed."""
MAX_EXTRA_BATCHES = 10
"""With ``uniques = "drop"``: further batches drawn before giving up."""
MIN_SPLIT_LEAVES = 3
"""A node is split only if it holds this many times ``min_leaf`` records (rpart's rule)."""
_UNIQUES: tuple[UniquesRule, ...] = ("drop", "perturb", "keep")


@dataclass(frozen=True)
class _Smoothing:
    """How a numeric column's donors are smoothed: its observed range and spikes."""

    low: float
    high: float
    spikes: Floats
    whole: bool  # integers and dates are rounded

    def smoothable(self, values: Floats) -> Bools:
        out: Bools = (
            ~np.isnan(values)
            & (values != self.low)
            & (values != self.high)
            & ~np.isin(values, self.spikes)
        )
        return out

    def apply(self, values: Floats, bandwidth: Floats, stream: SeededStream) -> Floats:
        """``values`` moved by Gaussian noise of ``bandwidth`` where it is positive."""
        out = values.copy()
        moved = bandwidth > 0
        count = int(moved.sum())
        if count:
            noisy = values[moved] + bandwidth[moved] * stream.normal(count)
            noisy = np.clip(noisy, self.low, self.high)
            out[moved] = np.round(noisy) if self.whole else noisy
        return out


@dataclass(frozen=True)
class _Donors:
    """The training values in each leaf of a tree (or of one leaf: the whole column)."""

    tree: Any  # a fitted sklearn tree, or None for the marginal of the first column
    values: Floats  # donor values sorted by leaf
    start: Ints  # per tree node: offset of its donors in ``values``
    size: Ints  # per tree node: number of donors (0 for inner nodes)
    bandwidth: Floats | None  # per donor: its kernel bandwidth (0: not smoothed)

    @classmethod
    def build(
        cls,
        tree: Any,
        leaves: Ints,
        values: Floats,
        smoothing: _Smoothing | None,
    ) -> _Donors:
        nodes = int(tree.tree_.node_count) if tree is not None else 1
        order = np.argsort(leaves, kind="stable")
        leaves, values = leaves[order], values[order]
        size = np.bincount(leaves, minlength=nodes).astype(np.int64)
        start = (np.cumsum(size) - size).astype(np.int64)
        bandwidth = None
        if smoothing is not None:
            smooth = smoothing.smoothable(values)
            per_leaf = _silverman(leaves[smooth], values[smooth], nodes)
            bandwidth = np.where(smooth, per_leaf[leaves], 0.0)
        return cls(tree, values, start, size, bandwidth)

    def leaves(self, features: npt.NDArray[np.float32], count: int) -> Ints:
        if self.tree is None:
            return np.zeros(count, dtype=np.int64)
        return np.asarray(self.tree.apply(features), dtype=np.int64)

    def draw(
        self, features: npt.NDArray[np.float32], count: int, stream: SeededStream
    ) -> tuple[Floats, Floats]:
        """One donor per row: its value and bandwidth (zeros without smoothing)."""
        leaves = self.leaves(features, count)
        size = self.size[leaves]
        picks = self.start[leaves] + np.minimum(
            (stream.uniform(count) * size).astype(np.int64), size - 1
        )
        bandwidth = (
            self.bandwidth[picks] if self.bandwidth is not None else np.zeros(count, np.float64)
        )
        return self.values[picks], bandwidth


def _silverman(leaves: Ints, values: Floats, nodes: int) -> Floats:
    """Per node: Silverman's bandwidth of its values (0 with fewer than 2 distinct ones)."""
    out = np.zeros(nodes, dtype=np.float64)
    if not values.size:
        return out
    order = np.lexsort((values, leaves))
    leaves, values = leaves[order], values[order]
    count = np.bincount(leaves, minlength=nodes)
    start = np.cumsum(count) - count
    mean = np.bincount(leaves, values, nodes) / np.maximum(count, 1)
    squares = np.bincount(leaves, (values - mean[leaves]) ** 2, nodes)
    sd = np.sqrt(squares / np.maximum(count - 1, 1))
    last = values.size - 1

    def quantile(p: float) -> Floats:
        position = start + p * np.maximum(count - 1, 0)
        below = np.clip(np.floor(position).astype(np.int64), 0, last)
        above = np.clip(below + 1, 0, last)
        above = np.where(above < start + count, above, below)
        fraction = position - np.floor(position)
        result: Floats = values[below] * (1 - fraction) + values[above] * fraction
        return result

    iqr = quantile(0.75) - quantile(0.25)
    changes = (values[1:] != values[:-1]) & (leaves[1:] == leaves[:-1])
    distinct = 1 + np.bincount(leaves[1:][changes], minlength=nodes)
    spread = np.where(iqr > 0, np.minimum(sd, iqr / 1.34), sd)
    usable = (count >= 2) & (distinct >= 2)
    out[usable] = 0.9 * spread[usable] * count[usable].astype(np.float64) ** -0.2
    return out


@dataclass(frozen=True)
class _Column:
    """One column's model: where its features sit and how its values are drawn."""

    spec: ColumnSpec
    offset: int  # first feature column of this column; its predictors are those before
    width: int  # feature columns it takes (value, and missing indicator when it has one)
    fill: float  # stands for a missing numeric value in the features
    smoothing: _Smoothing | None
    missing: _Donors | None  # numeric targets with missing values: missing or not
    value: _Donors | None  # None: the column was entirely missing

    @property
    def trees(self) -> tuple[Any, ...]:
        donors = (self.missing, self.value)
        return tuple(d.tree for d in donors if d is not None and d.tree is not None)

    def encode(self, values: Floats) -> npt.NDArray[np.float32]:
        """Tree features of ``values`` (codes, or value and missing indicator)."""
        out = np.empty((values.size, self.width), dtype=np.float32)
        if self.spec.kind == "categorical":
            out[:, 0] = values
        else:
            absent = np.isnan(values)
            out[:, 0] = np.where(absent, self.fill, values)
            if self.width == 2:
                out[:, 1] = absent
        return out

    def draw(
        self, features: npt.NDArray[np.float32], stream: SeededStream
    ) -> tuple[Floats, Floats]:
        """One donor value per row (NaN: missing) and its kernel bandwidth (0: none)."""
        count = len(features)
        out = np.full(count, np.nan)
        spread = np.zeros(count, dtype=np.float64)
        present = np.ones(count, dtype=bool)
        if self.missing is not None:
            flags, _ = self.missing.draw(features, count, stream)
            present = flags == 0
        if self.value is None or not present.any():
            return out, spread
        rows = features[present] if self.value.tree is not None else features[:0]
        values, bandwidth = self.value.draw(rows, int(present.sum()), stream)
        out[present] = values
        spread[present] = bandwidth
        return out, spread

    def smooth(self, values: Floats, bandwidth: Floats, stream: SeededStream) -> Floats:
        """``values`` kernel-smoothed where the donor's bandwidth is positive."""
        if self.smoothing is None:
            return values
        return self.smoothing.apply(values, bandwidth, stream)


class CART(Synthesizer):
    """Sequential CART synthesis (synthpop's ``cart``) with disclosure protections.

    ``visit_sequence``: the order columns are synthesised in (every column once; default
    the schema's order). ``min_leaf``: least training records in any tree leaf.
    ``smoothing``: kernel-smooth numeric donors. ``quasi_identifiers`` and ``uniques``:
    what to do with synthetic records that repeat a real sample-unique combination of
    quasi-identifiers (``drop``, ``perturb`` or ``keep``). ``max_depth``: cap on tree
    depth (None: grown until ``min_leaf`` stops them). See the module documentation.
    """

    method = "cart"

    def __init__(
        self,
        *,
        visit_sequence: Sequence[str] | None = None,
        min_leaf: int = 5,
        smoothing: bool = True,
        quasi_identifiers: Sequence[str] = (),
        uniques: UniquesRule = "drop",
        max_depth: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(min_leaf, bool) or not isinstance(min_leaf, int) or min_leaf < 1:
            raise ParameterError(
                f"min_leaf must be a positive integer, got {min_leaf!r}", parameter="min_leaf"
            )
        if max_depth is not None and (
            isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1
        ):
            raise ParameterError(
                f"max_depth must be None or a positive integer, got {max_depth!r}",
                parameter="max_depth",
            )
        if not isinstance(smoothing, bool):
            raise ParameterError(
                f"smoothing must be True or False, got {smoothing!r}", parameter="smoothing"
            )
        if uniques not in _UNIQUES:
            raise ParameterError(
                f"uniques must be one of {', '.join(_UNIQUES)}, got {uniques!r}",
                parameter="uniques",
            )
        named = (("visit_sequence", visit_sequence), ("quasi_identifiers", quasi_identifiers))
        for name, names in named:
            if isinstance(names, str):
                raise ParameterError(f"{name} must be a list of column names", parameter=name)
            if names is not None and len(set(names)) != len(names):
                raise ParameterError(f"{name} names a column twice", parameter=name)
        self.visit_sequence = tuple(visit_sequence) if visit_sequence is not None else None
        self.min_leaf = min_leaf
        self.smoothing = smoothing
        self.quasi_identifiers = tuple(quasi_identifiers)
        self.uniques: UniquesRule = uniques
        self.max_depth = max_depth
        self._columns: list[_Column] = []
        self._features = 0
        self._unique_qi: dict[str, Floats] = {}

    @property
    def trees(self) -> dict[str, tuple[Any, ...]]:
        """The fitted sklearn trees of each column, in visit order (none for the first)."""
        self.schema  # noqa: B018 - raises if not fitted
        return {column.spec.name: column.trees for column in self._columns}

    @property
    def order(self) -> tuple[str, ...]:
        """The visit sequence used by the last fit."""
        return tuple(column.spec.name for column in self._columns)

    def _fit(self, table: pd.DataFrame, schema: Schema) -> None:
        order = self._visit_order(schema)
        for name in self.quasi_identifiers:
            schema[name]  # raises, naming the columns, if it is not one
        numeric = {name: to_numeric(table[name], schema[name]) for name in schema.names}
        rows = len(table)
        columns: list[_Column] = []
        blocks: list[npt.NDArray[np.float32]] = []
        offset = 0
        for position, name in enumerate(order):
            spec = schema[name]
            values = numeric[name].astype(np.float64)
            features = np.hstack(blocks) if blocks else np.empty((rows, 0), np.float32)
            column = self._fit_column(spec, values, features, offset, first=position == 0)
            columns.append(column)
            blocks.append(column.encode(values))
            offset += column.width
        self._columns = columns
        self._features = offset
        self._unique_qi = self._sample_uniques(numeric)

    def _visit_order(self, schema: Schema) -> tuple[str, ...]:
        if self.visit_sequence is None:
            return schema.names
        for name in self.visit_sequence:
            schema[name]  # raises, naming the columns, if it is not one
        left = [name for name in schema.names if name not in self.visit_sequence]
        if left:
            raise ParameterError(
                f"visit_sequence must list every column; it leaves out {', '.join(left)}",
                parameter="visit_sequence",
            )
        return self.visit_sequence

    def _tree(self, categorical: bool) -> Any:
        kind = DecisionTreeClassifier if categorical else DecisionTreeRegressor
        return kind(
            min_samples_leaf=self.min_leaf,
            min_samples_split=MIN_SPLIT_LEAVES * self.min_leaf,
            max_depth=self.max_depth,
            random_state=0,
        )

    def _fit_column(
        self,
        spec: ColumnSpec,
        values: Floats,
        features: npt.NDArray[np.float32],
        offset: int,
        *,
        first: bool,
    ) -> _Column:
        absent = np.isnan(values)
        observed = values[~absent]
        numeric = spec.kind != "categorical"
        width = 2 if numeric and absent.any() else 1
        fill = float(observed.min()) - 1.0 if observed.size else 0.0
        smoothing = None
        if numeric and self.smoothing and observed.size:
            distinct, counts = np.unique(observed, return_counts=True)
            smoothing = _Smoothing(
                low=float(observed.min()),
                high=float(observed.max()),
                spikes=distinct[counts > SPIKE_SHARE * observed.size],
                whole=spec.kind in ("integer", "date"),
            )
        if first:
            everything = np.zeros(values.size, dtype=np.int64)
            donors = _Donors.build(None, everything, values, smoothing)
            return _Column(spec, offset, width, fill, smoothing, None, donors)
        if not numeric:
            tree = self._tree(categorical=True).fit(features, values.astype(np.int64))
            donors = _Donors.build(tree, _apply(tree, features), values, None)
            return _Column(spec, offset, width, fill, None, None, donors)
        missing = None
        if absent.any() and not absent.all():
            tree = self._tree(categorical=True).fit(features, absent)
            flags = absent.astype(np.float64)
            missing = _Donors.build(tree, _apply(tree, features), flags, None)
        value = None
        if observed.size:
            rows = features[~absent]
            tree = self._tree(categorical=False).fit(rows, observed)
            value = _Donors.build(tree, _apply(tree, rows), observed, smoothing)
        return _Column(spec, offset, width, fill, smoothing, missing, value)

    def _sample_uniques(self, numeric: dict[str, npt.NDArray[Any]]) -> dict[str, Floats]:
        """The quasi-identifier values of the records unique on them in the training data."""
        if not self.quasi_identifiers:
            return {}
        frame = pd.DataFrame(
            {name: numeric[name].astype(np.float64) for name in self.quasi_identifiers}
        )
        unique = ~frame.duplicated(keep=False).to_numpy()
        return {name: frame[name].to_numpy()[unique] for name in self.quasi_identifiers}

    def _sample(self, n: int, stream: SeededStream) -> pd.DataFrame:
        drawn = self._draw(n, stream)
        if self._unique_qi and self.uniques != "keep":
            risky = self._matches_unique(drawn)
            if self.uniques == "perturb":
                drawn = self._perturb(drawn, risky, stream)
            else:
                drawn = self._drop(drawn, risky, n, stream)
        schema = self.schema
        return pd.DataFrame(
            {name: from_numeric(drawn[name], schema[name]) for name in schema.names}
        )

    def _draw(self, count: int, stream: SeededStream) -> dict[str, Floats]:
        """``count`` records: donor values down the visit sequence, then smoothed."""
        features = np.zeros((count, self._features), dtype=np.float32)
        donors: list[tuple[Floats, Floats]] = []
        for column in self._columns:
            values, bandwidth = column.draw(features[:, : column.offset], stream)
            donors.append((values, bandwidth))
            features[:, column.offset : column.offset + column.width] = column.encode(values)
        return {
            column.spec.name: column.smooth(values, bandwidth, stream)
            for column, (values, bandwidth) in zip(self._columns, donors, strict=True)
        }

    def _matches_unique(self, drawn: dict[str, Floats]) -> Bools:
        """Which drawn records carry a real sample-unique quasi-identifier combination."""
        reference = self._unique_qi
        known = len(next(iter(reference.values())))
        count = len(next(iter(drawn.values())))
        if not known or not count:
            return np.zeros(count, dtype=bool)
        codes = np.column_stack(
            [
                pd.factorize(np.concatenate([reference[name], drawn[name]]))[0]
                for name in self.quasi_identifiers
            ]
        )
        _, key = np.unique(codes, axis=0, return_inverse=True)
        key = key.reshape(-1)
        return np.asarray(np.isin(key[known:], key[:known]), dtype=bool)

    def _perturb(
        self, drawn: dict[str, Floats], risky: Bools, stream: SeededStream
    ) -> dict[str, Floats]:
        if not risky.any():
            return drawn
        safe = np.flatnonzero(~risky)
        if not safe.size:
            raise ParameterError(
                "every synthetic record repeats a real sample-unique quasi-identifier "
                "combination, so none can lend its quasi-identifiers; use uniques='drop', "
                "fewer quasi_identifiers or a larger sample",
                parameter="uniques",
            )
        lenders = safe[stream.integers(safe.size, int(risky.sum()))]
        out = {name: values.copy() for name, values in drawn.items()}
        for name in self.quasi_identifiers:
            out[name][risky] = drawn[name][lenders]
        return out

    def _drop(
        self, drawn: dict[str, Floats], risky: Bools, n: int, stream: SeededStream
    ) -> dict[str, Floats]:
        parts = [{name: values[~risky] for name, values in drawn.items()}]
        kept, tried = int((~risky).sum()), n
        for _ in range(MAX_EXTRA_BATCHES):
            if kept >= n:
                break
            rate = max(kept / tried, 0.05)
            size = math.ceil((n - kept) / rate * 1.1) + 16
            batch = self._draw(size, stream)
            fresh = ~self._matches_unique(batch)
            parts.append({name: values[fresh] for name, values in batch.items()})
            kept += int(fresh.sum())
            tried += size
        if kept < n:
            raise ParameterError(
                f"after {MAX_EXTRA_BATCHES} extra batches only {kept} of {n} synthetic records "
                "avoid the real sample-unique quasi-identifier combinations; use "
                "uniques='perturb', fewer quasi_identifiers or a larger min_leaf",
                parameter="uniques",
            )
        return {name: np.concatenate([part[name] for part in parts])[:n] for name in drawn}


def _apply(tree: Any, features: npt.NDArray[np.float32]) -> Ints:
    return np.asarray(tree.apply(features), dtype=np.int64)
