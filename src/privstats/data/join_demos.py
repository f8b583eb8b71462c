"""Demo data for private join-and-compute, generated from a fixed seed.

Two scenarios, each with the plaintext truth that the secure computation must reproduce:

- **income**: a population register (person id, region) and a bank's customers (customer
  id, yearly income, savings) — mean income per region over the persons both know;
- **trade**: mirror statistics of two countries' customs records. Country A's exports to B
  and country B's imports from A, each record a link exporter × importer × product group
  (``link_id``, formed from the two firms' VAT numbers, which both sides record). Imports
  are valued CIF, exports FOB, so matched imports run a few per cent higher; some records
  exist on one side only (timing, thresholds, misclassified product groups).

This is simulation data, not protected data, so numpy's seeded generator is the right tool.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from privstats.data.demo import REGIONS
from privstats.data.readers import write_csv
from privstats.errors import ParameterError

__all__ = ["PRODUCT_GROUPS", "JoinDemo", "make_income_demo", "make_trade_demo"]

PRODUCT_GROUPS: dict[str, tuple[float, float]] = {
    # HS section: (share of the links, median value of a link in euros)
    "01 Live animals": (0.05, 40_000),
    "02 Vegetable products": (0.08, 35_000),
    "04 Prepared foodstuffs": (0.10, 30_000),
    "06 Chemical products": (0.11, 90_000),
    "07 Plastics, rubber": (0.09, 55_000),
    "11 Textiles": (0.10, 25_000),
    "15 Base metals": (0.12, 70_000),
    "16 Machinery, electrical": (0.18, 120_000),
    "17 Vehicles": (0.07, 150_000),
    "18 Instruments": (0.05, 60_000),
    "21 Works of art": (0.005, 20_000),
}
_INCOME_MEDIAN: dict[str, int] = {
    "Capital": 41_000,
    "North": 31_000,
    "North-East": 28_000,
    "East": 33_000,
    "South": 34_000,
    "South-West": 30_000,
    "West": 36_000,
    "Islands": 26_000,
}


@dataclass(frozen=True)
class JoinDemo:
    """The generated files and, per group, the plaintext truth over the matched records."""

    left: Path
    right: Path
    key: str
    peer_key: str
    """The identifier column of the right file."""
    by: tuple[str, ...]
    left_values: tuple[str, ...]
    right_values: tuple[str, ...]
    truth: dict[str, dict[str, int]]
    """group label → {"count": …, "sum:COL": …} over the records in both files."""


def _ids(rng: np.random.Generator, count: int, width: int) -> npt.NDArray[np.str_]:
    return np.char.zfill(rng.choice(10**width, size=count, replace=False).astype(str), width)


def _truth(
    labels: npt.NDArray[np.str_], matched: npt.NDArray[np.bool_], values: dict[str, list[int]]
) -> dict[str, dict[str, int]]:
    truth: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0})
    for i in np.flatnonzero(matched):
        cell = truth[str(labels[i])]
        cell["count"] += 1
        for column, column_values in values.items():
            cell[f"sum:{column}"] = cell.get(f"sum:{column}", 0) + column_values[i]
    return dict(sorted(truth.items()))


def make_income_demo(folder: str | Path, *, persons: int = 20_000, seed: int = 2026) -> JoinDemo:
    """Write ``register.csv`` (person_id, region) and ``bank.csv`` (id, income, savings)."""
    if not 1 <= persons <= 10_000_000:
        raise ParameterError(f"persons must be between 1 and 10,000,000, got {persons}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    outsiders = persons // 20
    ids = _ids(rng, persons + outsiders, 10)
    names = list(REGIONS)
    shares = np.array([REGIONS[r][0] for r in names])
    region = np.array(names)[rng.choice(len(names), size=persons, p=shares / shares.sum())]
    customer = rng.random(persons) < 0.7
    medians = np.array([_INCOME_MEDIAN[r] for r in region])
    income = np.rint(medians * rng.lognormal(0.0, 0.55, size=persons)).astype(np.int64)
    saver = rng.random(persons) < 0.6
    savings = np.where(saver, np.rint(rng.lognormal(9.0, 1.2, size=persons)), 0).astype(np.int64)

    bank_ids = np.concatenate([ids[:persons][customer], ids[persons:]])
    bank_income = np.concatenate(
        [income[customer], np.rint(rng.lognormal(10.3, 0.6, size=outsiders)).astype(np.int64)]
    )
    bank_savings = np.concatenate([savings[customer], np.zeros(outsiders, dtype=np.int64)])
    order = rng.permutation(bank_ids.size)
    left, right = folder / "register.csv", folder / "bank.csv"
    write_csv(left, {"person_id": ids[:persons].tolist(), "region": region.tolist()})
    write_csv(
        right,
        {
            "customer_id": bank_ids[order].tolist(),
            "income": bank_income[order].astype(str).tolist(),
            "savings": bank_savings[order].astype(str).tolist(),
        },
    )
    truth = _truth(region, customer, {"income": income.tolist(), "savings": savings.tolist()})
    return JoinDemo(
        left, right, "person_id", "customer_id", ("region",), (), ("income", "savings"), truth
    )


def make_trade_demo(folder: str | Path, *, links: int = 8_000, seed: int = 2026) -> JoinDemo:
    """Write ``exports_a.csv`` (link_id, product_group, export_value) and ``imports_b.csv``."""
    if not 1 <= links <= 10_000_000:
        raise ParameterError(f"links must be between 1 and 10,000,000, got {links}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    groups = list(PRODUCT_GROUPS)
    shares = np.array([PRODUCT_GROUPS[g][0] for g in groups])
    group = rng.choice(len(groups), size=links, p=shares / shares.sum())
    exporters, importers = _ids(rng, links, 9), _ids(rng, links, 9)
    link_id = np.array(
        [
            f"AA{e}-BB{i}-{groups[g][:2]}"
            for e, i, g in zip(exporters, importers, group, strict=True)
        ]
    )
    medians = np.array([PRODUCT_GROUPS[groups[g]][1] for g in group])
    export_value = np.rint(medians * rng.lognormal(0.0, 0.8, size=links)).astype(np.int64)
    cif = 1.0 + rng.uniform(0.02, 0.08, size=links)
    import_value = np.rint(export_value * cif * rng.lognormal(0.0, 0.05, size=links))
    in_a = rng.random(links) < 0.93  # below A's reporting threshold or late otherwise
    in_b = rng.random(links) < 0.90
    labels = np.array([groups[g] for g in group])

    left, right = folder / "exports_a.csv", folder / "imports_b.csv"
    a, b = np.flatnonzero(in_a), rng.permutation(np.flatnonzero(in_b))
    write_csv(
        left,
        {
            "link_id": link_id[a].tolist(),
            "product_group": labels[a].tolist(),
            "export_value": export_value[a].astype(str).tolist(),
        },
    )
    write_csv(
        right,
        {
            "link_id": link_id[b].tolist(),
            "import_value": import_value[b].astype(np.int64).astype(str).tolist(),
        },
    )
    truth = _truth(
        labels,
        in_a & in_b,
        {
            "export_value": export_value.tolist(),
            "import_value": import_value.astype(np.int64).tolist(),
        },
    )
    return JoinDemo(
        left,
        right,
        "link_id",
        "link_id",
        ("product_group",),
        ("export_value",),
        ("import_value",),
        truth,
    )
