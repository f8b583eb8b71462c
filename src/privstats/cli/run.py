"""``privstats run KIND``: run a computation locally, each party in its own process.

A command per kind, generated from its declaration (:mod:`privstats.cli._kind_cli`).
Four kinds keep a command written by hand, for what only a local run offers: a
yardstick computed from both sides' files (join-aggregate's ``--value`` looked up in
both headers, fl-train's centralised comparison and test file, he-inference's agreement
with the plaintext model) and the statistics tables' ordering.
"""

from __future__ import annotations

import typer

from privstats.cli import run_aggregate, run_fl, run_he, run_join
from privstats.cli._kind_cli import run_command
from privstats.jobs.kinds import KINDS

__all__ = ["HANDWRITTEN", "app"]

app = typer.Typer(
    help="Run a computation on local files, each party in its own process.",
    rich_markup_mode="markdown",
)

HANDWRITTEN = {
    "aggregate": run_aggregate.register,
    "join_aggregate": run_join.register,
    "fl_train": run_fl.register,
    "he_inference": run_he.register,
}
"""Kinds whose ``run`` command is written by hand; every other kind's is generated."""

for _name, _kind in KINDS.items():
    if _name in HANDWRITTEN:
        HANDWRITTEN[_name](app)
    else:
        app.command(_kind.command)(run_command(_kind))
