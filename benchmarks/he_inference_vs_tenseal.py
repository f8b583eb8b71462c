"""Encrypted inference, 100 features: privstats (feature-major packing) against TenSEAL's usual way.

Data: a synthetic 6-class problem made from a fixed seed (``default_rng``; benchmark data,
no protection): each class has a mean vector in ``--features`` dimensions, a record is its
class mean plus unit Gaussian noise, and every feature is then given its own offset and
spread (raw features, so the standardizer matters). 4,096 training records train a
``privstats.ml.models.LogisticRegression`` (and, for ``--model mlp|both``, an ``MLP`` with
16 hidden units and the ``"square"`` activation) with ``train_local``; ``--records``
further records (default 8,192) are scored, written to a CSV with their labels.

- privstats: ``privstats.jobs.he_inference.run_local_he_inference`` — the querier and the
  model holder each in its own process, talking over TCP on 127.0.0.1. The querier packs
  the records feature-major (one ciphertext per feature holding up to 4,096 records, CKKS
  N = 8192), the model holder evaluates its model with plaintext-scalar products only,
  the querier decrypts one ciphertext of scores per class and takes the argmax. Timed: the
  run's ``records_per_second`` — records over the querier's protocol time, from its first
  message to its last decryption, which includes making the CKKS keys and sending the
  public context (1.1 MB for logistic regression, 2.6 MB for the MLP, with
  relinearisation keys). Not timed: starting the two processes and reading the files
  (shown as the run's wall time).
- TenSEAL (the peer), as its tutorials do encrypted logistic-regression inference, in this
  one process, with no network and no serialisation (which favours it): a context with
  ``poly_modulus_degree=8192``, ``coeff_mod_bit_sizes=[60, 40, 40, 60]``, global scale
  2⁴⁰ and Galois keys; per record ``enc = ts.ckks_vector(ctx, record)``, then per class
  ``enc.dot(w_c) + b_c`` and ``decrypt()``, then the argmax. The standardizer is folded
  into the weights (``w/scale``, ``b − (mean/scale)·W``, as privstats' model holder does),
  so both encrypt raw features. Of TenSEAL's three ways to score all classes —
  ``dot`` per class, ``enc.mm(W)`` and ``enc.matmul(W)`` — ``dot`` per class is the
  fastest (in a separate probe of 64 records on this machine: 8.6 records/s against 2.5
  and 2.7), so it is the one timed. Timed: encrypt + evaluate + decrypt of each record of
  a sample (the first ``--peer-records`` records, default 256); records/s is measured on
  that sample and extrapolates linearly, as every record costs the same. Making the
  context and its Galois keys is timed apart and not counted (which favours the peer too).
- Agreement: the share of records whose encrypted-path class equals the plaintext model's
  ``predict`` (for the peer, on its sample). The MLP has no peer row: the peer is the
  tutorials' logistic-regression recipe only.

Run: ``.venv/bin/python benchmarks/he_inference_vs_tenseal.py --json``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tenseal as ts

from privstats.jobs.he_inference import run_local_he_inference
from privstats.ml.models import MLP, LogisticRegression, Model, Standardizer, train_local

SEED = 20240917
CLASSES = 6
TRAIN_RECORDS = 4096
CLASS_SEPARATION = 0.3
"""Standard deviation of the class means' coordinates (the noise has 1): overlapping classes."""
PEER_POLY_MODULUS_DEGREE = 8192
PEER_COEFF_MOD_BIT_SIZES = (60, 40, 40, 60)
PEER_SCALE_BITS = 40


def make_data(
    features: int, n_train: int, n_score: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and scoring records (raw features) with their class indices."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, CLASS_SEPARATION, size=(CLASSES, features))
    offset = rng.uniform(-20.0, 80.0, size=features)
    spread = rng.uniform(0.5, 10.0, size=features)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, CLASSES, size=n)
        x = offset + spread * (means[y] + rng.normal(size=(n, features)))
        return x, y

    x_train, y_train = draw(n_train)
    x_score, y_score = draw(n_score)
    return x_train, y_train, x_score, y_score


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    """Features then ``label``; floats as ``repr``, so reading them back gives the same values."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, "label"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            writer.writerow([*row, f"c{label}"])


def train(kind: str, x: np.ndarray, y: np.ndarray, names: list[str], seed: int) -> Model:
    """The trained model of ``kind`` (``logreg`` or ``mlp``), standardizer fit on ``x``."""
    classes = [f"c{i}" for i in range(CLASSES)]
    common: dict[str, Any] = {"feature_names": names, "standardizer": Standardizer.fit(x)}
    model: Model
    if kind == "logreg":
        model = LogisticRegression(x.shape[1], classes, **common)
        lr = 0.05
    else:
        model = MLP(
            x.shape[1],
            classes,
            rng=np.random.default_rng(seed),
            hidden=(16,),
            activation="square",
            **common,
        )
        lr = 0.01
    train_local(
        model, x, y, epochs=20, batch_size=64, lr=lr, l2=1e-4, rng=np.random.default_rng(seed)
    )
    return model


# --- privstats ------------------------------------------------------------------------


def run_ours(model: Model, model_path: Path, data_path: Path) -> dict[str, Any]:
    model.save(model_path)
    result = run_local_he_inference(model_path, data_path, label="label").result
    return {
        "records": result["records"],
        "records_per_second": float(result["records_per_second"]),
        "agreement": float(result["agreement_with_plaintext"]),
        "accuracy": float(result["accuracy"]),
        "protocol_seconds": float(result["protocol_seconds"]),
        "wall_seconds": float(result["seconds"]),
        "ckks": result["ckks"],
    }


# --- TenSEAL --------------------------------------------------------------------------


def folded_weights(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression's (W, b) on raw features: the standardizer folded in."""
    assert isinstance(model, LogisticRegression) and model.standardizer is not None
    features, classes = model.n_features, model.n_classes
    params = model.get_params()
    weights = params[: features * classes].reshape(features, classes)
    bias = params[features * classes :]
    mean, scale = model.standardizer.mean, model.standardizer.scale
    return weights / scale[:, None], bias - (mean / scale) @ weights


def peer_context() -> ts.Context:
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=PEER_POLY_MODULUS_DEGREE,
        coeff_mod_bit_sizes=list(PEER_COEFF_MOD_BIT_SIZES),
    )
    ctx.global_scale = 2**PEER_SCALE_BITS
    ctx.generate_galois_keys()
    return ctx


def run_peer(model: Model, x: np.ndarray) -> dict[str, Any]:
    """Score each row of ``x`` as its own CKKS vector: ``dot`` per class, decrypt, argmax."""
    weights, bias = folded_weights(model)
    plain = model.predict_proba(x).argmax(axis=1)
    assert np.array_equal(np.argmax(x @ weights + bias, axis=1), plain), "folding changed classes"
    columns = [weights[:, c].tolist() for c in range(weights.shape[1])]
    biases = bias.tolist()
    started = time.perf_counter()
    ctx = peer_context()
    context_seconds = time.perf_counter() - started

    scores = np.empty((len(x), len(columns)))
    spent = {"encrypt": 0.0, "evaluate": 0.0, "decrypt": 0.0}
    rows = x.tolist()
    started = time.perf_counter()
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        enc = ts.ckks_vector(ctx, row)
        t1 = time.perf_counter()
        outs = [enc.dot(w) + b for w, b in zip(columns, biases, strict=True)]
        t2 = time.perf_counter()
        scores[i] = [out.decrypt()[0] for out in outs]
        t3 = time.perf_counter()
        spent["encrypt"] += t1 - t0
        spent["evaluate"] += t2 - t1
        spent["decrypt"] += t3 - t2
    seconds = time.perf_counter() - started
    predicted = scores.argmax(axis=1)
    return {
        "records": len(x),
        "records_per_second": len(x) / seconds,
        "agreement": float(np.mean(predicted == model.predict(x))),
        "seconds": seconds,
        "context_seconds": context_seconds,
        "ms_per_record": {k: 1000 * v / len(x) for k, v in spent.items()},
        "max_score_error": float(np.abs(scores - (x @ weights + bias)).max()),
    }


# --- main -----------------------------------------------------------------------------


def show(rows: list[dict[str, Any]]) -> None:
    header = f"{'system':<38} {'records':>8} {'records/s':>10} {'agreement':>10} {'ours/peer':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.0f}×"
        print(
            f"{row['system']:<38} {row['records']:>8,} {row['records_per_second']:>10,.1f} "
            f"{row['agreement']:>10.4%} {ratio:>10}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=8192, help="records to score")
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument(
        "--peer-records", type=int, default=256, help="TenSEAL: records of the timed sample"
    )
    parser.add_argument("--model", choices=["logreg", "mlp", "both"], default="both")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    args = parser.parse_args()
    if args.records < 1 or args.features < 1 or args.peer_records < 0:
        parser.error("--records and --features must be at least 1, --peer-records at least 0")
    kinds = ["logreg", "mlp"] if args.model == "both" else [args.model]

    x_train, y_train, x_score, y_score = make_data(
        args.features, TRAIN_RECORDS, args.records, args.seed
    )
    names = [f"f{i:03d}" for i in range(args.features)]
    print(
        f"{CLASSES} classes × {args.features} features: {TRAIN_RECORDS:,} training records, "
        f"{args.records:,} to score; TenSEAL on the first {min(args.peer_records, args.records):,}"
    )
    load = [round(v, 2) for v in os.getloadavg()]
    print(f"load average at start (1, 5, 15 min): {load}")
    summary: dict[str, Any] = {"records": args.records, "features": args.features, "load": load}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="privstats-he-bench-") as tmp:
        data_path = Path(tmp) / "records.csv"
        write_csv(data_path, x_score, y_score, names)
        for kind in kinds:
            model = train(kind, x_train, y_train, names, args.seed)
            plain_accuracy = float(np.mean(model.predict(x_score) == y_score))
            ours = run_ours(model, Path(tmp) / f"{kind}.json", data_path)
            print(
                f"privstats {kind}: {ours['protocol_seconds']:.2f} s protocol time "
                f"({ours['wall_seconds']:.2f} s with process start-up), CKKS {ours['ckks']}, "
                f"accuracy {ours['accuracy']:.4f} (plaintext {plain_accuracy:.4f})",
                flush=True,
            )
            summary[f"ours_{kind}"] = {**ours, "plaintext_accuracy": plain_accuracy}
            rows.append({"system": f"privstats {kind} (packed, 2 processes)", **ours})
            if kind != "logreg" or not args.peer_records:
                continue
            sample = x_score[: args.peer_records]
            peer = run_peer(model, sample)
            split = ", ".join(f"{k} {v:.1f}" for k, v in peer["ms_per_record"].items())
            print(
                f"TenSEAL logreg: {peer['seconds']:.2f} s for {peer['records']:,} records "
                f"(ms per record: {split}); context and Galois keys "
                f"{peer['context_seconds']:.2f} s, not counted; largest score error "
                f"{peer['max_score_error']:.1e}",
                flush=True,
            )
            summary["peer_logreg"] = peer
            rows.append({"system": "TenSEAL logreg (per-record dot, 1 proc)", **peer})
    peer_rate = summary.get("peer_logreg", {}).get("records_per_second")
    for row in rows:
        same_model = row["system"].startswith("privstats logreg")
        row["ratio"] = row["records_per_second"] / peer_rate if peer_rate and same_model else None
    if peer_rate and "ours_logreg" in summary:
        summary["ratio_logreg"] = round(summary["ours_logreg"]["records_per_second"] / peer_rate, 1)
    print()
    show(rows)
    if "mlp" in kinds:
        print("The MLP has no peer row: the TenSEAL baseline is logistic regression only.")
    if peer_rate:
        print(
            "TenSEAL's records/s is measured on its sample, in one process without network; "
            "privstats' includes key generation and loopback TCP."
        )
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
