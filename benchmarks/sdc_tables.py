"""Secondary cell suppression of a 3-D hierarchical table: privstats' patterns vs HYPERCUBE.

The table: enterprises by region (NUTS-1 → NUTS-2, two levels), activity (section →
division → group, three NACE-like levels) and size class, with every subtotal and margin,
turnover summed. The microdata are drawn by numpy from a fixed seed (benchmark data only):
region and activity shares from a Dirichlet, size classes 60/25/10/4/1 %, turnover
lognormal growing with the size class. Primary rules ``freq:3`` and ``p:10``.

Both methods run in one process on the same primary suppression:

- ``milp`` — privstats' default (``secondary_suppression(..., method="milp")``): one
  pattern MILP per primary cell not yet protected, solved on the cell's neighbourhood;
- ``hypercube`` — the τ-Argus HYPERCUBE / GHMITER heuristic as privstats implements it
  (``method="hypercube"``).

For each: secondary suppressions, the share of the table's value withheld by them, wall and
CPU seconds (the worker processes' included), and whether :meth:`ProtectedTable.certify`
proves every primary cell protected (each cell checked in its neighbourhood, the doubtful
ones by the exact LP audit), with its time (``--certify milp`` skips HYPERCUBE's, which
takes many minutes at 20,000 cells). ``--audit`` also runs the full exact audit (every
withheld cell's interval).

Run: ``.venv/bin/python benchmarks/sdc_tables.py`` (default ≈ 21,000 cells)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from privstats.disclosure.tables import ProtectedTable, primary_suppression, tabulate
from privstats.disclosure.tables import secondary_suppression as suppress

SEED = 2026
RULES = ("freq:3", "p:10")
SIZE_SHARES = (0.6, 0.25, 0.1, 0.04, 0.01)


def make_records(
    nuts1: int, nuts2: int, sections: int, divisions: int, groups: int, firms: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """Enterprises with region, activity, size class and turnover, and the hierarchies."""
    rng = np.random.default_rng(seed)
    region = {f"R{a}{b}": f"R{a}" for a in range(nuts1) for b in range(nuts2)}
    activity: dict[str, str] = {}
    for s in range(sections):
        section = chr(ord("A") + s)
        for d in range(divisions):
            division = f"{section}{d + 10}"
            activity[division] = section
            for g in range(groups):
                activity[f"{division}.{g + 1}"] = division
    regions = sorted(region)
    leaves = sorted(k for k in activity if "." in k)
    shares = np.array(SIZE_SHARES) / sum(SIZE_SHARES)
    r = rng.choice(len(regions), firms, p=rng.dirichlet(np.full(len(regions), 2.0)))
    a = rng.choice(len(leaves), firms, p=rng.dirichlet(np.full(len(leaves), 1.0)))
    s = rng.choice(len(shares), firms, p=shares)
    turnover = np.round(rng.lognormal(3 + 1.2 * s, 1.0), 1)
    records = [
        {"region": regions[i], "activity": leaves[j], "size": f"S{k}", "turnover": float(t)}
        for i, j, k, t in zip(r, a, s, turnover, strict=True)
    ]
    return records, {"region": region, "activity": activity}


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run(
    primary: ProtectedTable, method: str, audit: bool, certify: bool, workers: int | None
) -> dict[str, Any]:
    """One method's secondary suppression, timed, and (if asked) its certification."""
    wall, cpu = time.perf_counter(), _cpu()
    protected = suppress(primary, method=method, workers=workers)  # type: ignore[arg-type]
    seconds, cpu_seconds = time.perf_counter() - wall, _cpu() - cpu
    values = primary.table.values
    secondary = np.array([s == "secondary" for s in protected.status])
    nonempty = np.array([s != "empty" for s in protected.status])
    wall = time.perf_counter()
    verdict = protected.certify() if certify else {"protected": None, "unprotected": []}
    out: dict[str, Any] = {
        "method": method,
        "secondary": int(secondary.sum()),
        "value_share": float(values[secondary].sum() / values[nonempty].sum()),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "certified": verdict["protected"],
        "unprotected": len(verdict["unprotected"]),
        "certify_seconds": time.perf_counter() - wall,
    }
    if audit:
        wall = time.perf_counter()
        out["audit_protected"] = protected.audit()["protected"]
        out["audit_seconds"] = time.perf_counter() - wall
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nuts1", type=int, default=8, help="NUTS-1 regions")
    parser.add_argument("--nuts2", type=int, default=4, help="NUTS-2 regions per NUTS-1")
    parser.add_argument("--sections", type=int, default=5)
    parser.add_argument("--divisions", type=int, default=4, help="divisions per section")
    parser.add_argument("--groups", type=int, default=3, help="groups per division")
    parser.add_argument("--firms", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--methods", nargs="+", default=["milp", "hypercube"])
    parser.add_argument("--audit", action="store_true", help="also the full exact audit")
    parser.add_argument(
        "--certify",
        choices=("all", "milp", "none"),
        default="all",
        help="which results certify() checks (HYPERCUBE's can take many minutes at 20k cells)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes for the MILP (default: all cores)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    args = parser.parse_args()

    records, hierarchies = make_records(
        args.nuts1, args.nuts2, args.sections, args.divisions, args.groups, args.firms, args.seed
    )
    started = time.perf_counter()
    table = tabulate(
        records, ["region", "activity", "size"], value="turnover", hierarchies=hierarchies
    )
    tabulated = time.perf_counter() - started
    primary = primary_suppression(table, RULES)
    primaries = primary.status.count("primary")
    print(
        f"{len(table.cells):,} cells ({' × '.join(str(len(d.labels)) for d in table.dimensions)}"
        f" labels), {table.equations.shape[0]:,} equations, {args.firms:,} enterprises, "
        f"{primaries:,} primary cells ({', '.join(RULES)}), {primary.status.count('empty'):,} "
        f"empty; tabulated in {tabulated:.1f} s"
    )
    results = [
        run(
            primary,
            method,
            args.audit,
            args.certify == "all" or (args.certify == "milp" and method == "milp"),
            args.workers,
        )
        for method in args.methods
    ]
    print()
    print(
        "| method | secondary | value withheld (secondary) | wall s | CPU s | certified "
        "| certify s |" + (" audit | audit s |" if args.audit else "")
    )
    print("|---|---:|---:|---:|---:|---|---:|" + ("---|---:|" if args.audit else ""))
    for r in results:
        certified = (
            "not checked"
            if r["certified"] is None
            else "yes"
            if r["certified"]
            else f"no ({r['unprotected']} short)"
        )
        line = (
            f"| {r['method']} | {r['secondary']:,} | {100 * r['value_share']:.2f} % "
            f"| {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {certified} "
            f"| {r['certify_seconds']:.1f} |"
        )
        if args.audit:
            line += f" {r['audit_protected']} | {r['audit_seconds']:.1f} |"
        print(line)
    by = {r["method"]: r for r in results}
    if {"milp", "hypercube"} <= set(by):
        ours, theirs = by["milp"], by["hypercube"]
        print(
            f"\nhypercube / milp: {theirs['secondary'] / max(ours['secondary'], 1):.2f}× the "
            f"secondary cells, {theirs['value_share'] / max(ours['value_share'], 1e-12):.2f}× "
            f"the value withheld, {theirs['seconds'] / ours['seconds']:.2f}× the time"
        )
    if args.json:
        summary = {
            "cells": len(table.cells),
            "primaries": primaries,
            "firms": args.firms,
            "results": results,
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
