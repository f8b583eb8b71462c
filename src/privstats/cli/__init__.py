"""The ``privstats`` command line: one module per command group, loaded on demand.

Only the group a command line names is imported: ``privstats run coverage`` does not load
the hub's web framework, and ``privstats --help`` loads no command module at all. Each
party process of a local run re-imports this module, so keeping it light keeps every
party's start-up short. Commands whose work needs an optional extra import it inside the
command and say which extra to install (``MissingExtraError``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Collection

import typer

from privstats.version import __version__

__all__ = ["COMMANDS", "app", "build_app", "main"]

COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "privstats.cli.run",
        "app",
        "Run a computation on local files, each party in its own process.",
    ),
    "demo": (
        "privstats.cli.demo",
        "app",
        "Run a computation end to end through a local hub and nodes, on demo data or yours.",
    ),
    "synth": (
        "privstats.cli.synth",
        "app",
        "Synthetic microdata: fit a synthesizer and sample, evaluate utility and risk.",
    ),
    "sdc": (
        "privstats.cli.sdc",
        "app",
        "Disclosure control of tables: primary rules, secondary suppression, audit.",
    ),
    "hub": (
        "privstats.cli.hub",
        "hub",
        "Run the hub: registry, jobs, approvals, sealed relay and audit log.",
    ),
    "node": (
        "privstats.cli.node",
        "app",
        "A data owner's node: connects out to the hub and runs approved jobs.",
    ),
    "party": (
        "privstats.cli.admin",
        "party_app",
        "Invite and list the parties (data owners) of the hub.",
    ),
    "token": (
        "privstats.cli.admin",
        "token_app",
        "Create bearer tokens for people (analysts, admins).",
    ),
    "submit": (
        "privstats.cli.jobs",
        "submit_app",
        "Submit a computation to the hub; each party's node must approve it.",
    ),
    "job": ("privstats.cli.jobs", "job_app", "Follow the jobs you submitted."),
    "audit": ("privstats.cli.jobs", "audit_app", "Check the hub's audit log."),
}
"""Command name → (module, attribute, one-line help shown by ``privstats --help``)."""


def _version() -> None:
    """Print the privstats version."""
    typer.echo(__version__)


def _not_loaded() -> None:
    """Stands for a command whose module is not imported (never run: main loads it)."""


def build_app(load: Collection[str] | None = None) -> typer.Typer:
    """The ``privstats`` application with the groups in ``load`` imported (all when None).

    Groups not loaded appear in the top-level help by their one-line help only.
    """
    root = typer.Typer(
        name="privstats",
        help="Secure private computation of official statistics across organisations.",
        no_args_is_help=True,
        rich_markup_mode="markdown",
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name, (module, attribute, summary) in COMMANDS.items():
        if load is not None and name not in load:
            if attribute == "hub":
                root.command(name, help=summary)(_not_loaded)
            else:
                root.add_typer(typer.Typer(), name=name, help=summary)
            continue
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    root.command("version")(_version)
    return root


def _named_command(argv: list[str]) -> str | None:
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def main() -> None:
    """Entry point of the ``privstats`` console script."""
    named = _named_command(sys.argv[1:])
    build_app(() if named is None else (named,))()


def __getattr__(name: str) -> object:
    if name == "app":
        return build_app()
    raise AttributeError(f"module 'privstats.cli' has no attribute {name!r}")
