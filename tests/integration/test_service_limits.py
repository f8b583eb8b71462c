"""The hub as an attacker meets it: a real ``privstats hub`` process on 127.0.0.1.

Oversized bodies are refused before they are read (the hub's memory stays flat), waiting
long-polls hold no worker thread (``/health`` answers at once), a port in use is a
one-line error that writes nothing, and the files the hub makes are its owner's only.
"""

from __future__ import annotations

import contextlib
import select
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from privstats.client import Federation
from privstats.crypto.keys import NodeKeys
from privstats.hub.server import ADMIN_TOKEN_FILE, URL_FILE
from privstats.node.hub_client import NodeHub, enrol
from privstats.service.http import node_signature

PRIVSTATS = [sys.executable, "-m", "privstats"]
MiB = 1024 * 1024
BODY = 200 * MiB


@dataclass
class RunningHub:
    process: subprocess.Popen[bytes]
    folder: Path
    url: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def admin(self) -> Federation:
        token = (self.folder / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        return Federation(self.url, token)


def start_hub(folder: Path, *options: str) -> RunningHub:
    log = open(folder.parent / f"{folder.name}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [*PRIVSTATS, "hub", "--data-dir", str(folder), "--port", "0", *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (folder.parent / f"{folder.name}.log").read_text()
        assert time.monotonic() < deadline, "the hub did not start"
        if (folder / URL_FILE).exists():
            url = (folder / URL_FILE).read_text(encoding="utf-8").strip()
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2, trust_env=False).is_success:
                    return RunningHub(process, folder, url)
            except httpx.HTTPError:
                pass
        time.sleep(0.05)


def stop_hub(hub: RunningHub) -> None:
    hub.process.terminate()
    try:
        hub.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    folder = tmp_path_factory.mktemp("limits") / "hub"
    folder.mkdir(mode=0o755)  # a data folder that exists already, open to everyone
    folder.chmod(0o755)
    running = start_hub(folder, "--max-waits", "64")
    yield running
    stop_hub(running)


def read_response(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


class PeakRss:
    """Samples a process's resident memory in a thread; ``peak`` is the largest seen."""

    def __init__(self, hub: RunningHub) -> None:
        self.hub, self.peak = hub, hub.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.hub.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        time.sleep(0.3)  # the hub may still be reading what was sent
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.hub.rss())


HEAD = (
    "POST /api/v1/jobs/x/messages?to=telco&seq=1 HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
)


def test_a_200_mb_body_with_its_length_is_refused_unread_and_memory_stays_flat(
    hub: RunningHub,
) -> None:
    idle = hub.rss()
    with PeakRss(hub) as memory, socket.create_connection(hub.address) as sock:
        sock.sendall(f"{HEAD}Content-Length: {BODY}\r\n\r\n".encode())
        # the hub should answer on the headers alone; only if it has not within 3 s, start
        # the body (sending into a closed connection resets it and loses the answer's body)
        answered, _, _ = select.select([sock], [], [], 3.0)
        if not answered:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"\0" * MiB)
        answer = read_response(sock)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body too large" in answer
    assert b"application/json" in answer
    assert memory.peak - idle < 50 * MiB, (idle, memory.peak)


def test_a_200_mb_chunked_body_is_refused_while_streaming_and_memory_stays_flat(
    hub: RunningHub,
) -> None:
    idle = hub.rss()
    chunk = b"%x\r\n%s\r\n" % (MiB, b"\0" * MiB)
    sent = 0
    with PeakRss(hub) as memory, socket.create_connection(hub.address) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < BODY:  # until the hub answers and closes the connection
                sock.sendall(chunk)
                sent += MiB
        answer = read_response(sock)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < BODY  # the hub stopped the upload long before its end
    assert memory.peak - idle < 50 * MiB, (idle, memory.peak)


def running_job(hub: RunningHub) -> tuple[str, dict[str, NodeKeys]]:
    """An approved, started coverage job between two freshly enrolled nodes."""
    keys = {"nso": NodeKeys.generate(), "telco": NodeKeys.generate()}
    columns = {"nso": [["person_id", "string"]], "telco": [["customer_id", "string"]]}
    with hub.admin() as admin:
        nodes = {}
        for party, party_keys in keys.items():
            enrol(hub.url, party, admin.add_party(party), party_keys)
            nodes[party] = NodeHub(hub.url, party, party_keys)
            nodes[party].declare_dataset("data", "csv", 10, columns[party], [columns[party][0][0]])
        job = admin.submit_coverage(
            register="nso",
            register_dataset="data",
            source="telco",
            source_dataset="data",
            key="person_id",
            source_key="customer_id",
        )
    try:
        for node in nodes.values():
            node.decide(job.id, job.info["manifest_hash"], "approve", "test")
        for node in nodes.values():
            node.start(job.id)
    finally:
        for node in nodes.values():
            node.close()
    return job.id, keys


def test_health_and_heartbeats_answer_at_once_while_60_long_polls_wait(hub: RunningHub) -> None:
    job_id, keys = running_job(hub)
    sign = node_signature("telco", keys["telco"])
    path = f"/api/v1/jobs/{job_id}/messages?sender=nso&after=0&wait=6"
    limits = httpx.Limits(max_connections=80, max_keepalive_connections=80)

    def long_poll(_: int) -> tuple[int, float]:
        began = time.monotonic()
        with httpx.Client(base_url=hub.url, timeout=30, trust_env=False, limits=limits) as c:
            response = c.get(path, headers=sign("GET", path, b""))
        return response.status_code, time.monotonic() - began

    with ThreadPoolExecutor(60) as pool:
        polls = [pool.submit(long_poll, i) for i in range(60)]
        time.sleep(2.5)  # every long poll is waiting at the hub by now
        began = time.monotonic()
        health = httpx.get(f"{hub.url}/api/v1/health", timeout=10, trust_env=False)
        health_seconds = time.monotonic() - began
        nso = NodeHub(hub.url, "nso", keys["nso"])
        try:  # an honest node's heartbeat, which needs a worker thread like /health
            began = time.monotonic()
            state = nso.heartbeat(job_id, "psi")
            heartbeat_seconds = time.monotonic() - began
        finally:
            nso.close()
        outcomes = [poll.result() for poll in polls]

    assert health.status_code == 200
    assert health_seconds < 1.0, health_seconds
    assert state == "running"
    assert heartbeat_seconds < 1.0, heartbeat_seconds
    assert [status for status, _ in outcomes] == [200] * 60
    assert min(seconds for _, seconds in outcomes) > 5.0  # each one really waited


def test_long_polls_over_the_per_party_cap_are_answered_at_once_with_429(
    tmp_path: Path,
) -> None:
    hub = start_hub(tmp_path / "capped", "--max-waits", "2")
    try:
        job_id, keys = running_job(hub)
        sign = node_signature("nso", keys["nso"])
        path = f"/api/v1/jobs/{job_id}/messages?sender=telco&after=0&wait=3"

        def long_poll(_: int) -> int:
            with httpx.Client(base_url=hub.url, timeout=30, trust_env=False) as client:
                return client.get(path, headers=sign("GET", path, b"")).status_code

        with ThreadPoolExecutor(4) as pool:
            waiting = [pool.submit(long_poll, i) for i in range(2)]
            time.sleep(1.0)
            began = time.monotonic()
            refused = long_poll(2)
            refused_seconds = time.monotonic() - began
            statuses = [poll.result() for poll in waiting]
    finally:
        stop_hub(hub)

    assert statuses == [200, 200]
    assert refused == 429
    assert refused_seconds < 1.0


def test_a_port_in_use_is_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        folder = tmp_path / "hub"
        done = subprocess.run(
            [*PRIVSTATS, "hub", "--data-dir", str(folder), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"error: port {port} on 127.0.0.1 is in use; choose another with --port"]
    assert not folder.exists()


def test_the_data_folder_and_every_database_file_are_the_owners_only(hub: RunningHub) -> None:
    with hub.admin() as admin:
        admin.add_token("someone")  # a write: SQLite's WAL and shared-memory files exist now
    files = [hub.folder / name for name in ("hub.db", "hub.db-wal", "hub.db-shm", "admin.token")]

    assert stat.S_IMODE(hub.folder.stat().st_mode) == 0o700
    for path in files:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
