"""Starting a hub: data folder, database, first admin token, and the HTTP server."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn
from sqlalchemy import select

from privstats.errors import ParameterError
from privstats.files import write_text_atomically
from privstats.hub import audit_log, auth
from privstats.hub.app import create_app
from privstats.hub.settings import HubSettings
from privstats.hub.store import Store, Token, utc_now

__all__ = ["ADMIN_TOKEN_FILE", "URL_FILE", "bootstrap_admin", "serve"]

ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name, not a secret
URL_FILE = "hub.url"


def bootstrap_admin(store: Store, data_dir: Path) -> Path | None:
    """On first start, create the admin token and write it to the data folder (owner-only)."""
    with store.write() as session:
        if session.scalars(select(Token).where(Token.role == "admin")).first() is not None:
            return None
        token = auth.new_token()
        session.add(
            Token(
                name="admin", role="admin", token_hash=auth.hash_token(token), created_at=utc_now()
            )
        )
        audit_log.append(
            session, actor="hub", action="token.created", payload={"name": "admin", "role": "admin"}
        )
        path = data_dir / ADMIN_TOKEN_FILE
        write_text_atomically(path, token + "\n", private=True)
    return path


def serve(
    data_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    db_url: str | None = None,
    settings: HubSettings | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Run the hub until interrupted; port 0 picks a free port, written to ``hub.url``.

    The port is bound before anything is written, so a port in use leaves the data folder
    as it was. Files the hub creates (database, its WAL and shared-memory files, tokens)
    are owner-only: the process umask is set to 077 and the data folder to 0700.
    """
    sock = _listen(host, port)
    try:
        os.umask(0o077)
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        store = Store(db_url) if db_url else Store.sqlite(folder / "hub.db")
    except BaseException:
        sock.close()
        raise
    if db_url is None:
        (folder / "hub.db").chmod(0o600)
    token_path = bootstrap_admin(store, folder)
    if token_path is not None:
        say(f"admin token written to {token_path} (keep it secret; it is shown nowhere else)")
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound}"
    write_text_atomically(folder / URL_FILE, url + "\n", private=True)
    say(f"privstats hub listening on {url} (pages {url}/, API {url}/api/v1)")
    config = uvicorn.Config(
        create_app(store, settings), log_level="warning", access_log=False, lifespan="on"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; a port in use is a ParameterError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ParameterError(
                f"port {port} on {host} is in use; choose another with --port", parameter="port"
            ) from None
        raise ParameterError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}; check --host and --port",
            parameter="port",
        ) from None
    return sock
