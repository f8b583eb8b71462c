"""Join-aggregate of N × N records: privstats against Paillier intersection-sum and pandas.

A *left* party (a register: ``person_id``, ``region``) and a *right* party (a tax office:
``person_id``, ``income``, ``savings``) want, per region, the count, sums and means of the
right party's values over the persons both hold. The data come from a fixed seed: ``N``
rows on each side, half of the identifiers shared, twelve regions of which one is rare
(so that the minimum-cell rule withholds it), integer incomes and savings (savings may be
negative). They are written as CSV to a temporary folder.

Three contenders in one run:

- **privstats**: ``privstats.jobs.join_aggregate.run_local_join_aggregate`` with
  ``JoinAggregateSpec.build(key="person_id", by=("region",), right_values=("income",
  "savings"), min_cell=10, decimals=0)``; each party in its own process over loopback.
  Timed: ``run.result["seconds"]``, the whole run (starting the processes, reading and
  checking the CSV files, the protocol, the release).
- **Paillier intersection-sum**, the textbook way (Google's private-join-and-compute,
  Ion et al. 2020): double-blinded hashes in ristretto255 (``privstats.crypto.group``) for
  the join, Paillier (``phe``, 2048-bit keys, gmpy2) for the values. The left party sends
  ``H(id)^a`` grouped by region (this reveals the region sizes to the right party); the
  right party returns them as ``H(id)^ab``, shuffled within each region, and sends its own
  ``(H(id)^b, Enc(income), Enc(savings))`` shuffled; the left party raises those to ``a``,
  matches, adds the ciphertexts per region, re-randomises the sums and sends them back;
  the right party decrypts. Both parties run in their own processes over loopback TCP
  (``privstats.jobs.local.run_local``). Paillier encryption runs at about a hundred values
  per second, so this runs on a **sample** (``--paillier-sample`` rows per side, half of
  them shared) and the time is **extrapolated linearly** to N: key generation and the
  re-randomising and decrypting of the 24 sums do not grow with N and are added once;
  everything else is scaled by N / sample.
- **pandas**: ``read_csv`` of both files, ``merge`` on the key, ``groupby`` region with
  count, sum and mean (timed with and without reading the files; the median of three
  runs); the overhead factor is privstats / pandas (with reading).

Every run checks that privstats' released counts and sums equal pandas' exactly, and that
the Paillier sample's per-region counts and sums equal pandas' on the same sample.

Run: ``.venv/bin/python benchmarks/join_aggregate_vs_paillier.py --n 100000 --json``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from phe import paillier

from privstats.crypto import group
from privstats.jobs.local import PartyOutcome, run_local
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

SEED = 20240611
MIN_CELL = 10
PANDAS_RUNS = 3
KEY_BITS = 2048
CIPHERTEXT_BYTES = 2 * KEY_BITS // 8
REGIONS = ["Capital", "North", "North-East", "North-West", "East", "Centre", "South"]
REGIONS += ["South-East", "South-West", "West", "Lakes", "Islands"]
RARE_REGION = "Islands"
RARE_SHARE = 1e-4
"""The share of left rows in the rare region: about 5 matched persons at N = 10⁵."""
VALUES = ("income", "savings")
LEFT, RIGHT = "left", "right"
CONTEXT = b"benchmark private-join-and-compute v1"


# --- data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """Both parties' rows; ``shared`` identifiers occur on both sides."""

    left: pd.DataFrame
    right: pd.DataFrame
    shared: int


def make_tables(n: int, seed: int, overlap: float = 0.5) -> Tables:
    """``n`` rows per side, ``overlap · n`` shared identifiers, rows in random order."""
    rng = np.random.default_rng(seed)
    shared = round(overlap * n)
    ids = np.char.mod("%011d", rng.choice(10**11, size=2 * n - shared, replace=False))
    weights = np.full(len(REGIONS), (1 - RARE_SHARE) / (len(REGIONS) - 1))
    weights[REGIONS.index(RARE_REGION)] = RARE_SHARE
    left = pd.DataFrame(
        {
            "person_id": ids[:n],
            "region": np.array(REGIONS)[rng.choice(len(REGIONS), size=n, p=weights)],
        }
    )
    right = pd.DataFrame(
        {
            # the first `shared` identifiers are the left's first `shared`
            "person_id": np.concatenate([ids[:shared], ids[n:]]),
            "income": np.rint(rng.lognormal(10.3, 0.6, n)).astype(np.int64),
            "savings": np.rint(rng.normal(15_000, 30_000, n)).astype(np.int64),
        }
    )
    left = left.iloc[rng.permutation(n)].reset_index(drop=True)
    right = right.iloc[rng.permutation(n)].reset_index(drop=True)
    return Tables(left, right, shared)


def sample_tables(tables: Tables, size: int, seed: int) -> Tables:
    """``size`` rows per side, half of them shared: the same mix as the full data."""
    rng = np.random.default_rng([seed, 1])
    shared_ids = set(tables.left["person_id"]) & set(tables.right["person_id"])
    half = min(size // 2, len(shared_ids))
    left_shared = tables.left["person_id"].isin(shared_ids)
    right_shared = tables.right["person_id"].isin(shared_ids)
    common = rng.choice(sorted(shared_ids), size=half, replace=False)

    def pick(frame: pd.DataFrame, is_shared: pd.Series) -> pd.DataFrame:
        own = frame[~is_shared]
        rows = pd.concat(
            [frame[frame["person_id"].isin(common)], own.iloc[: size - half]],
            ignore_index=True,
        )
        return rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)

    return Tables(pick(tables.left, left_shared), pick(tables.right, right_shared), half)


def write_tables(tables: Tables, folder: Path) -> tuple[Path, Path]:
    left, right = folder / "left.csv", folder / "right.csv"
    tables.left.to_csv(left, index=False)
    tables.right.to_csv(right, index=False)
    return left, right


# --- pandas ---------------------------------------------------------------------------


def pandas_aggregate(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    joined = left.merge(right, on="person_id", how="inner")
    return joined.groupby("region").agg(
        count=("person_id", "size"),
        **{f"sum:{v}": (v, "sum") for v in VALUES},
        **{f"mean:{v}": (v, "mean") for v in VALUES},
    )


def run_pandas(left_csv: Path, right_csv: Path) -> tuple[pd.DataFrame, float, float]:
    """The plaintext result; seconds with reading the files, and without."""
    started = time.perf_counter()
    left = pd.read_csv(left_csv, dtype={"person_id": str, "region": str})
    right = pd.read_csv(right_csv, dtype={"person_id": str})
    computing = time.perf_counter()
    table = pandas_aggregate(left, right)
    done = time.perf_counter()
    return table, done - started, done - computing


# --- privstats ------------------------------------------------------------------------


def run_ours(left_csv: Path, right_csv: Path) -> tuple[dict[str, Any], dict[str, PartyOutcome]]:
    from privstats.jobs.join_aggregate import JoinAggregateSpec, run_local_join_aggregate

    spec = JoinAggregateSpec.build(
        key="person_id", by=("region",), right_values=VALUES, min_cell=MIN_CELL, decimals=0
    )
    run = run_local_join_aggregate(left_csv, right_csv, spec)
    return run.result, run.outcomes


def check_ours(result: dict[str, Any], expected: pd.DataFrame) -> tuple[int, list[str]]:
    """Released counts and sums must equal pandas exactly; return (released, withheld)."""
    released, withheld = 0, []
    seen = set()
    for row in result["groups"]:
        region = row["by"]["region"]
        seen.add(region)
        if row.get("suppressed"):
            withheld.append(region)
            continue
        released += 1
        assert region in expected.index, f"privstats released {region!r}, pandas has no match"
        truth = expected.loc[region]
        assert row["count"] == int(truth["count"]), (region, row["count"], truth["count"])
        for value in VALUES:
            ours, theirs = row[f"sum:{value}"], int(truth[f"sum:{value}"])
            assert ours == theirs, f"{region} sum:{value}: privstats {ours}, pandas {theirs}"
    missing = set(expected.index) - seen
    assert not missing, f"regions with matches that privstats does not list: {sorted(missing)}"
    return released, withheld


# --- Paillier intersection-sum (textbook private join and compute) --------------------


@message("bench.pjc.key", 1)
class PublicKey(Message):
    n: bytes


@message("bench.pjc.blinded", 1)
class Blinded(Message):
    by_region: list[bytes]  # packed H(id)^a, one entry per region (sizes are revealed)


@message("bench.pjc.double", 1)
class DoubleBlinded(Message):
    by_region: list[bytes]  # packed H(id)^ab, shuffled within each region


@message("bench.pjc.pairs", 1)
class EncryptedPairs(Message):
    points: bytes  # packed H(id)^b of the right party, shuffled
    ciphertexts: list[bytes]  # Enc(income), Enc(savings) per point, in the same order


@message("bench.pjc.sums", 1)
class EncryptedSums(Message):
    ciphertexts: list[bytes]  # per region: Enc(Σ income), Enc(Σ savings), re-randomised


def _shuffled_points(packed: bytes) -> bytes:
    points = [packed[i : i + 32] for i in range(0, len(packed), 32)]
    random.SystemRandom().shuffle(points)
    return b"".join(points)


def _pjc_left(
    channel: Channel, progress: Callable[..., None], *, ids: list[str], regions: list[str]
) -> dict[str, Any]:
    """The left party: holds regions; learns the matched count per region."""
    key = group.Scalar.random()
    public = paillier.PaillierPublicKey(int.from_bytes(channel.recv(RIGHT, PublicKey).n, "big"))
    started, phases = time.perf_counter(), {}
    by_region: dict[str, list[bytes]] = {r: [] for r in REGIONS}
    for person, region in zip(ids, regions, strict=True):
        by_region[region].append(person.encode())
    blinded = [
        group.multiply(key, group.hash_to_group(by_region[r], context=CONTEXT)) for r in REGIONS
    ]
    channel.send(RIGHT, Blinded(blinded))
    phases["blind own"] = time.perf_counter() - started
    double = channel.recv(RIGHT, DoubleBlinded).by_region
    pairs = channel.recv(RIGHT, EncryptedPairs)
    mark = time.perf_counter()
    theirs = group.multiply(key, pairs.points)
    region_of = {
        double[g][k : k + 32]: g for g in range(len(REGIONS)) for k in range(0, len(double[g]), 32)
    }
    counts = [0] * len(REGIONS)
    # Enc(0) with r = 1 as the starting point; the sums are re-randomised before they leave
    sums = [[public.encrypt(0, r_value=1) for _ in VALUES] for _ in REGIONS]
    for j in range(0, len(theirs) // 32):
        g = region_of.get(theirs[32 * j : 32 * j + 32])
        if g is None:
            continue
        counts[g] += 1
        for v in range(len(VALUES)):
            ciphertext = int.from_bytes(pairs.ciphertexts[len(VALUES) * j + v], "big")
            sums[g][v] = sums[g][v] + paillier.EncryptedNumber(public, ciphertext)
    phases["match and add"] = time.perf_counter() - mark
    mark = time.perf_counter()
    out = []
    for g in range(len(REGIONS)):
        for v in range(len(VALUES)):
            sums[g][v].obfuscate()
            out.append(sums[g][v].ciphertext().to_bytes(CIPHERTEXT_BYTES, "big"))
    rerandomise = time.perf_counter() - mark
    phases["re-randomise sums"] = rerandomise
    channel.send(RIGHT, EncryptedSums(out))
    return {
        "counts": counts,
        "seconds": time.perf_counter() - started,
        "rerandomise": rerandomise,
        "phases": phases,
    }


def _pjc_right(
    channel: Channel,
    progress: Callable[..., None],
    *,
    ids: list[str],
    values: list[tuple[int, ...]],
) -> dict[str, Any]:
    """The right party: holds the values; learns the sums per region."""
    keygen = time.perf_counter()
    public, private = paillier.generate_paillier_keypair(n_length=KEY_BITS)
    keygen = time.perf_counter() - keygen
    key = group.Scalar.random()
    channel.send(LEFT, PublicKey(public.n.to_bytes(KEY_BITS // 8, "big")))
    started, phases = time.perf_counter(), {}
    # own points and values, in one secret random order
    order = list(range(len(ids)))
    random.SystemRandom().shuffle(order)
    points = group.multiply(
        key, group.hash_to_group([ids[i].encode() for i in order], context=CONTEXT)
    )
    phases["blind own"] = time.perf_counter() - started
    mark = time.perf_counter()
    ciphertexts = [
        public.encrypt(int(values[i][v])).ciphertext().to_bytes(CIPHERTEXT_BYTES, "big")
        for i in order
        for v in range(len(VALUES))
    ]
    phases["encrypt values"] = time.perf_counter() - mark
    blinded = channel.recv(LEFT, Blinded).by_region
    mark = time.perf_counter()
    double = [_shuffled_points(group.multiply(key, packed)) for packed in blinded]
    phases["re-blind left"] = time.perf_counter() - mark
    channel.send(LEFT, DoubleBlinded(double))
    channel.send(LEFT, EncryptedPairs(points, ciphertexts))
    sums = channel.recv(LEFT, EncryptedSums).ciphertexts
    mark = time.perf_counter()
    plain = [
        private.decrypt(paillier.EncryptedNumber(public, int.from_bytes(c, "big"))) for c in sums
    ]
    decrypt = time.perf_counter() - mark
    phases["decrypt"] = decrypt
    return {
        "sums": [plain[g * len(VALUES) : (g + 1) * len(VALUES)] for g in range(len(REGIONS))],
        "seconds": time.perf_counter() - started,
        "keygen": keygen,
        "decrypt": decrypt,
        "phases": phases,
    }


@dataclass(frozen=True)
class PaillierRun:
    sample: int
    seconds: float  # protocol wall time on the sample (slowest party, after key generation)
    keygen: float
    fixed: float  # the parts that do not grow with n: re-randomising and decrypting the sums
    phases: dict[str, float]
    table: pd.DataFrame

    def extrapolate(self, n: int) -> float:
        """Key generation and the fixed parts once; everything else scaled by n / sample."""
        return self.keygen + self.fixed + (self.seconds - self.fixed) * n / self.sample


def run_paillier(sample: Tables) -> PaillierRun:
    left, right = sample.left, sample.right
    outcomes = run_local(
        {
            LEFT: (
                _pjc_left,
                {"ids": left["person_id"].tolist(), "regions": left["region"].tolist()},
            ),
            RIGHT: (
                _pjc_right,
                {
                    "ids": right["person_id"].tolist(),
                    "values": list(zip(*(right[v].tolist() for v in VALUES), strict=True)),
                },
            ),
        },
        timeout=24 * 3600.0,
    )
    out_left, out_right = outcomes[LEFT].output, outcomes[RIGHT].output
    rows = {
        region: {
            "count": out_left["counts"][g],
            **{f"sum:{v}": out_right["sums"][g][k] for k, v in enumerate(VALUES)},
        }
        for g, region in enumerate(REGIONS)
        if out_left["counts"][g]
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    phases = {f"left: {k}": s for k, s in out_left["phases"].items()}
    phases |= {f"right: {k}": s for k, s in out_right["phases"].items()}
    return PaillierRun(
        sample=len(left),
        seconds=max(out_left["seconds"], out_right["seconds"]),
        keygen=out_right["keygen"],
        fixed=out_left["rerandomise"] + out_right["decrypt"],
        phases=phases,
        table=table,
    )


def check_paillier(run: PaillierRun, sample: Tables) -> None:
    expected = pandas_aggregate(sample.left, sample.right)
    assert sorted(run.table.index) == sorted(expected.index), (run.table.index, expected.index)
    for region in expected.index:
        for column in ("count", *(f"sum:{v}" for v in VALUES)):
            ours, theirs = int(run.table.loc[region, column]), int(expected.loc[region, column])
            assert ours == theirs, f"Paillier {region} {column}: {ours}, pandas {theirs}"


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows on each side")
    parser.add_argument(
        "--paillier-sample", type=int, default=2000, help="rows per side for the Paillier run"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--skip-paillier", action="store_true")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    args = parser.parse_args()
    if args.n < 2 or args.paillier_sample < 2:
        parser.error("--n and --paillier-sample must be at least 2")

    tables = make_tables(args.n, args.seed)
    summary: dict[str, Any] = {"n": args.n}
    with tempfile.TemporaryDirectory(prefix="privstats-join-") as tmp:
        left_csv, right_csv = write_tables(tables, Path(tmp))
        print(
            f"{args.n:,} × {args.n:,} rows, {tables.shared:,} shared identifiers, "
            f"{len(REGIONS)} regions (one rare), values {', '.join(VALUES)}"
        )
        pandas_runs = [run_pandas(left_csv, right_csv) for _ in range(PANDAS_RUNS)]
        expected = pandas_runs[0][0]
        pandas_seconds = statistics.median(r[1] for r in pandas_runs)
        pandas_compute = statistics.median(r[2] for r in pandas_runs)
        print(
            f"   pandas: {pandas_seconds:9.3f} s (read_csv + merge + groupby, median of "
            f"{PANDAS_RUNS}: {', '.join(f'{r[1]:.3f}' for r in pandas_runs)} s; "
            f"{pandas_compute:.3f} s without reading)"
        )
        result, outcomes = run_ours(left_csv, right_csv)
    released, withheld = check_ours(result, expected)
    ours_seconds = float(result["seconds"])
    print(
        f"privstats: {ours_seconds:9.3f} s (run_local_join_aggregate, two processes; "
        f"{released} regions released, {len(withheld)} withheld; counts and sums = pandas)"
    )
    matched = {r: int(expected.loc[r, "count"]) if r in expected.index else 0 for r in withheld}
    print(f"           withheld (matched persons per pandas): {matched}")
    summary["ours_seconds"] = ours_seconds
    for party, outcome in outcomes.items():
        print(
            f"           {party:>6}: cpu {outcome.cpu_seconds:7.1f} s · peak RSS "
            f"{outcome.peak_rss_bytes / 2**20:6.0f} MiB · sent {outcome.bytes_sent / 1e6:6.1f} MB"
        )
    summary["ours_cpu_seconds"] = {p: round(o.cpu_seconds, 2) for p, o in outcomes.items()}
    summary["pandas_seconds"] = round(pandas_seconds, 4)
    summary["pandas_compute_seconds"] = round(pandas_compute, 4)

    if not args.skip_paillier:
        sample = sample_tables(tables, min(args.paillier_sample, args.n), args.seed)
        paillier_run = run_paillier(sample)
        check_paillier(paillier_run, sample)
        extrapolated = paillier_run.extrapolate(args.n)
        print(
            f" Paillier: {extrapolated:9.1f} s EXTRAPOLATED to {args.n:,} rows per side from a "
            f"sample of {paillier_run.sample:,} rows per side ({sample.shared:,} shared), "
            f"which took {paillier_run.seconds:.2f} s (+ key generation "
            f"{paillier_run.keygen:.2f} s); sample counts and sums = pandas"
        )
        for phase, seconds in paillier_run.phases.items():
            print(f"           {phase:>22}: {seconds:8.3f} s on the sample")
        summary["paillier_seconds_extrapolated"] = round(extrapolated, 1)
        summary["paillier_sample"] = paillier_run.sample
        summary["paillier_sample_seconds"] = round(paillier_run.seconds, 3)
        summary["ratio_paillier_over_ours"] = round(extrapolated / ours_seconds, 1)
        print(f"Paillier / privstats = {summary['ratio_paillier_over_ours']:,.1f}×")
    summary["overhead_vs_pandas"] = round(ours_seconds / pandas_seconds, 1)
    print(f"privstats / pandas = {summary['overhead_vs_pandas']:,.1f}×")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
