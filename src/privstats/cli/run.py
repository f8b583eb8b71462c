"""``privstats run KIND``: run a computation locally, each party in its own process.

A command per kind, generated from its declaration (:mod:`privstats.cli._kind_cli`).
Three kinds keep a command written by hand, for what only a local run offers:
join-aggregate's ``--value`` looked up in both files' headers and NAME=FILE roles,
fl-train's centralised comparison, test file and model file, he-inference's features
read from the model file and its agreement with the plaintext model.
"""

from __future__ import annotations

import typer

from privstats.cli import run_fl, run_he, run_join
from privstats.cli._kind_cli import run_command
from privstats.jobs.kinds import KINDS

__all__ = ["HANDWRITTEN", "app"]

app = typer.Typer(
    help="Run a computation on local files, each party in its own process.",
    rich_markup_mode="markdown",
)

HANDWRITTEN = {
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
