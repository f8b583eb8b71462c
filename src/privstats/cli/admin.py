"""``privstats party …`` and ``privstats token …``: an admin's registry commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privstats.cli._console import err, fail_on_error, out
from privstats.cli._hub import HUB, TOKEN, TOKEN_FILE, connect

__all__ = ["party_app", "token_app"]

party_app = typer.Typer(help="Invite and list the parties (data owners) of the hub.")
token_app = typer.Typer(help="Create bearer tokens for people (analysts, admins).")


@party_app.command("add")
def party_add(
    name: str = typer.Argument(..., help="Party name: lowercase letters, digits, - and _."),
    description: str = typer.Option("", help="Who this party is."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Invite a party; prints its one-time enrolment token for 'privstats node init'."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        enrolment = fed.add_party(name, description)
        err.print(f"party {name!r} invited; give its operator this one-time enrolment token:")
        typer.echo(enrolment)


@party_app.command("list")
def party_list(
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List parties with their enrolment state and datasets."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        parties, datasets = fed.parties(), fed.datasets()
        if as_json:
            typer.echo(json.dumps({"parties": parties, "datasets": datasets}))
            return
        for party in parties:
            state = f"enrolled {party['enrolled_at']}" if party["enrolled_at"] else "invited"
            out.print(f"{party['name']}: {state}")
            for d in datasets:
                if d["party"] == party["name"]:
                    columns = ", ".join(name for name, _ in d["columns"])
                    out.print(f"  {d['name']}: {d['rows']:,} rows; {columns}")


@token_app.command("add")
def token_add(
    name: str = typer.Argument(..., help="The person's name at the hub."),
    role: str = typer.Option(
        "analyst", help="analyst, admin or auditor (reads the whole audit log and every job)."
    ),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Create a bearer token; it is printed once and stored at the hub only as a hash."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        typer.echo(fed.add_token(name, role))
