"""PSI cardinality: privstats (ristretto255, libsodium) against OpenMined PSI (P-256, BoringSSL).

Both libraries count |R ∩ S| for the same two sets of identifiers, and the figure that
matters is CPU time *per party*: the parties of a real deployment run on different machines,
so neither the wall time of one process nor the sum over both parties says how fast one
party's machine gets through its share.

- privstats: the receiver and the sender run as two threads over a ``MemoryNetwork``
  (frames are still encoded and decoded). Each thread measures its own CPU time with
  ``time.thread_time()``; libsodium is called through ctypes, which releases the GIL, so the
  two parties really run in parallel on two cores. Bytes are ``channel.stats.bytes_sent``.
- OpenMined PSI (cardinality only, ``reveal_intersection=False``): server and client run one
  after the other in this process; their calls are timed separately with
  ``time.process_time()``, including serialising each message and parsing it on the other
  side. Bytes are the lengths of the serialised protobuf messages each side sends.

The receiver of privstats plays the OpenMined client (it holds R and learns the count); the
sender plays the OpenMined server (it holds S). Every run checks the count against the
plaintext ``len(set(R) & set(S))``.

Run: ``.venv/bin/python benchmarks/psi_vs_openmined.py --sizes 100000 1000000``
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import private_set_intersection.python as om

from privstats.protocols import psi
from privstats.transport.channel import Channel
from privstats.transport.memory import MemoryNetwork, run_parties

SEED = 20240611
FP_SLACK = 1
"""Extra matches tolerated for OpenMined's GCS / Bloom filter setup (false positives only
add to the count; with fpr=1e-9 even one extra has probability about 1e-9)."""


@dataclass
class Run:
    """One run of one library on one pair of sets."""

    library: str
    n: int
    count: int
    expected: int
    cpu_receiver: float
    cpu_sender: float
    wall: float
    bytes_receiver: int
    bytes_sender: int
    detail: dict[str, float] = field(default_factory=dict)


# --- data -----------------------------------------------------------------------------


def make_sets(n: int, overlap: float, seed: int = SEED) -> tuple[list[str], list[str], int]:
    """Receiver ids 0..n-1, sender ids shifted so ``overlap * n`` are shared; both shuffled."""
    shared = round(overlap * n)
    rng = np.random.default_rng(seed)
    receiver_ids = [f"person-{i:09d}" for i in rng.permutation(n)]
    sender_ids = [f"person-{i:09d}" for i in rng.permutation(n) + (n - shared)]
    expected = len(set(receiver_ids) & set(sender_ids))
    assert expected == shared, (expected, shared)
    return receiver_ids, sender_ids, expected


# --- privstats ------------------------------------------------------------------------


def run_privstats(receiver_ids: list[str], sender_ids: list[str], expected: int) -> Run:
    network = MemoryNetwork(["receiver", "sender"], timeout=3600.0)
    cpu: dict[str, float] = {}

    def timed(party: str, role: Callable[[Channel], psi.IntersectionCounts]) -> Callable[..., Any]:
        def run(channel: Channel) -> psi.IntersectionCounts:
            start = time.thread_time()
            try:
                return role(channel)
            finally:
                cpu[party] = time.thread_time() - start

        return run

    roles = {
        "receiver": timed("receiver", lambda ch: psi.receiver(ch, "sender", receiver_ids)),
        "sender": timed("sender", lambda ch: psi.sender(ch, "receiver", sender_ids)),
    }
    process_start = time.process_time()
    wall_start = time.perf_counter()
    results = run_parties(network, roles)
    wall = time.perf_counter() - wall_start
    process_cpu = time.process_time() - process_start

    count = results["receiver"].total
    assert count == expected, f"privstats counted {count}, plaintext says {expected}"
    assert results["sender"].total == expected
    return Run(
        library="privstats",
        n=len(receiver_ids),
        count=count,
        expected=expected,
        cpu_receiver=cpu["receiver"],
        cpu_sender=cpu["sender"],
        wall=wall,
        bytes_receiver=network.channel("receiver").stats.bytes_sent,
        bytes_sender=network.channel("sender").stats.bytes_sent,
        # sanity check of thread_time: the two threads should account for the process
        detail={"process_cpu": process_cpu},
    )


# --- OpenMined PSI --------------------------------------------------------------------


def run_openmined(
    receiver_ids: list[str], sender_ids: list[str], expected: int, structure: str, fpr: float
) -> Run:
    ds = om.DataStructure[structure]
    client_cpu: dict[str, float] = {}
    server_cpu: dict[str, float] = {}

    def timed(where: dict[str, float], step: str, call: Callable[[], Any]) -> Any:
        start = time.process_time()
        out = call()
        where[step] = time.process_time() - start
        return out

    def parse(cls: Any, data: bytes) -> Any:
        msg = cls()
        msg.ParseFromString(data)
        return msg

    wall_start = time.perf_counter()
    server = timed(server_cpu, "create", lambda: om.server.CreateWithNewKey(False))
    client = timed(client_cpu, "create", lambda: om.client.CreateWithNewKey(False))
    # server → client: setup (the server's blinded set)
    setup_wire = timed(
        server_cpu,
        "setup",
        lambda: server.CreateSetupMessage(
            fpr, len(receiver_ids), sender_ids, ds
        ).SerializeToString(),
    )
    setup = timed(client_cpu, "parse_setup", lambda: parse(om.ServerSetup, setup_wire))
    # client → server: request (the client's blinded set)
    request_wire = timed(
        client_cpu, "request", lambda: client.CreateRequest(receiver_ids).SerializeToString()
    )
    request = timed(server_cpu, "parse_request", lambda: parse(om.Request, request_wire))
    # server → client: response (the client's set, re-keyed by the server)
    response_wire = timed(
        server_cpu, "response", lambda: server.ProcessRequest(request).SerializeToString()
    )
    response = timed(client_cpu, "parse_response", lambda: parse(om.Response, response_wire))
    count = timed(client_cpu, "count", lambda: client.GetIntersectionSize(setup, response))
    wall = time.perf_counter() - wall_start

    if ds == om.DataStructure.RAW:
        assert count == expected, f"OpenMined RAW counted {count}, plaintext says {expected}"
    else:
        assert expected <= count <= expected + FP_SLACK, (
            f"OpenMined {structure} counted {count}, plaintext says {expected}"
        )
    return Run(
        library=f"openmined-psi {structure}",
        n=len(receiver_ids),
        count=count,
        expected=expected,
        cpu_receiver=sum(client_cpu.values()),
        cpu_sender=sum(server_cpu.values()),
        wall=wall,
        bytes_receiver=len(request_wire),
        bytes_sender=len(setup_wire) + len(response_wire),
        detail={
            **{f"client_{k}": v for k, v in client_cpu.items()},
            **{f"server_{k}": v for k, v in server_cpu.items()},
            "bytes_setup": len(setup_wire),
            "bytes_response": len(response_wire),
        },
    )


# --- reporting ------------------------------------------------------------------------


@dataclass
class Summary:
    """Medians over the repeats of one library at one size."""

    library: str
    n: int
    cpu_receiver: float
    cpu_sender: float
    wall: float
    bytes_receiver: int
    bytes_sender: int

    @property
    def per_million(self) -> tuple[float, float, float]:
        r = self.cpu_receiver / self.n * 1e6
        s = self.cpu_sender / self.n * 1e6
        return r, s, (r + s) / 2

    @property
    def throughput(self) -> float:
        """Elements per core-second, mean over the two parties."""
        return (self.n / self.cpu_receiver + self.n / self.cpu_sender) / 2


def summarise(runs: Sequence[Run]) -> Summary:
    return Summary(
        library=runs[0].library,
        n=runs[0].n,
        cpu_receiver=statistics.median(r.cpu_receiver for r in runs),
        cpu_sender=statistics.median(r.cpu_sender for r in runs),
        wall=statistics.median(r.wall for r in runs),
        bytes_receiver=round(statistics.median(r.bytes_receiver for r in runs)),
        bytes_sender=round(statistics.median(r.bytes_sender for r in runs)),
    )


HEADER = (
    f"{'library':<26} {'n/side':>9} | {'CPU s per 1e6 el.: recv':>23} {'send':>7} {'mean':>7} "
    f"| {'el./core-s':>10} | {'wall s':>7} | {'MB sent: recv':>13} {'send':>7}"
)


def row(s: Summary) -> str:
    r, se, mean = s.per_million
    return (
        f"{s.library:<26} {s.n:>9,} | {r:>23.1f} {se:>7.1f} {mean:>7.1f} "
        f"| {s.throughput:>10,.0f} | {s.wall:>7.1f} | "
        f"{s.bytes_receiver / 1e6:>13.2f} {s.bytes_sender / 1e6:>7.2f}"
    )


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if (
            key in ("model name", "cpu family", "model", "cpu MHz", "cache size")
            and key not in info
        ):
            info[key] = value.strip()
    return info


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _libsodium_version() -> str:
    try:
        lib = sys.modules["rbcl.rbcl"]._sodium
        fn = lib.sodium_version_string
        fn.restype = ctypes.c_char_p
        return fn().decode()
    except Exception:
        return "?"


def environment() -> dict[str, Any]:
    cpu = _cpuinfo()
    return {
        "cpu": (
            f"{cpu.get('model name', platform.processor() or '?')} "
            f"(family {cpu.get('cpu family')}, model {cpu.get('model')}, "
            f"{cpu.get('cpu MHz')} MHz, cache {cpu.get('cache size')})"
        ),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "privstats": _version("privstats"),
        "rbcl": _version("rbcl"),
        "libsodium (bundled in rbcl)": _libsodium_version(),
        "openmined-psi": _version("openmined-psi"),
        "numpy": _version("numpy"),
    }


# --- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--overlap", type=float, default=0.5, help="shared fraction of n")
    parser.add_argument("--repeat", type=int, default=1, help="runs per library; medians shown")
    parser.add_argument(
        "--structures",
        nargs="*",
        default=["RAW", "GCS"],
        choices=list(om.DataStructure.__members__),
        help="OpenMined setup encodings to run (RAW is exact like privstats; "
        "give none to run privstats alone, e.g. under a profiler)",
    )
    parser.add_argument("--fpr", type=float, default=1e-9, help="OpenMined false-positive rate")
    parser.add_argument("--json", type=Path, help="write every run and the environment here")
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin the whole benchmark to this one CPU, so both libraries' parties share one "
        "core in the same way (default: unpinned; privstats' two parties then run on two cores)",
    )
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if not 0 <= args.overlap <= 1 or args.repeat < 1:
        parser.error("--overlap must be in [0, 1] and --repeat >= 1")

    env = environment()
    print("environment:")
    for key, value in env.items():
        print(f"  {key}: {value}")
    pinned = "unpinned" if args.cpu is None else f"pinned to CPU {args.cpu}"
    print(
        f"overlap {args.overlap}, repeat {args.repeat}, OpenMined fpr {args.fpr:g}, {pinned}",
        flush=True,
    )

    all_runs: list[Run] = []
    summaries: list[Summary] = []
    for n in args.sizes:
        receiver_ids, sender_ids, expected = make_sets(n, args.overlap)
        by_library: dict[str, list[Run]] = {}
        for _ in range(args.repeat):
            gc.collect()
            runs = [run_privstats(receiver_ids, sender_ids, expected)]
            for structure in args.structures:
                gc.collect()
                runs.append(run_openmined(receiver_ids, sender_ids, expected, structure, args.fpr))
            for run in runs:
                by_library.setdefault(run.library, []).append(run)
                all_runs.append(run)
        print(f"\nn = {n:,} per side, |R ∩ S| = {expected:,}")
        print(HEADER)
        print("-" * len(HEADER))
        size_summaries = [summarise(runs) for runs in by_library.values()]
        for s in size_summaries:
            print(row(s))
        ours = size_summaries[0]
        for s in size_summaries[1:]:
            print(
                f"ratio privstats / {s.library} per-core throughput: "
                f"{ours.throughput / s.throughput:.2f}"
            )
        threads = by_library["privstats"][-1]
        print(
            f"(privstats check: thread CPU {threads.cpu_receiver + threads.cpu_sender:.1f} s vs "
            f"process CPU {threads.detail['process_cpu']:.1f} s)",
            flush=True,
        )
        summaries.extend(size_summaries)
        del receiver_ids, sender_ids

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "environment": env,
                    "arguments": {
                        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                    },
                    "runs": [asdict(r) for r in all_runs],
                    "summaries": [
                        {**asdict(s), "cpu_per_million": s.per_million, "throughput": s.throughput}
                        for s in summaries
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
