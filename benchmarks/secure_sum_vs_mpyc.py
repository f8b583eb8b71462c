"""Secure sum of three parties' vectors: privstats (additive shares in Z/2⁶⁴) against MPyC.

Three parties each hold a vector of ``n`` real values (the same data for both systems,
made from a fixed seed: party ``i``'s vector comes from ``default_rng([seed, i])``). Both
systems compute the element-wise sum of the three vectors and open it to every party.

- privstats: ``privstats.protocols.sharing`` — ``FixedPoint(frac_bits=16)`` encoding into
  the ring ``Ring(1)`` (Z/2⁶⁴) and ``secure_sum`` — with each party in its own OS process
  (``privstats.jobs.local.run_local``), talking over TCP on 127.0.0.1.
- MPyC: three processes of ``benchmarks/_mpyc_party.py`` on loopback (MPyC's ``-M3 -I i``),
  with secure fixed-point arrays (``mpc.SecFxp(32, 16).array``, MPyC's vectorised numpy
  path; Shamir sharing with threshold 1 over an 80-bit prime field): ``mpc.input`` of each
  party's array, ``+``, ``mpc.output``.

What is timed, in both: inside each party, from the moment its connections to the others
are up and its vector (float64) is in memory, to the moment it holds the opened sum as
float64 — fixed-point encoding, sharing, sending, adding, opening and decoding. The figure
reported is the slowest party's time, the median over ``--repeat`` runs that follow
``--warmup`` uncounted runs of each system (the first run after the machine has been idle
is often up to twice as slow, for both systems). Also shown: each party's CPU time over
the same span (all its threads), and the wall time of the whole run (starting the
processes, imports, making the data, connecting, returning the result to this process).
Both results are checked against the plaintext sum, within the fixed-point tolerance
``3 · 2⁻¹⁷``.

Run: ``.venv/bin/python benchmarks/secure_sum_vs_mpyc.py --n 1000000 --json``
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privstats.jobs.local import run_local
from privstats.protocols.sharing import DEFAULT_CHUNK_ELEMENTS, FixedPoint, Ring, secure_sum
from privstats.transport.channel import Channel

SEED = 20240611
PARTIES = 3
FRAC_BITS = 16
MPYC_BIT_LENGTH = 32
"""MPyC's default SecFxp bit length (l = 32, f = 16); the values below stay well inside it."""
VALUE_RANGE = 1000.0
MPYC_PARTY = Path(__file__).with_name("_mpyc_party.py")


def party_values(seed: int, party: int, n: int) -> np.ndarray:
    """Party ``party``'s vector: ``n`` reals uniform in (−1000, 1000), from a fixed seed."""
    rng = np.random.default_rng([seed, party])
    return rng.uniform(-VALUE_RANGE, VALUE_RANGE, n)


def tolerance(parties: int = PARTIES) -> float:
    """Largest error of a sum of ``parties`` values each rounded to 2⁻¹⁶."""
    return parties * FixedPoint(FRAC_BITS).max_error


@dataclass
class Run:
    """One run of one system: the slowest party's in-party time and the whole run's wall time."""

    system: str
    seconds: float
    party_seconds: list[float]
    party_cpu: list[float]
    wall: float
    result: np.ndarray


# --- privstats ------------------------------------------------------------------------


def _ours_role(
    channel: Channel,
    progress: Callable[..., None],
    *,
    index: int,
    n: int,
    seed: int,
    chunk_elements: int,
) -> tuple[np.ndarray | None, float, float]:
    """One party: encode, secure_sum over TCP, decode; returns (sum, seconds, cpu seconds)."""
    values = party_values(seed, index, n)
    parties = [f"p{i}" for i in range(PARTIES)]
    ring, fixed = Ring(1), FixedPoint(FRAC_BITS)
    started, cpu_started = time.perf_counter(), time.process_time()
    shares = ring.from_int64(fixed.encode(values), parties=PARTIES)
    total = secure_sum(channel, parties, shares, ring, chunk_elements=chunk_elements)
    assert total is not None
    opened = fixed.decode(ring.to_int64(total))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # every party opens the sum; only p0 ships it back to the parent for the check
    return (opened if index == 0 else None), seconds, cpu


def run_ours(n: int, seed: int, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Run:
    kwargs = {"n": n, "seed": seed, "chunk_elements": chunk_elements}
    roles = {f"p{i}": (_ours_role, {"index": i, **kwargs}) for i in range(PARTIES)}
    started = time.perf_counter()
    outcomes = run_local(roles)
    wall = time.perf_counter() - started
    outputs = [outcomes[f"p{i}"].output for i in range(PARTIES)]
    result = outputs[0][0]
    return Run(
        "privstats",
        max(out[1] for out in outputs),
        [out[1] for out in outputs],
        [out[2] for out in outputs],
        wall,
        result,
    )


# --- MPyC -----------------------------------------------------------------------------


def _free_base_port(count: int = PARTIES) -> int:
    """A port ``b`` such that ``b, b+1, …, b+count-1`` are free on 127.0.0.1."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            held = []
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return base
    raise RuntimeError("no three consecutive free ports on 127.0.0.1")


def run_mpyc(n: int, seed: int, timeout: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="privstats-mpyc-") as tmp:
        base = _free_base_port()
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(MPYC_PARTY),
                    "-M",
                    str(PARTIES),
                    "-I",
                    str(i),
                    "-B",
                    str(base),
                    "-L",
                    str(MPYC_BIT_LENGTH),
                    "--no-log",
                    "--count",
                    str(n),
                    "--seed",
                    str(seed),
                    "--result",
                    str(Path(tmp) / f"sum-{i}.npy"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(PARTIES)
        ]
        reports = []
        try:
            for i, proc in enumerate(procs):
                out, err = proc.communicate(timeout=timeout)
                if proc.returncode != 0:
                    raise RuntimeError(f"MPyC party {i} failed (exit {proc.returncode}):\n{err}")
                reports.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        wall = time.perf_counter() - started
        results = [np.load(Path(tmp) / f"sum-{i}.npy") for i in range(PARTIES)]
    for i, other in enumerate(results[1:], start=1):
        assert np.array_equal(results[0], other), f"MPyC parties 0 and {i} opened different sums"
    seconds = [r["seconds"] for r in reports]
    return Run("MPyC", max(seconds), seconds, [r["cpu_seconds"] for r in reports], wall, results[0])


# --- main -----------------------------------------------------------------------------


def check(run: Run, expected: np.ndarray) -> float:
    """Assert ``run`` opened the plaintext sum within tolerance; return its largest error."""
    assert run.result.shape == expected.shape, (run.system, run.result.shape, expected.shape)
    error = float(np.abs(run.result - expected).max()) if expected.size else 0.0
    assert error <= tolerance() + 1e-9, f"{run.system}: error {error:.3g} > {tolerance():.3g}"
    return error


def show(run: Run, error: float) -> None:
    parties = ", ".join(f"{s:.2f}" for s in run.party_seconds)
    cpu = ", ".join(f"{s:.2f}" for s in run.party_cpu)
    print(
        f"{run.system:>9}: {run.seconds:8.3f} s (slowest party; parties {parties} s, "
        f"cpu {cpu} s) · wall {run.wall:6.2f} s · max error {error:.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="length of each party's vector")
    parser.add_argument("--repeat", type=int, default=1, help="runs per system; medians shown")
    parser.add_argument(
        "--warmup", type=int, default=1, help="uncounted runs per system before the measured ones"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--systems", nargs="+", choices=["privstats", "mpyc"], default=["privstats", "mpyc"]
    )
    parser.add_argument(
        "--chunk-elements",
        type=int,
        default=DEFAULT_CHUNK_ELEMENTS,
        help="privstats: ring elements per message (secure_sum's chunk_elements)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="per MPyC run, seconds")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    args = parser.parse_args()
    if args.n < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--n and --repeat must be at least 1, --warmup at least 0")

    expected = sum(party_values(args.seed, i, args.n) for i in range(PARTIES))
    print(
        f"{PARTIES} parties × {args.n:,} values in (−{VALUE_RANGE:g}, {VALUE_RANGE:g}), "
        f"fixed point with {FRAC_BITS} fractional bits; tolerance {tolerance():.2e}"
    )
    print(
        f"plaintext sum: first {np.array2string(expected[:3], precision=4)}, "
        f"total of all elements {expected.sum():.4f}"
    )
    runners: dict[str, Callable[[], Run]] = {
        "privstats": lambda: run_ours(args.n, args.seed, args.chunk_elements),
        "mpyc": lambda: run_mpyc(args.n, args.seed, args.timeout),
    }
    for _ in range(args.warmup):
        for name in args.systems:
            run = runners[name]()
            print(f"{run.system:>9}: {run.seconds:8.3f} s (warm-up run, not counted)")
    runs: dict[str, list[Run]] = {name: [] for name in args.systems}
    for _ in range(args.repeat):
        for name in args.systems:  # alternate the systems within each repeat
            run = runners[name]()
            show(run, check(run, expected))
            runs[name].append(run)
    if {"privstats", "mpyc"} <= runs.keys():
        same = np.array_equal(runs["privstats"][0].result, runs["mpyc"][0].result)
        print(f"privstats and MPyC opened bit-identical sums: {same}")

    summary: dict[str, Any] = {"n": args.n, "parties": PARTIES}
    for name, key in (("privstats", "ours"), ("mpyc", "mpyc")):
        if name in runs:
            summary[f"{key}_seconds"] = round(statistics.median(r.seconds for r in runs[name]), 4)
            summary[f"{key}_wall_seconds"] = round(statistics.median(r.wall for r in runs[name]), 3)
            cpu = statistics.median(statistics.mean(r.party_cpu) for r in runs[name])
            summary[f"{key}_cpu_seconds"] = round(cpu, 4)
    if "ours_seconds" in summary and "mpyc_seconds" in summary:
        summary["ratio"] = round(summary["mpyc_seconds"] / summary["ours_seconds"], 2)
        summary["cpu_ratio"] = round(summary["mpyc_cpu_seconds"] / summary["ours_cpu_seconds"], 2)
        print(
            f"median over {args.repeat} run(s): privstats {summary['ours_seconds']:.3f} s, "
            f"MPyC {summary['mpyc_seconds']:.3f} s → MPyC / privstats = {summary['ratio']:.1f}×"
        )
        print(
            f"CPU seconds per party (median of the parties' mean): privstats "
            f"{summary['ours_cpu_seconds']:.3f}, MPyC {summary['mpyc_cpu_seconds']:.3f} → "
            f"{summary['cpu_ratio']:.1f}×"
        )
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
