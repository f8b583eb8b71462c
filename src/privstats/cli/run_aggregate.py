"""``privstats run aggregate``: generated from the kind's declaration, like every kind's.

Kept as a module so that ``register`` and ``aggregate`` stay where scripts import them.
"""

from __future__ import annotations

import typer

from privstats.cli._kind_cli import run_command
from privstats.jobs.aggregate import KIND

__all__ = ["aggregate", "register"]

aggregate = run_command(KIND)


def register(app: typer.Typer) -> None:
    """Add the ``aggregate`` command to ``app``."""
    app.command(KIND.command)(aggregate)
