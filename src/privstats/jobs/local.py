"""Run the roles of one computation as separate OS processes on this machine.

Each party gets its own process (its data is loaded there and nowhere else) and a TCP
channel to the others on loopback, authenticated by a one-off session token. The parent
only starts the processes, relays their progress and collects their outputs; if one party
fails or dies, the others are stopped and the failure is reported with the party's name.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import resource
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from privstats.errors import ComputationError, PrivstatsError, TransportError
from privstats.transport.channel import Channel
from privstats.transport.tcp import TcpChannel, listen

__all__ = ["PartyOutcome", "ProgressSink", "Role", "run_local"]

Role = Callable[..., Any]
"""A module-level function ``role(channel, progress, **kwargs) -> output``."""

ProgressSink = Callable[[str, str, int, int], None]
"""Called in the parent as ``sink(party, step, done, total)``."""

_PROGRESS_INTERVAL = 0.2
_CAUSE_GRACE = 5.0
_ECHO_ERRORS = {TransportError.__name__, "ChannelTimeoutError"}


@dataclass(frozen=True)
class PartyOutcome:
    """A party's output and what running it cost."""

    output: Any
    cpu_seconds: float
    peak_rss_bytes: int
    bytes_sent: int
    bytes_received: int


def _peak_rss_bytes() -> int:
    """This process's peak resident memory.

    Linux's ``ru_maxrss`` keeps the parent's high-water mark across fork and exec, so a
    party started from a big parent would report the parent's peak; ``VmHWM`` counts only
    this process image.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _child(
    party: str,
    role: Role,
    kwargs: dict[str, Any],
    pipe: mpc.Connection,
    host: str,
    timeout: float,
) -> None:
    listener = listen(host)
    pipe.send(("port", listener.getsockname()[1]))
    addresses, token = pipe.recv()
    last = 0.0

    def progress(step: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= _PROGRESS_INTERVAL or done >= total:
            last = now
            pipe.send(("progress", step, done, total))

    started = time.process_time()
    channel: Channel | None = None
    try:
        channel = TcpChannel.connect(party, listener, addresses, token, timeout=timeout)
        listener.close()
        output = role(channel, progress, **kwargs)
    except Exception as exc:  # reported to the parent, which names the party
        # report before closing the channel, so the parent hears the cause before the
        # peers' "connection closed" echoes
        text = str(exc) if isinstance(exc, PrivstatsError) else f"{type(exc).__name__}: {exc}"
        pipe.send(("error", type(exc).__name__, text, getattr(exc, "step", None)))
        if channel is not None:
            channel.close()
        return
    channel.close()
    cpu = time.process_time() - started
    peak = _peak_rss_bytes()
    stats = channel.stats
    pipe.send(("done", PartyOutcome(output, cpu, peak, stats.bytes_sent, stats.bytes_received)))


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Start children with SIGINT ignored (inherited through exec), so that Ctrl-C, which
    reaches the whole process group, interrupts only the parent, which then stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_local(
    roles: Mapping[str, tuple[Role, dict[str, Any]]],
    *,
    progress: ProgressSink | None = None,
    host: str = "127.0.0.1",
    timeout: float = 600.0,
) -> dict[str, PartyOutcome]:
    """Run every party's role in its own process; return each party's outcome.

    Raises ComputationError naming the party that failed (a peer's resulting
    "connection closed" is not reported as the cause).
    """
    ctx = mp.get_context("spawn")
    pipes: dict[str, mpc.Connection] = {}
    procs: dict[str, Any] = {}
    with _children_ignore_ctrl_c():
        for party, (role, kwargs) in roles.items():
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(
                target=_child,
                args=(party, role, kwargs, child_end, host, timeout),
                name=f"privstats-{party}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            pipes[party], procs[party] = parent_end, proc
    try:
        return _supervise(pipes, procs, host, progress)
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
        for pipe in pipes.values():
            pipe.close()


def _supervise(
    pipes: dict[str, mpc.Connection],
    procs: dict[str, Any],
    host: str,
    progress: ProgressSink | None,
) -> dict[str, PartyOutcome]:
    ports: dict[str, int] = {}
    outcomes: dict[str, PartyOutcome] = {}
    failures: dict[str, tuple[str, str, str | None]] = {}
    token = secrets.token_bytes(32)
    pending = set(pipes)
    deadline = float("inf")
    while pending and time.monotonic() < deadline:
        ready = mpc.wait([pipes[p] for p in pending], timeout=0.5)
        for party in [p for p in pending if pipes[p] in ready]:
            pipe = pipes[party]
            try:
                report: tuple[Any, ...] = pipe.recv()
            except EOFError:
                pending.discard(party)
                if party not in outcomes and party not in failures:
                    procs[party].join(2)
                    code = procs[party].exitcode
                    failures[party] = (
                        "Died",
                        f"the process stopped unexpectedly (exit {code})",
                        None,
                    )
                continue
            kind, payload = report[0], report[1:]
            if kind == "port":
                ports[party] = payload[0]
                if len(ports) == len(pipes):
                    addresses = {p: (host, port) for p, port in ports.items()}
                    for p in pipes.values():
                        p.send((addresses, token))
            elif kind == "progress" and progress is not None:
                progress(party, *payload)
            elif kind == "done":
                outcomes[party] = payload[0]
                pending.discard(party)
            elif kind == "error":
                failures[party] = (payload[0], payload[1], payload[2])
                pending.discard(party)
        if failures and deadline == float("inf"):
            # give the others a moment: the first report may be the echo of a peer's failure
            deadline = time.monotonic() + _CAUSE_GRACE
    if failures:
        # a peer's "connection closed" is the echo of the real failure: report causes only
        causes = [p for p, f in failures.items() if f[0] not in _ECHO_ERRORS] or list(failures)
        message = "; ".join(f"party {p!r} failed: {failures[p][1]}" for p in causes)
        party = causes[0]
        raise ComputationError(message, party=party, step=failures[party][2])
    return outcomes
