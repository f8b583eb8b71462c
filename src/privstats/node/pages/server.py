"""Serving the data owner's pages from inside ``privstats node run``, on 127.0.0.1 only.

:class:`PagesServer` binds a socket on 127.0.0.1 (port 0: any free port), runs uvicorn in
a daemon thread of the node process and stops it with the node. The address is fixed to
loopback here, and the app refuses any other client besides (:mod:`.app`).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from urllib.parse import quote

import uvicorn

from privstats.errors import ParameterError
from privstats.node.config import NodeConfig
from privstats.node.pages.app import create_app
from privstats.node.pages.desk import NodeDesk
from privstats.node.pages.session import Sessions

__all__ = ["HOST", "PagesServer"]

HOST = "127.0.0.1"
_START_SECONDS = 10.0


class PagesServer:
    """The node's pages on ``127.0.0.1:port``; :meth:`start`, print :attr:`link`, :meth:`stop`."""

    def __init__(self, config: NodeConfig, port: int, desk: NodeDesk | None = None) -> None:
        self.desk = desk if desk is not None else NodeDesk(config)
        self.sessions = Sessions()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.bind((HOST, port))
        except OSError as exc:
            self._socket.close()
            self.desk.close()
            raise ParameterError(
                f"the node's pages cannot listen on {HOST}:{port}: {exc.strerror or exc}; "
                "choose another web_port in the node's config (or --web-port 0 for any free one)",
                parameter="web_port",
            ) from exc
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.desk, self.sessions),
                log_level="warning",
                access_log=False,
                lifespan="off",
                server_header=False,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="node-pages"
        )
        self._thread.daemon = True

    @property
    def link(self) -> str:
        """The one-time sign-in link (it works once)."""
        return f"http://{HOST}:{self.port}/signin/{quote(self.sessions.code)}"

    def start(self) -> None:
        """Serve in a thread; return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not self._server.started:
            self.stop()
            raise ParameterError(
                f"the node's pages did not start on {HOST}:{self.port}", parameter="web_port"
            )

    def stop(self) -> None:
        """Stop serving and close the node's link to the hub used by the pages."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()
        self.desk.close()

    def __enter__(self) -> PagesServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
