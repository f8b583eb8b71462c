"""What ``privstats node budget`` and ``privstats node releases`` show, as JSON-ready dicts.

The budget of each dataset the node offers: its total caps (from the config, as the
ledger applies them), what is spent and what remains, and every spend. The release
history: per released table, the job, kind, grouping, population and cells, released or
withheld. Both read only the node's own ledger file.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from privstats.node.config import NodeConfig
from privstats.node.ledger import Ledger
from privstats.node.policy import total_caps

__all__ = ["budget_report", "releases_report"]


def _figure(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def budget_report(config: NodeConfig, ledger: Ledger) -> dict[str, Any]:
    """``{"datasets": [{"dataset", "cap": {"epsilon", "delta"}, "spent", "remaining",
    "spends": [...]}]}`` for every dataset the config offers or the ledger has spends of."""
    names = sorted(set(config.datasets) | {spend.dataset for spend in ledger.spends()})
    datasets = []
    for name in names:
        caps = total_caps(config, name)
        epsilon, delta = ledger.spent(name)
        remaining: dict[str, float | None] = {}
        for key, cap, spent in (("epsilon", caps.epsilon, epsilon), ("delta", caps.delta, delta)):
            left = None if cap is None else max(Fraction(repr(cap)) - spent, Fraction(0))
            remaining[key] = _figure(left)
        datasets.append(
            {
                "dataset": name,
                "offered": name in config.datasets,
                "cap": {"epsilon": caps.epsilon, "delta": caps.delta},
                "spent": {"epsilon": float(epsilon), "delta": float(delta)},
                "remaining": remaining,
                "spends": [spend.to_json() for spend in ledger.spends(name)],
            }
        )
    return {"node": config.name, "datasets": datasets}


def releases_report(ledger: Ledger, dataset: str | None = None) -> dict[str, Any]:
    """``{"releases": [{"dataset", "job", "kind", "dims", "population", "cells": [...]}]}``."""
    releases = []
    for name, release in ledger.releases(dataset):
        record = release.to_json()
        record["released"] = sum(1 for cell in record["cells"] if not cell["withheld"])
        record["withheld"] = sum(1 for cell in record["cells"] if cell["withheld"])
        releases.append({"dataset": name, **record})
    return {"releases": releases}
