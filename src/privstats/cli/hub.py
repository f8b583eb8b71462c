"""``privstats hub``: run the hub."""

from __future__ import annotations

from pathlib import Path

import typer

from privstats.cli._console import err, fail_on_error
from privstats.hub.app import HubSettings
from privstats.hub.server import serve

__all__ = ["hub"]


def hub(
    data_dir: Path = typer.Option(
        Path("privstats-hub"), help="Folder for the database, admin token and hub.url."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (put TLS in front)."),
    port: int = typer.Option(8700, help="Port to listen on; 0 picks a free one."),
    db: str | None = typer.Option(
        None,
        help="Database URL, e.g. postgresql+psycopg://user@host/privstats (default: SQLite file).",
    ),
    node_timeout: float = typer.Option(
        60.0, help="Seconds of silence after which a running job's node is taken as gone."
    ),
    max_body_bytes: int | None = typer.Option(
        None,
        help="Largest request body accepted, refused with 413 before authentication "
        "(default: the largest envelope + 4 MiB = 6 MiB).",
    ),
    max_result_bytes: int = typer.Option(
        HubSettings.max_result_bytes,
        help="Largest body of a node's completion, which carries the released result.",
    ),
    max_waits: int = typer.Option(
        HubSettings.max_waits_per_party,
        help="Concurrent waiting mailbox fetches per party; more get 429 at once.",
    ),
) -> None:
    """Run the hub: registry, jobs, approvals, sealed relay and audit log.

    On first start it creates an admin token in DATA_DIR/admin.token.
    """
    with fail_on_error():
        serve(
            data_dir,
            host=host,
            port=port,
            db_url=db,
            settings=HubSettings(
                node_timeout=node_timeout,
                max_body_bytes=max_body_bytes,
                max_result_bytes=max_result_bytes,
                max_waits_per_party=max_waits,
            ),
            say=lambda text: err.print(text, highlight=False, soft_wrap=True),
        )
