"""Private probabilistic linkage at scale: ``privstats run linkage-coverage`` on 10⁵ × 10⁵.

Generates a register and a source of people (names, date of birth, sex, postcode, region)
with realistic errors in the source (typos, swapped day and month, moves, missing
values), runs the linkage-coverage computation with the register, the source and the
linker each in its own process over loopback, and prints wall time, CPU seconds, peak
resident memory (VmHWM) and bytes sent per party, with precision and recall of the
matched count against the generator's truth.

    python benchmarks/linkage_scale.py --size 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from privstats.data.readers import write_csv

REGIONS = ["Capital", "North", "East", "South", "West"]
_SYLLABLES = [
    "an",
    "ber",
    "car",
    "da",
    "el",
    "fi",
    "gan",
    "ha",
    "in",
    "jo",
    "ka",
    "li",
    "mar",
    "ne",
    "o",
    "pa",
    "qui",
    "ro",
    "sa",
    "ti",
    "u",
    "va",
    "wil",
    "xe",
    "ya",
    "zo",
    "bel",
    "dor",
    "en",
    "fran",
    "gus",
    "hel",
    "ir",
    "jan",
    "kle",
    "lor",
    "mi",
    "nor",
    "os",
    "per",
    "ric",
    "ste",
    "tho",
    "ul",
    "vic",
    "wen",
]


def _names(rng: np.random.Generator, count: int, parts: int) -> list[str]:
    """Distinct-enough made-up names of ``parts`` syllables (a Zipf-like frequency)."""
    pool = ["".join(rng.choice(_SYLLABLES, parts)).capitalize() for _ in range(count)]
    weights = 1.0 / np.arange(1, count + 1) ** 0.8
    return [pool[i] for i in rng.choice(count, size=count * 40, p=weights / weights.sum())]


def _typo(rng: np.random.Generator, text: str) -> str:
    if len(text) < 3:
        return text
    i = int(rng.integers(1, len(text) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + "aeiourtnsl"[int(rng.integers(10))] + text[i + 1 :]


def make_pair(
    n_register: int, n_source: int, overlap: float, seed: int, error: float = 0.1
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[int | None]]:
    """Register rows, source rows (with errors) and, per source row, the register row it
    is (None: not in the register). Demo data: numpy's seeded generator protects nothing."""
    rng = np.random.default_rng(seed)
    n_people = n_register + n_source
    firsts = _names(rng, max(n_people // 40, 50), 2)
    lasts = _names(rng, max(n_people // 40, 50), 3)
    days = rng.integers(0, 80 * 365, n_people)
    people = [
        {
            "first_name": firsts[int(rng.integers(len(firsts)))],
            "surname": lasts[int(rng.integers(len(lasts)))],
            "dob": str(np.datetime64("1935-01-01") + np.timedelta64(int(days[i]), "D")),
            "sex": "FM"[int(rng.integers(2))],
            "postcode": f"{int(rng.integers(1000, 9999))}",
        }
        for i in range(n_people)
    ]
    for person in people:
        person["region"] = REGIONS[int(person["postcode"]) % len(REGIONS)]
    register = people[:n_register]
    shared = int(overlap * n_source)
    picked = rng.choice(n_register, size=shared, replace=False).tolist()
    truth: list[int | None] = [*picked, *([None] * (n_source - shared))]
    source = [dict(register[i]) for i in picked] + people[
        n_register : n_register + n_source - shared
    ]
    for row in source:
        for name in ("first_name", "surname"):
            if rng.random() < error:
                row[name] = _typo(rng, row[name])
        if rng.random() < error / 3:
            y, m, d = row["dob"].split("-")
            row["dob"] = f"{y}-{d}-{m}" if int(d) <= 12 else row["dob"]
        if rng.random() < error:
            row["postcode"] = f"{int(rng.integers(1000, 9999))}"
        if rng.random() < error / 3:
            row[str(rng.choice(["first_name", "postcode"]))] = ""
        row.pop("region", None)
    order = rng.permutation(n_source)
    return register, [source[i] for i in order], [truth[i] for i in order]


def write_pair(folder: Path, size: int, overlap: float, seed: int) -> list[int | None]:
    """register.csv and source.csv in ``folder``; the truth per source row."""
    register, source, truth = make_pair(size, size, overlap, seed)
    write_csv(folder / "register.csv", {k: [r[k] for r in register] for k in register[0]})
    write_csv(folder / "source.csv", {k: [r[k] for r in source] for k in source[0]})
    return truth


def true_matches_by_region(
    register: list[dict[str, str]], truth: list[int | None]
) -> dict[str, int]:
    """The register persons the source holds, per region."""
    out = dict.fromkeys(REGIONS, 0)
    for row in truth:
        if row is not None:
            out[register[row]["region"]] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--overlap", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from privstats.jobs.linkage_coverage import LinkageCoverageSpec, run_local_linkage_coverage

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        register, source, truth = make_pair(args.size, args.size, args.overlap, args.seed)
        write_csv(folder / "register.csv", {k: [r[k] for r in register] for k in register[0]})
        write_csv(folder / "source.csv", {k: [r[k] for r in source] for k in source[0]})
        spec = LinkageCoverageSpec(
            fields=("first_name", "surname", "dob", "sex", "postcode"), by=("region",)
        )
        run = run_local_linkage_coverage(folder / "register.csv", folder / "source.csv", spec)
    true = sum(1 for t in truth if t is not None)
    matched = run.result["matched"]
    if run.result.get("adjusted"):
        print(json.dumps(run.result["adjusted"]))
    print(f"register {args.size:,} × source {args.size:,}, {true:,} true matches")
    print(
        f"matched {matched:,} (threshold {run.result['linkage']['threshold']:.3f}, "
        f"{run.result['linkage']['candidates']:,} candidate pairs); "
        f"wall {run.result['seconds']:.1f} s"
    )
    print(f"{'party':<10}{'cpu s':>9}{'VmHWM MiB':>11}{'sent MiB':>10}")
    for party, outcome in run.outcomes.items():
        print(
            f"{party:<10}{outcome.cpu_seconds:>9.1f}"
            f"{outcome.peak_rss_bytes / 2**20:>11.0f}{outcome.bytes_sent / 2**20:>10.1f}"
        )
    print(json.dumps({"truth_by_region": true_matches_by_region(register, truth)}))


if __name__ == "__main__":
    main()
