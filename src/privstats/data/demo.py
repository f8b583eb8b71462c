"""Demo data for the coverage computation, generated from a fixed seed.

A population register of persons (10-digit identifiers, region, age group) and a telecom's
customer list that covers each domain with a planted probability: higher in the capital
and among working-age adults, lower in rural regions, among children and the very old. The
customer list also holds out-of-scope customers (not in the register), a few customers with
two contracts (duplicate rows) and identifiers typed with stray spaces, as real files do.

This is simulation data, not protected data, so numpy's seeded generator is the right tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privstats.data.readers import write_csv
from privstats.errors import ParameterError

__all__ = ["AGE_GROUPS", "REGIONS", "CoverageDemo", "make_coverage_demo"]

REGIONS: dict[str, tuple[float, float]] = {
    # region: (share of the population, planted coverage of adults 35-64)
    "Capital": (0.22, 0.86),
    "North": (0.12, 0.71),
    "North-East": (0.09, 0.64),
    "East": (0.13, 0.75),
    "South": (0.16, 0.78),
    "South-West": (0.10, 0.69),
    "West": (0.14, 0.80),
    "Islands": (0.04, 0.55),
}
AGE_GROUPS: dict[str, tuple[float, float]] = {
    # age group: (share of the population, coverage relative to adults 35-64)
    "00-17": (0.19, 0.45),
    "18-34": (0.22, 1.08),
    "35-64": (0.39, 1.00),
    "65-79": (0.14, 0.82),
    "80+": (0.06, 0.55),
}
OUT_OF_SCOPE_SHARE = 0.04
DUPLICATE_SHARE = 0.01
SPACED_SHARE = 0.02


@dataclass(frozen=True)
class CoverageDemo:
    """Paths of the generated files and the coverage that was planted in them."""

    register: Path
    source: Path
    persons: int
    planted: dict[tuple[str, ...], float]
    true_share: dict[tuple[str, ...], float]
    true_matched: int


def make_coverage_demo(
    folder: str | Path, *, persons: int = 100_000, seed: int = 2026
) -> CoverageDemo:
    """Write ``register.csv`` and ``source.csv`` into ``folder``; return the planted truth."""
    if persons < 1 or persons > 50_000_000:
        raise ParameterError(f"persons must be between 1 and 50,000,000, got {persons}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    ids = rng.choice(10**10, size=persons + persons // 10 + 10, replace=False)
    person_ids = np.char.zfill(ids[:persons].astype(str), 10)
    region_names = list(REGIONS)
    age_names = list(AGE_GROUPS)
    region_p = np.array([REGIONS[r][0] for r in region_names])
    age_p = np.array([AGE_GROUPS[a][0] for a in age_names])
    region = rng.choice(len(region_names), size=persons, p=region_p / region_p.sum())
    age = rng.choice(len(age_names), size=persons, p=age_p / age_p.sum())

    rate = np.array([[REGIONS[r][1] * AGE_GROUPS[a][1] for a in age_names] for r in region_names])
    rate = np.clip(rate, 0.0, 0.98)
    covered = rng.random(persons) < rate[region, age]

    customers = person_ids[covered]
    extra = round(OUT_OF_SCOPE_SHARE * customers.size)
    outsiders = np.char.zfill(ids[persons : persons + extra].astype(str), 10)
    customers = np.concatenate([customers, outsiders])
    repeat = rng.choice(customers.size, size=int(DUPLICATE_SHARE * customers.size), replace=False)
    customers = np.concatenate([customers, customers[repeat]])
    customers = customers[rng.permutation(customers.size)].astype(object)
    spaced = rng.random(customers.size) < SPACED_SHARE
    customers[spaced] = [f" {c} " for c in customers[spaced]]

    register = folder / "register.csv"
    source = folder / "source.csv"
    write_csv(
        register,
        {
            "person_id": person_ids.tolist(),
            "region": [region_names[i] for i in region],
            "age_group": [age_names[i] for i in age],
        },
    )
    write_csv(source, {"customer_id": customers.tolist()})

    planted: dict[tuple[str, ...], float] = {}
    true_share: dict[tuple[str, ...], float] = {}
    for r, region_name in enumerate(region_names):
        for a, age_name in enumerate(age_names):
            members = (region == r) & (age == a)
            planted[(region_name, age_name)] = float(rate[r, a])
            if members.any():
                true_share[(region_name, age_name)] = float(covered[members].mean())
    return CoverageDemo(register, source, persons, planted, true_share, int(covered.sum()))
