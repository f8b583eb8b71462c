"""Coverage at scale: ``privstats run coverage`` on 10⁶ × 10⁶ identifiers, two processes.

Writes a register (identifier, region, age group) and a source of the same size with a
chosen overlap, runs the coverage computation with each party in its own process over
loopback, checks the matched count against the plaintext intersection, and prints wall
time, CPU seconds, peak resident memory and bytes sent per party.

    python benchmarks/coverage_scale.py --size 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from privstats.data.readers import write_csv
from privstats.jobs.coverage import CoverageSpec, run_local_coverage

REGIONS = ["Capital", "North", "North-East", "East", "South", "South-West", "West", "Islands"]
AGES = ["00-17", "18-34", "35-64", "65-79", "80+"]


def make_files(folder: Path, size: int, overlap: float, seed: int) -> int:
    """Write register.csv and source.csv; return the true intersection size."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**11, size=2 * size, replace=False).astype(str)
    register = ids[:size]
    shared = int(overlap * size)
    source = np.concatenate([register[:shared], ids[size : 2 * size - shared]])
    source = source[rng.permutation(source.size)]
    write_csv(
        folder / "register.csv",
        {
            "person_id": register.tolist(),
            "region": [REGIONS[i] for i in rng.integers(0, len(REGIONS), size)],
            "age_group": [AGES[i] for i in rng.integers(0, len(AGES), size)],
        },
    )
    write_csv(folder / "source.csv", {"person_id": source.tolist()})
    return shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="identifiers per side")
    parser.add_argument("--overlap", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="privstats-scale-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        truth = make_files(folder, args.size, args.overlap, args.seed)
        print(f"wrote 2 × {args.size:,} identifiers in {time.perf_counter() - started:.1f} s")
        spec = CoverageSpec.build(key="person_id", by=("region", "age_group"))
        run = run_local_coverage(folder / "register.csv", folder / "source.csv", spec)

    result = run.result
    assert result["matched"] == truth, (result["matched"], truth)
    print(f"matched {result['matched']:,} = plaintext intersection {truth:,}")
    print(f"wall time of the run: {result['seconds']:.1f} s")
    for party, outcome in run.outcomes.items():
        print(
            f"{party:>8}: cpu {outcome.cpu_seconds:7.1f} s · peak RSS "
            f"{outcome.peak_rss_bytes / 2**30:5.2f} GiB · sent {outcome.bytes_sent / 1e6:7.1f} MB"
        )
    summary = {
        "size": args.size,
        "seconds": result["seconds"],
        "parties": {
            p: {"cpu_seconds": o.cpu_seconds, "peak_rss_bytes": o.peak_rss_bytes}
            for p, o in run.outcomes.items()
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
