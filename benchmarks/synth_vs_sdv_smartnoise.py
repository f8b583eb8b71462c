"""Synthetic microdata, UCI Adult: privstats (CART, copula, MST) against SDV and smartnoise-synth.

Data: the UCI Adult census extract (1994 CPS; 32,561 records × 15 columns) as shipped in the
``mglearn==0.2.0`` wheel (``mglearn/data/adult.data``: the raw UCI file, no header, ", "
separators, ``?`` for missing). It is located with ``importlib.util.find_spec("mglearn")``
without importing mglearn, in this interpreter or else in the peer interpreter; ``--data``
names another copy. workclass, occupation and native-country have missing values (5.6 %,
5.7 %, 1.8 %); the six numeric columns are integers; capital-gain is 92 % zero and
capital-loss 95 %. The extract is read with ``privstats.synth.schema.read_microdata`` (the
nine text columns categorical), so the schema's category lists are those of the whole
extract (UCI's published code lists, which are public). A seeded numpy permutation (benchmark
data, nothing protected) splits it into 80 % training records (26,049) and a 20 % holdout
(6,512) that no synthesizer sees. Every synthesizer fits the training records and samples
as many synthetic records.

Contenders, each in its own child process (this script with ``--child``), so that wall time
and peak memory are measured the same way for all:

- privstats ``make_synthesizer("cart")``, ``make_synthesizer("copula")`` with their defaults,
  and ``make_synthesizer("mst", epsilon=1.0, bounds=PUBLIC_BOUNDS)`` (other options default:
  δ = 1e-9, 16 bins), run by this venv's interpreter;
- SDV's ``GaussianCopulaSynthesizer`` with its defaults (beta marginals, min/max and rounding
  enforced), metadata declaring the nine categorical and six integer columns;
- smartnoise-synth's MST, ``snsynth.Synthesizer.create("mst", epsilon=1.0, delta=1e-9)``.
  MST takes discrete columns only, so this script codes the training records with privstats'
  MST coding itself (``privstats.synth.mst._coding``: same public bounds, same bins, a
  missing value one more cell) and hands smartnoise the cell codes, with a
  ``TableTransformer`` of ``LabelTransformer``s fitted on the public domain (every cell, not
  the data), so no budget goes to bounds or to the domain (``preprocessor_eps`` 0). The
  cells it samples are decoded here by the same coding (``_Coding.decode``: a whole number
  drawn uniformly within the bin), outside its timed sampling (milliseconds).

The peers are run by the peer interpreter (``--peer-python``, default ``$PRIVSTATS_PEER_PYTHON``,
else this interpreter): smartnoise-synth pins an old opendp (0.14) where privstats needs
``opendp>=0.16``, so they live in a separate venv, installed by hand and in no pyproject
extra::

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install sdv smartnoise-synth mglearn==0.2.0 psutil pandas

A child reads the training CSV and the public spec (schema, bounds, bins, ε, δ), fits and
samples, writes its synthetic CSV into the temporary directory and prints one JSON line: the
fit and sample seconds (``time.perf_counter``, imports and reading excluded), its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after sampling, so imports
count: a library's import is part of its cost) and the resident memory just before fitting.

Every synthetic table is then scored here by privstats' ``utility_report`` (real = the
training records, TSTR tested on the holdout, target ``income``, regression
``hours-per-week ~ age + sex + education-num``) and ``risk_report`` (holdout for DCR,
quasi-identifiers age, sex, race, marital-status, native-country, sensitive ``income``), and
by each numeric column's share of zeros, real (training) against synthetic.

Run (from the repository root, after installing the peer venv as above)::

    PRIVSTATS_PEER_PYTHON=/work/bench-venv/bin/python \\
        .venv/bin/python benchmarks/synth_vs_sdv_smartnoise.py --json

``--only ours-cart ours-mst`` runs a subset, ``--rows N`` uses a seeded subsample of N
records of the extract (before the 80/20 split), ``--seed`` changes the split and the seeds.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED = 2026
COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
CATEGORICAL = (
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
    "income",
)
PUBLIC_BOUNDS: dict[str, tuple[float, float]] = {
    # From the UCI documentation and the CPS questionnaire, not from the data: adults 17–90
    # (the CPS top-codes age at 90), the 16 education levels, hours 1–99 (CPS top code),
    # capital gains top-coded at 99,999 and losses at 4,356 in the public file, and a
    # generous ceiling for the final weight.
    "age": (17, 90),
    "fnlwgt": (0, 1_500_000),
    "education-num": (1, 16),
    "capital-gain": (0, 99_999),
    "capital-loss": (0, 4_356),
    "hours-per-week": (1, 99),
}
EPSILON = 1.0
TARGET = "income"
REGRESSION = "hours-per-week ~ age + sex + education-num"
QUASI_IDENTIFIERS = ("age", "sex", "race", "marital-status", "native-country")
SENSITIVE = "income"
TRAIN_SHARE = 0.8
CHILD_TIMEOUT = 3600.0
SYSTEMS: dict[str, str] = {
    "ours-cart": "privstats CART",
    "ours-copula": "privstats copula",
    "ours-mst": "privstats MST ε=1",
    "sdv-copula": "SDV GaussianCopula",
    "smartnoise-mst": "smartnoise MST ε=1",
}
PEERS = ("sdv-copula", "smartnoise-mst")
PAIRS = (("ours-copula", "sdv-copula"), ("ours-mst", "smartnoise-mst"))
RESULT_MARK = "RESULT "


# --- data -----------------------------------------------------------------------------


def locate_adult(peer_python: str) -> Path:
    """``mglearn/data/adult.data``, found without importing mglearn (here or in the peer)."""
    spec = importlib.util.find_spec("mglearn")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "data" / "adult.data"
    probe = (
        "import importlib.util; s = importlib.util.find_spec('mglearn'); "
        "print(list(s.submodule_search_locations)[0] if s else '')"
    )
    found = subprocess.run(
        [peer_python, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not found:
        raise SystemExit(
            "mglearn is not installed here nor in the peer interpreter: "
            "pip install mglearn==0.2.0 (or pass --data PATH to adult.data)"
        )
    return Path(found) / "data" / "adult.data"


def clean_extract(raw: Path, out: Path) -> None:
    """The raw UCI file as a CSV with a header, values stripped, ``?`` as empty (missing)."""
    table = pd.read_csv(
        raw,
        header=None,
        names=list(COLUMNS),
        sep=",",
        skipinitialspace=True,
        na_values=["?"],
        dtype={name: str for name in CATEGORICAL},
    )
    table = table.dropna(how="all")
    if len(table.columns) != len(COLUMNS):
        raise SystemExit(f"{raw}: expected {len(COLUMNS)} columns")
    table.to_csv(out, index=False, na_rep="")


def read_table(path: Path) -> pd.DataFrame:
    """A CSV written by this script: categorical columns as text, empty = missing."""
    return pd.read_csv(path, dtype={name: str for name in CATEGORICAL}, keep_default_na=True)


# --- children ---------------------------------------------------------------------------


def _peak_mib() -> float:
    """Peak resident memory of this process (and of any child it waited for), MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    waited = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, waited) / 1024.0  # Linux reports KiB


def _rss_mib() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.Process().memory_info().rss) / 2**20


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def mst_codings(spec: dict[str, Any]) -> dict[str, Any]:
    """privstats MST's public coding of each column (cells from the public bounds only)."""
    from privstats.synth.mst import _coding
    from privstats.synth.schema import Schema

    schema = Schema.from_dict(spec["schema"])
    return {
        column.name: _coding(column, spec["bounds"].get(column.name), spec["bins"])
        for column in schema
    }


def encode_cells(train: pd.DataFrame, codings: dict[str, Any], path: Path) -> dict[str, int]:
    """Write the training records as MST cell codes; the cell count of each column."""
    pd.DataFrame({name: coding.encode(train[name]) for name, coding in codings.items()}).to_csv(
        path, index=False
    )
    return {name: coding.cells for name, coding in codings.items()}


def decode_cells(cells: pd.DataFrame, codings: dict[str, Any], seed: int) -> pd.DataFrame:
    """Values of cell codes as privstats' MST decodes them (uniform within a bin)."""
    from privstats.crypto.random import SeededStream

    stream = SeededStream(seed, "benchmark.decode")
    return pd.DataFrame(
        {
            name: coding.decode(cells[name].to_numpy(dtype=np.int64), stream)
            for name, coding in codings.items()
        }
    )


def _fit_ours(system: str, spec: dict[str, Any], train_path: Path) -> tuple[Any, dict[str, Any]]:
    from privstats.synth.methods import make_synthesizer
    from privstats.synth.schema import Schema, read_microdata

    schema = Schema.from_dict(spec["schema"])
    table, _ = read_microdata(train_path, categorical=CATEGORICAL)
    options: dict[str, Any] = {}
    if system == "ours-mst":
        options = {"epsilon": spec["epsilon"], "bounds": spec["bounds"]}
    method = system.removeprefix("ours-")
    ready = _rss_mib()
    started = time.perf_counter()
    synthesizer = make_synthesizer(method, **options).fit(table, schema)
    fitted = time.perf_counter()
    synthetic = synthesizer.sample(spec["rows"], seed=spec["seed"])
    sampled = time.perf_counter()
    extra: dict[str, Any] = {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "ready_mib": ready,
        "peak_mib": _peak_mib(),
        "options": {k: v for k, v in options.items() if k != "bounds"},
        "versions": _versions(("privstats", "numpy", "pandas", "scikit-learn", "opendp")),
    }
    if synthesizer.privacy is not None:
        extra["epsilon_spent"] = synthesizer.privacy["epsilon"]
        extra["tree"] = synthesizer.privacy["tree"]
    return synthetic, extra


def _fit_sdv(spec: dict[str, Any], train_path: Path) -> tuple[Any, dict[str, Any]]:
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    table = read_table(train_path)
    columns = {
        name: {"sdtype": "categorical"}
        if name in CATEGORICAL
        else {"sdtype": "numerical", "decimal_places": 0}
        for name in COLUMNS
    }
    metadata = Metadata.load_from_dict(
        {"tables": {"adult": {"columns": columns}}, "relationships": []}
    )
    np.random.seed(spec["seed"])  # SDV and copulas draw from numpy's global generator
    ready = _rss_mib()
    started = time.perf_counter()
    synthesizer = GaussianCopulaSynthesizer(metadata)
    synthesizer.fit({"adult": table})  # SDV 2 takes and returns {table name: frame}
    fitted = time.perf_counter()
    synthetic = synthesizer.sample(num_rows=spec["rows"])["adult"]
    sampled = time.perf_counter()
    return synthetic, {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "ready_mib": ready,
        "peak_mib": _peak_mib(),
        "options": {"default_distribution": synthesizer.default_distribution},
        "versions": _versions(("sdv", "rdt", "copulas", "numpy", "pandas", "scipy")),
    }


def _fit_smartnoise(spec: dict[str, Any], train_path: Path) -> tuple[Any, dict[str, Any]]:
    from snsynth import Synthesizer
    from snsynth.transform.label import LabelTransformer
    from snsynth.transform.table import TableTransformer

    codes = pd.read_csv(train_path.with_name("train-cells.csv"))
    cells: dict[str, int] = spec["cells"]
    # The public domain: every cell of every column, whatever the data hold.
    widest = max(cells.values())
    domain = pd.DataFrame({name: np.arange(widest) % cells[name] for name in cells})
    transformer = TableTransformer([LabelTransformer(nullable=False) for _ in cells])
    transformer.fit(domain)
    np.random.seed(spec["seed"])  # snsynth's edge selection draws from numpy's global one
    ready = _rss_mib()
    started = time.perf_counter()
    synthesizer = Synthesizer.create("mst", epsilon=spec["epsilon"], delta=spec["delta"])
    synthesizer.fit(codes, transformer=transformer, preprocessor_eps=0.0)
    fitted = time.perf_counter()
    synthetic = pd.DataFrame(synthesizer.sample(spec["rows"]), columns=list(cells))
    sampled = time.perf_counter()
    return synthetic, {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "ready_mib": ready,
        "peak_mib": _peak_mib(),
        "epsilon_left": synthesizer.epsilon,
        "cells": cells,
        "versions": _versions(
            ("smartnoise-synth", "private-pgm", "mbi", "opendp", "numpy", "pandas", "jax")
        ),
    }


def run_child(system: str, workdir: Path) -> None:
    """Fit and sample one system; write its CSV and print the result JSON line."""
    spec = json.loads((workdir / "spec.json").read_text())
    train_path = workdir / "train.csv"
    if system.startswith("ours-"):
        synthetic, result = _fit_ours(system, spec, train_path)
    elif system == "sdv-copula":
        synthetic, result = _fit_sdv(spec, train_path)
    else:
        synthetic, result = _fit_smartnoise(spec, train_path)
    synthetic.to_csv(workdir / f"{system}.csv", index=False, na_rep="")
    result["rows"] = len(synthetic)
    print(RESULT_MARK + json.dumps(result), flush=True)


def spawn(system: str, python: str, workdir: Path) -> dict[str, Any]:
    """Run one child and return its result (wall time of the whole child included)."""
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", system, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not lines:
        raise SystemExit(
            f"{system} ({python}) failed with exit code {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_MARK))
    result["child_seconds"] = time.perf_counter() - started
    result["seconds"] = result["fit_seconds"] + result["sample_seconds"]
    return result


# --- evaluation -------------------------------------------------------------------------


def zero_shares(real: pd.DataFrame, synthetic: pd.DataFrame, numeric: tuple[str, ...]) -> Any:
    """Per numeric column, the % of zeros in the real and in the synthetic records."""
    return {
        name: (
            100.0 * float((real[name] == 0).fillna(False).mean()),
            100.0 * float((synthetic[name] == 0).fillna(False).mean()),
        )
        for name in numeric
    }


def evaluate(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, schema: Any, seed: int
) -> dict[str, Any]:
    from privstats.synth.risk import risk_report
    from privstats.synth.utility import utility_report

    started = time.perf_counter()
    utility = utility_report(
        train, synthetic, schema, target=TARGET, regression=REGRESSION, test=holdout, seed=seed
    )
    risk = risk_report(
        train,
        synthetic,
        schema,
        holdout=holdout,
        quasi_identifiers=QUASI_IDENTIFIERS,
        sensitive=SENSITIVE,
        seed=seed,
    )
    conformed = schema.conform(synthetic, "synthetic table")
    shares = zero_shares(
        schema.conform(train, "training table"), conformed, schema.of_kind("integer")
    )
    gap = max(abs(real - syn) for real, syn in shares.values())
    return {
        **utility,
        **risk,
        "zero_shares": {name: [round(r, 2), round(s, 2)] for name, (r, s) in shares.items()},
        "zero_gap_points": gap,
        "evaluate_seconds": time.perf_counter() - started,
    }


# --- report -----------------------------------------------------------------------------

TABLE = (
    # header, key, width, format
    ("fit+sample s", "seconds", 12, "{:.2f}"),
    ("peak MiB", "peak_mib", 8, "{:,.0f}"),
    ("S_pMSE", "s_pmse", 7, "{:.2f}"),
    ("pMSE", "pmse", 8, "{:.5f}"),
    ("TVD1", "tvd_1way", 6, "{:.3f}"),
    ("TVD2", "tvd_2way", 6, "{:.3f}"),
    ("TVD2max", "tvd_2way_max", 7, "{:.3f}"),
    ("CI ovl", "ci_overlap", 6, "{:.2f}"),
    ("TSTR acc", "tstr_accuracy", 8, "{:.3f}"),
    ("TSTR AUC", "tstr_auc", 8, "{:.3f}"),
    ("copies %", "exact_copies_pct", 8, "{:.2f}"),
    ("DCR", "dcr_closer_to_train", 5, "{:.3f}"),
    ("RepU %", "repu", 6, "{:.2f}"),
    ("TCAP", "tcap", 5, "{:.3f}"),
    ("zero gap pt", "zero_gap_points", 11, "{:.1f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def show(rows: dict[str, dict[str, Any]]) -> None:
    header = f"{'system':<20}" + "".join(f" {title:>{width}}" for title, _, width, _ in TABLE)
    print(header)
    print("-" * len(header))
    for system, row in rows.items():
        print(
            f"{SYSTEMS[system]:<20}"
            + "".join(f" {_cell(row.get(key), fmt):>{width}}" for _, key, width, fmt in TABLE)
        )


def acceptance(rows: dict[str, dict[str, Any]]) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    if "ours-cart" in rows:
        cart = rows["ours-cart"]
        checks["cart fit+sample < 15 s"] = cart["seconds"] < 15
        checks["cart S_pMSE < 2"] = cart["s_pmse"] < 2
        checks["cart exact copies < 0.5 %"] = cart["exact_copies_pct"] < 0.5
    if "ours-copula" in rows:
        checks["copula zero shares within 2 points"] = rows["ours-copula"]["zero_gap_points"] <= 2
    if "ours-mst" in rows:
        mst = rows["ours-mst"]
        checks["mst fit+sample < 60 s"] = mst["seconds"] < 60
        checks["mst peak < 1 GiB"] = mst["peak_mib"] < 1024
        if "smartnoise-mst" in rows:
            checks["mst S_pMSE < smartnoise MST's"] = (
                mst["s_pmse"] < rows["smartnoise-mst"]["s_pmse"]
            )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SYSTEMS), help="run these systems")
    parser.add_argument("--rows", type=int, help="seeded subsample of the extract (default all)")
    parser.add_argument("--seed", type=int, default=SEED, help="split, sampling and metric seed")
    parser.add_argument(
        "--peer-python",
        default=os.environ.get("PRIVSTATS_PEER_PYTHON", sys.executable),
        help="interpreter with sdv and smartnoise-synth (default $PRIVSTATS_PEER_PYTHON)",
    )
    parser.add_argument("--data", type=Path, help="the raw UCI adult.data (default: mglearn's)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as last line")
    parser.add_argument("--child", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.workdir)
        return
    if args.rows is not None and args.rows < 100:
        parser.error("--rows must be at least 100")

    from privstats.synth.mst import MST
    from privstats.synth.schema import read_microdata
    from privstats.synth.utility import tstr

    systems = [name for name in SYSTEMS if not args.only or name in args.only]
    raw = args.data or locate_adult(args.peer_python)
    load = [round(v, 2) for v in os.getloadavg()]
    summary: dict[str, Any] = {"data": raw.name, "seed": args.seed, "load": load}
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="privstats-synth-bench-") as tmp:
        workdir = Path(tmp)
        clean_extract(raw, workdir / "extract.csv")
        extract, schema = read_microdata(workdir / "extract.csv", categorical=CATEGORICAL)
        rng = np.random.default_rng(args.seed)  # benchmark split, nothing protected
        order = rng.permutation(len(extract))[: args.rows or len(extract)]
        cut = round(TRAIN_SHARE * len(order))
        train = extract.iloc[order[:cut]].reset_index(drop=True)
        holdout = extract.iloc[order[cut:]].reset_index(drop=True)
        train.to_csv(workdir / "train.csv", index=False, na_rep="")
        defaults = MST()
        spec = {
            "schema": schema.to_dict(),
            "bounds": PUBLIC_BOUNDS,
            "bins": defaults.bins,
            "epsilon": EPSILON,
            "delta": defaults.delta,
            "rows": len(train),
            "seed": args.seed,
        }
        codings = mst_codings(spec)
        spec["cells"] = encode_cells(train, codings, workdir / "train-cells.csv")
        (workdir / "spec.json").write_text(json.dumps(spec))
        summary.update(records=len(order), train=len(train), holdout=len(holdout))
        print(
            f"UCI Adult ({raw}): {len(extract):,} records × {len(schema.columns)} columns; "
            f"{len(train):,} training, {len(holdout):,} holdout (seed {args.seed}); "
            f"load average {load}"
        )
        baseline = tstr(train, train, schema, TARGET, test=holdout, seed=args.seed)
        summary["tstr_real_baseline"] = {"accuracy": baseline.score, "auc": baseline.auc}
        print(
            f"train-on-real baseline for TSTR: accuracy {baseline.score:.3f}, "
            f"AUC {baseline.auc:.3f}",
            flush=True,
        )
        for system in systems:
            python = args.peer_python if system in PEERS else sys.executable
            result = spawn(system, python, workdir)
            if system == "smartnoise-mst":  # it samples cells; decoded as ours are
                cells = pd.read_csv(workdir / f"{system}.csv")
                synthetic = decode_cells(cells, codings, args.seed)
            else:
                synthetic = read_table(workdir / f"{system}.csv")
            scores = evaluate(train, holdout, synthetic, schema, args.seed)
            rows[system] = {
                **result,
                **scores,
                "exact_copies_pct": 100.0 * scores["exact_copies"],
            }
            print(
                f"{SYSTEMS[system]:>20}: fit {result['fit_seconds']:.2f} s + sample "
                f"{result['sample_seconds']:.2f} s, peak {result['peak_mib']:,.0f} MiB "
                f"({result['ready_mib'] or 0:,.0f} MiB before fitting), child "
                f"{result['child_seconds']:.1f} s, scored in {scores['evaluate_seconds']:.1f} s; "
                f"{', '.join(f'{k} {v}' for k, v in result['versions'].items())}",
                flush=True,
            )
    print()
    show(rows)
    print(
        "S_pMSE: logistic propensity, near 1 good, < 2 accepted; TVD1/TVD2: mean total "
        "variation of 1- and 2-way tables; CI ovl: overlap of the regression's 95 % CIs "
        f"({REGRESSION}); TSTR on the holdout; copies: exact copies of training records; "
        "DCR: share closer to training than holdout (0.5 ideal); zero gap: largest "
        "|real − synthetic| share of zeros over the numeric columns, in points."
    )
    for name in rows:
        shares = ", ".join(
            f"{column} {real:.1f}→{syn:.1f}"
            for column, (real, syn) in rows[name]["zero_shares"].items()
            if real or syn
        )
        print(f"zero shares % (real→synthetic), {SYSTEMS[name]}: {shares or 'none'}")
    ratios: dict[str, dict[str, float]] = {}
    for ours, peer in PAIRS:
        if ours in rows and peer in rows:
            time_ratio = rows[peer]["seconds"] / rows[ours]["seconds"]
            memory_ratio = rows[peer]["peak_mib"] / rows[ours]["peak_mib"]
            ratios[f"{peer}/{ours}"] = {
                "time": round(time_ratio, 2),
                "peak_memory": round(memory_ratio, 2),
            }
            print(
                f"{SYSTEMS[peer]} / {SYSTEMS[ours]}: fit+sample time {time_ratio:.1f}×, "
                f"peak memory {memory_ratio:.1f}×"
            )
    checks = acceptance(rows)
    for check, met in checks.items():
        print(f"{'met' if met else 'NOT MET'}: {check}")
    summary["systems"] = {
        name: {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in row.items()
        }
        for name, row in rows.items()
    }
    summary["ratios"] = ratios
    summary["acceptance"] = checks
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
