"""Options and connection shared by the commands that talk to a hub."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from privstats.client import Federation
from privstats.errors import ParameterError
from privstats.service.http import check_hub_url

__all__ = ["HUB", "INSECURE_ENV", "TOKEN", "TOKEN_FILE", "connect"]

INSECURE_ENV = "PRIVSTATS_INSECURE_HTTP"
"""Set to 1 to let the people's commands reach a hub by plain http:// on another machine."""

HUB = typer.Option("http://127.0.0.1:8700", "--hub", envvar="PRIVSTATS_HUB", help="The hub's URL.")
TOKEN = typer.Option(
    None, "--token", envvar="PRIVSTATS_TOKEN", help="Your bearer token (admin or analyst)."
)
TOKEN_FILE = typer.Option(
    None, "--token-file", help="Read the bearer token from this file (e.g. the hub's admin.token)."
)


def connect(hub: str, token: str | None, token_file: Path | None) -> Federation:
    """A Federation for the given hub and token (from the option, env or file)."""
    insecure = os.environ.get(INSECURE_ENV) == "1"
    check_hub_url(hub, insecure=insecure, option=f"{INSECURE_ENV}=1 in the environment")
    if token is None and token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ParameterError(f"{token_file}: cannot read the token file: {exc}") from exc
    if not token:
        raise ParameterError(
            "no token: pass --token, set PRIVSTATS_TOKEN, or --token-file PATH",
            parameter="token",
        )
    return Federation(hub, token, insecure=insecure)
