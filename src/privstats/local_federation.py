"""A whole federation on this machine: a hub and nodes as separate processes on loopback.

Used by ``privstats demo`` and by the end-to-end tests. Each process is a real
``privstats hub`` or ``privstats node run`` with its own data folder and log file; the
nodes enrol with one-time tokens exactly as on separate machines. Everything is stopped
on exit, also after an error or Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from privstats.client import Federation
from privstats.crypto.keys import NodeKeys
from privstats.errors import ServiceError
from privstats.hub.server import ADMIN_TOKEN_FILE, URL_FILE
from privstats.node.config import AllowRule, DatasetConfig, PolicyConfig, write_config
from privstats.node.hub_client import enrol

__all__ = ["LocalFederation"]

_START_TIMEOUT = 60.0


class LocalFederation:
    """Start a hub in ``folder``; add nodes with :meth:`add_node`; stop all on exit."""

    def __init__(
        self, folder: str | Path, *, node_timeout: float = 120.0, poll_seconds: float = 0.5
    ) -> None:
        self.folder = Path(folder)
        self.node_timeout = node_timeout
        self.poll_seconds = poll_seconds
        self.hub_dir = self.folder / "hub"
        self.hub_process: subprocess.Popen[bytes] | None = None
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        self.url = ""
        self.admin_token = ""
        self._port = 0

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "privstats", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )

    def start_hub(self) -> None:
        """Start (or restart, on the same port) the hub and wait until it answers."""
        self.hub_dir.mkdir(parents=True, exist_ok=True)
        url_file = self.hub_dir / URL_FILE
        url_file.unlink(missing_ok=True)
        self.hub_process = self._spawn(
            [
                "hub",
                "--data-dir",
                str(self.hub_dir),
                "--port",
                str(self._port),
                "--node-timeout",
                str(self.node_timeout),
            ],
            self.folder / "hub.log",
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not url_file.exists():
            self._check_alive(self.hub_process, "hub", self.folder / "hub.log")
            if time.monotonic() > deadline:
                raise ServiceError("the hub did not start within a minute; see hub.log")
            time.sleep(0.05)
        self.url = url_file.read_text(encoding="utf-8").strip()
        self._port = int(self.url.rsplit(":", 1)[1])
        self.admin_token = (self.hub_dir / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                pass
            self._check_alive(self.hub_process, "hub", self.folder / "hub.log")
            if time.monotonic() > deadline:
                raise ServiceError("the hub did not answer within a minute; see hub.log")
            time.sleep(0.05)

    def admin(self) -> Federation:
        return Federation(self.url, self.admin_token)

    def add_node(
        self,
        name: str,
        datasets: Mapping[str, tuple[str | Path, Sequence[str]]],
        *,
        approval: str = "auto",
        allow: Sequence[str] = ("coverage",),
        min_cell: int = 10,
        max_epsilon: float | None = None,
        max_epsilon_total: float | None = None,
        max_delta_total: float | None = None,
        rules: Sequence[str] = (),
        min_peer_rows: int = 0,
        min_matched: int = 0,
        start: bool = True,
    ) -> Path:
        """Invite ``name``, enrol a fresh node for it, write its node.toml and start it.

        The policy keys apply to every dataset of the node: ``min_cell``, the per-job
        ``max_epsilon``, the totals ``max_epsilon_total``/``max_delta_total`` its ledger
        keeps, and the owner's release rules (``rules``, ``min_peer_rows``,
        ``min_matched``).
        """
        folder = self.folder / f"node-{name}"
        with self.admin() as admin:
            token = admin.add_party(name)
        keys = NodeKeys.generate()
        enrol(self.url, name, token, keys)
        keys.save(folder / "keys")
        configs = {
            dataset: DatasetConfig.model_validate(
                {"path": Path(path).resolve(), "key_columns": tuple(key_columns)}
            )
            for dataset, (path, key_columns) in datasets.items()
        }
        policy = PolicyConfig(
            approval=approval,
            min_cell=min_cell,
            max_epsilon=max_epsilon,
            max_epsilon_total=max_epsilon_total,
            max_delta_total=max_delta_total,
            rules=tuple(rules),
            min_peer_rows=min_peer_rows,
            min_matched=min_matched,
            allow=tuple(AllowRule(kind=kind, datasets=tuple(configs)) for kind in allow),
        )
        config = folder / "node.toml"
        write_config(
            config,
            name=name,
            hub=self.url,
            datasets=configs,
            policy=policy,
            poll_seconds=self.poll_seconds,
            heartbeat_seconds=max(0.2, min(2.0, self.node_timeout / 5)),
        )
        if start:
            self.start_node(name)
        return config

    def start_node(self, name: str) -> None:
        folder = self.folder / f"node-{name}"
        self.nodes[name] = self._spawn(
            ["node", "run", "--config", str(folder / "node.toml")], self.folder / f"node-{name}.log"
        )

    def wait_for_datasets(self, count: int, timeout: float = _START_TIMEOUT) -> None:
        """Wait until the nodes have declared ``count`` datasets in all."""
        deadline = time.monotonic() + timeout
        with self.admin() as admin:
            while len(admin.datasets()) < count:
                for name, process in self.nodes.items():
                    self._check_alive(process, f"node {name!r}", self.folder / f"node-{name}.log")
                if time.monotonic() > deadline:
                    raise ServiceError("the nodes did not declare their datasets in time")
                time.sleep(0.1)

    def kill_node(self, name: str) -> None:
        """Kill a node abruptly (SIGKILL), as a crashed machine would."""
        process = self.nodes.pop(name)
        process.kill()
        process.wait()

    def kill_hub(self) -> None:
        if self.hub_process is not None:
            self.hub_process.kill()
            self.hub_process.wait()
            self.hub_process = None

    def log(self, name: str) -> str:
        path = self.folder / ("hub.log" if name == "hub" else f"node-{name}.log")
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    @staticmethod
    def _check_alive(process: subprocess.Popen[bytes], what: str, log: Path) -> None:
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            raise ServiceError(f"the {what} process exited ({process.returncode}):\n{tail}")

    def stop(self) -> None:
        """Stop the nodes, then the hub: SIGTERM, then SIGKILL after a grace period."""
        processes = [*self.nodes.values()]
        if self.hub_process is not None:
            processes.append(self.hub_process)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.nodes.clear()
        self.hub_process = None

    def __enter__(self) -> LocalFederation:
        try:
            self.start_hub()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
