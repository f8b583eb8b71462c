"""Federated training, 3 offices × 30 rounds: privstats (secure aggregation) against Flower.

Data: the activity demo (``privstats.data.activity_demo.make_activity_demo``, seed 2026):
three offices' feature tables and a held-out test file. Model and training are the same in
both systems: multinomial logistic regression (``privstats.ml.models.LogisticRegression``)
from zero weights on standardized features, each office running one epoch of minibatch SGD
per round (batch 32, lr 0.1, l2 1e-4) on the training rows that privstats' split keeps
(``privstats.jobs.fl_train._split``: 20 % of each office's subjects held out), FedAvg
weighted by examples, all 3 offices every round, 30 rounds; accuracy of the final global
model on the test file.

- privstats: ``run_local_fl_train`` — the 3 offices and the coordinator each in its own
  process on loopback; the standardizer comes from pooled sums and every round's update
  from secure aggregation (``privstats.protocols.secagg``), then a securely aggregated
  held-out evaluation. Timed: the whole call (starting the processes, reading the CSVs,
  training, evaluating on the test file), its own ``seconds``.
- Flower (``flwr``): a ``ServerApp`` with the legacy ``FedAvg`` strategy under
  ``DefaultWorkflow`` and a ``ClientApp`` of ``NumPyClient``s running the same
  ``train_local`` with the minibatch order privstats' offices use, run by
  ``flwr.simulation.run_simulation`` (Ray backend, one CPU per client) with 3 supernodes;
  without and with SecAgg+ (``SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)``
  and ``secaggplus_mod``). The standardizer is fit on the pooled training rows (what
  privstats computes from its pooled sums). Timed: reading the CSVs and the whole
  ``run_simulation`` call, which includes starting Ray and its actors, then evaluating on the
  test file.
- privstats in threads: the same office and coordinator roles, with the same secure
  aggregation, as four threads of this process over in-memory channels
  (``privstats.transport.memory``): no process start-up, imports or TCP.
- numpy: the same FedAvg in one process, no communication (a yardstick).

Flower is not in the ``bench`` extra (its protobuf pin conflicts with openmined-psi's):
install it into the environment first with ``pip install 'flwr[simulation]'``.

Run: ``.venv/bin/python benchmarks/fl_vs_flower.py --json``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from privstats.data.activity_demo import make_activity_demo
from privstats.data.sensors import FeatureTable, read_feature_table
from privstats.jobs.fl_train import (
    COORDINATOR,
    FLSpec,
    _partition,
    coordinator_role,
    evaluate,
    office_role,
    run_local_fl_train,
)
from privstats.ml.models import LogisticRegression, Model, Standardizer, train_local
from privstats.transport.memory import MemoryNetwork, run_parties

sys.path.insert(0, str(Path(__file__).parent))

DEMO_SEED = 2026
SYSTEMS = ("privstats", "privstats-threads", "numpy", "flower", "flower-secagg")


def training_parts(
    offices: dict[str, Path], spec: FLSpec
) -> tuple[list[str], list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """Classes, feature names and each office's (x_train, y_train) as privstats splits them."""
    tables: list[FeatureTable] = [
        read_feature_table(offices[name], label=spec.label, subject=spec.subject)
        for name in sorted(offices)
    ]
    classes = sorted({str(c) for t in tables for c in t.classes})
    index = {c: i for i, c in enumerate(classes)}
    parts = []
    for data in tables:
        train = _partition(data, spec).train
        y = np.array([index[str(v)] for v in data.y], dtype=np.int64)
        parts.append((data.X[train], y[train]))
    return classes, list(tables[0].feature_names), parts


def initial_model(classes: list[str], features: list[str], parts: list[Any]) -> Model:
    standardizer = Standardizer.fit(np.concatenate([x for x, _ in parts]))
    return LogisticRegression(
        len(features), classes, feature_names=features, standardizer=standardizer
    )


def run_numpy(offices: dict[str, Path], test: Path, spec: FLSpec) -> dict[str, Any]:
    started = time.perf_counter()
    classes, features, parts = training_parts(offices, spec)
    model = initial_model(classes, features, parts)
    rngs = [np.random.default_rng(spec.seed + 1) for _ in parts]
    params = model.get_params()
    for _ in range(spec.rounds):
        total, weight = np.zeros_like(params), 0
        for (x, y), rng in zip(parts, rngs, strict=True):
            model.set_params(params)
            train_local(
                model,
                x,
                y,
                epochs=spec.local_epochs,
                batch_size=spec.batch_size,
                lr=spec.lr,
                l2=spec.l2,
                rng=rng,
            )
            total += len(y) * model.get_params()
            weight += len(y)
        params = total / weight
    model.set_params(params)
    accuracy = evaluate(model, test, spec)["accuracy"]
    return {"seconds": time.perf_counter() - started, "accuracy": accuracy, "params": params}


def run_ours(offices: dict[str, Path], test: Path, spec: FLSpec) -> dict[str, Any]:
    run = run_local_fl_train(offices, spec, test=test)
    return {
        "seconds": float(run.result["seconds"]),
        "accuracy": float(run.result["accuracy"]),
        "params": run.model.get_params(),
    }


def run_ours_threads(offices: dict[str, Path], test: Path, spec: FLSpec) -> dict[str, Any]:
    """The same roles and secure aggregation, as threads over in-memory channels."""
    started = time.perf_counter()
    tables = {
        name: read_feature_table(path, label=spec.label, subject=spec.subject)
        for name, path in offices.items()
    }
    roles: dict[str, Any] = {
        name: (lambda channel, data=data: office_role(channel, data, spec))
        for name, data in tables.items()
    }
    roles[COORDINATOR] = lambda channel: coordinator_role(channel, sorted(offices), spec)
    results = run_parties(MemoryNetwork(list(roles)), roles)
    model = Model.from_dict(results[COORDINATOR]["model_state"])
    accuracy = evaluate(model, test, spec)["accuracy"]
    return {
        "seconds": time.perf_counter() - started,
        "accuracy": accuracy,
        "params": model.get_params(),
    }


def run_flower(
    offices: dict[str, Path], test: Path, spec: FLSpec, *, secagg: bool, cpus_per_client: float
) -> dict[str, Any]:
    from flwr.simulation import run_simulation

    from _flower_app import Training, make_apps

    started = time.perf_counter()
    classes, features, parts = training_parts(offices, spec)
    model = initial_model(classes, features, parts)
    training = Training(
        model=model.to_dict(),
        parts=parts,
        rounds=spec.rounds,
        local_epochs=spec.local_epochs,
        batch_size=spec.batch_size,
        lr=spec.lr,
        l2=spec.l2,
        seed=spec.seed,
    )
    server_app, client_app = make_apps(training, secagg=secagg)
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=len(parts),
        backend_config={"client_resources": {"num_cpus": cpus_per_client, "num_gpus": 0.0}},
    )
    if training.final.get("round") != spec.rounds:
        raise RuntimeError(f"Flower stopped after round {training.final.get('round')}")
    model.set_params(training.final["params"])
    accuracy = evaluate(model, test, spec)["accuracy"]
    return {
        "seconds": time.perf_counter() - started,
        "accuracy": accuracy,
        "params": model.get_params(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="demo data and split seed")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument(
        "--cpus-per-client", type=float, default=1.0, help="Flower: Ray CPUs per client actor"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    logging.getLogger("flwr").setLevel(logging.WARNING)

    spec = FLSpec.build(
        label="activity",
        subject="subject",
        rounds=args.rounds,
        strategy="fedavg",  # Flower's FedAvg, a fixed number of rounds: no early stopping
        patience=0,
        local_epochs=1,
        batch_size=32,
        lr=0.1,
        l2=1e-4,
        seed=args.seed,
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="privstats-fl-") as tmp:
        demo = make_activity_demo(tmp, seed=args.seed)
        offices = {name: Path(path) for name, path in demo.offices.items()}
        _, _, parts = training_parts(offices, spec)
        print(
            f"{len(offices)} offices, training rows {[len(y) for _, y in parts]}, "
            f"{args.rounds} rounds, test file {Path(demo.test).name}"
        )
        runners = {
            "privstats": lambda: run_ours(offices, Path(demo.test), spec),
            "privstats-threads": lambda: run_ours_threads(offices, Path(demo.test), spec),
            "numpy": lambda: run_numpy(offices, Path(demo.test), spec),
            "flower": lambda: run_flower(
                offices, Path(demo.test), spec, secagg=False, cpus_per_client=args.cpus_per_client
            ),
            "flower-secagg": lambda: run_flower(
                offices, Path(demo.test), spec, secagg=True, cpus_per_client=args.cpus_per_client
            ),
        }
        for name in args.systems:
            results[name] = runners[name]()
            print(
                f"{name:>17}: {results[name]['seconds']:8.3f} s, "
                f"accuracy {results[name]['accuracy']:.4f}",
                flush=True,
            )
    if "numpy" in results:
        reference = results["numpy"]["params"]
        for name, result in results.items():
            gap = float(np.max(np.abs(result["params"] - reference)))
            print(f"{name:>17}: largest parameter difference from numpy FedAvg {gap:.2e}")

    summary: dict[str, Any] = {"rounds": args.rounds, "offices": 3}
    for name, key in (
        ("privstats", "ours"),
        ("privstats-threads", "ours_threads"),
        ("flower", "flower"),
        ("flower-secagg", "flower_secagg"),
        ("numpy", "numpy"),
    ):
        if name in results:
            summary[f"{key}_seconds"] = round(results[name]["seconds"], 3)
            summary[f"{key}_accuracy"] = round(results[name]["accuracy"], 4)
    if "ours_seconds" in summary:
        for key, label in (("flower_secagg", "Flower SecAgg+"), ("flower", "Flower FedAvg")):
            if f"{key}_seconds" in summary:
                ratio = round(summary[f"{key}_seconds"] / summary["ours_seconds"], 2)
                summary["ratio_secagg" if key == "flower_secagg" else "ratio_plain"] = ratio
                print(f"{label} / privstats = {ratio:.1f}×")
    if "ours_threads_seconds" in summary and "flower_secagg_seconds" in summary:
        ratio = round(summary["flower_secagg_seconds"] / summary["ours_threads_seconds"], 2)
        summary["ratio_secagg_threads"] = ratio
        print(f"Flower SecAgg+ / privstats in threads = {ratio:.1f}×")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
