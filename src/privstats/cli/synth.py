"""``privstats synth …``: synthetic microdata from a file, and its utility and risk report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from privstats.cli._console import (
    check_output,
    column_list,
    err,
    fail_on_error,
    out,
    synth_report_table,
)
from privstats.errors import ParameterError
from privstats.jobs.synthesize import parse_bounds, require_synth

__all__ = ["app"]

app = typer.Typer(
    help="Synthetic microdata: fit a synthesizer and sample, evaluate utility and risk.",
    rich_markup_mode="markdown",
)


def _write_table(table: Any, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() == ".parquet":
        table.to_parquet(partial, index=False)
    else:
        table.to_csv(partial, index=False, date_format="%Y-%m-%d")
    partial.replace(path)


def _read_holdout(holdout: Path | None, schema: Any) -> Any:
    """The holdout file conformed to the real table's schema, or None."""
    from privstats.synth.schema import read_microdata

    if holdout is None:
        return None
    what = f"the holdout {holdout}"
    table = read_microdata(holdout, categorical=schema.of_kind("categorical"), what="the holdout")[
        0
    ]
    return schema.conform(table, what)


def _check_names(schema: Any, label: str, **options: str | None) -> None:
    """Each option's column names are columns of the real table (named with the file)."""
    for option, value in options.items():
        for name in column_list(value) if option == "quasi" else [value] if value else []:
            if name not in schema:
                raise ParameterError(
                    f"--{option} {name!r}: the real table {label} has no column {name!r}; "
                    f"it has {', '.join(schema.names)}",
                    parameter=option,
                )


@app.command("fit-sample")
def fit_sample(
    data: Path = typer.Argument(..., help="The confidential table (CSV or Parquet)."),
    method: str = typer.Option("cart", help="cart, copula or mst (differentially private)."),
    out_path: Path = typer.Option(..., "--out", help="Where to write the synthetic table."),
    n: int | None = typer.Option(
        None,
        "--n",
        help="Synthetic rows (default: as many as DATA; mst: a noisy count, covered by ε).",
    ),
    seed: int | None = typer.Option(
        None, help="Seed of the sampling (default: a fresh random one, printed)."
    ),
    epsilon: float = typer.Option(1.0, help="mst: the privacy budget ε."),
    delta: float = typer.Option(1e-9, help="mst: δ of (ε, δ)-differential privacy."),
    bounds: list[str] = typer.Option(
        [], help="mst: public range of a numeric or date column, COL=LOW:HIGH (repeat)."
    ),
    bounds_from_data: bool = typer.Option(
        False, help="mst: take missing bounds from the data (not covered by ε)."
    ),
    public_categories: str | None = typer.Option(
        None,
        help="mst: categorical columns whose categories in DATA are a public code list, "
        "comma-separated (released outside ε); the others' pass a noisy threshold.",
    ),
    quasi: str | None = typer.Option(
        None, help="Quasi-identifiers, comma-separated (cart: sample-uniques dropped)."
    ),
    categorical: str | None = typer.Option(
        None, help="Columns to treat as categorical although numeric, comma-separated."
    ),
    report: Path | None = typer.Option(
        None,
        help="Also write the report released with the table (.html or .json); mst: only "
        "what ε covers, no utility or risk figure.",
    ),
    owner_report: Path | None = typer.Option(
        None,
        "--owner-report",
        help="Also write the data owner's report: utility, risk and real shares "
        "(.html or .json; mst: not covered by ε, not for release).",
    ),
    holdout: Path | None = typer.Option(None, help="Real records not used to fit (for DCR)."),
    target: str | None = typer.Option(None, help="Report: train-synthetic-test-real target."),
    sensitive: str | None = typer.Option(None, help="Report: sensitive column for TCAP."),
    regression: str | None = typer.Option(None, help='Report: a model such as "y ~ x1 + x2".'),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Fit a synthesizer on DATA and write a synthetic table with the same schema.

    `cart` (sequential CART as in synthpop, with minimum leaf size, smoothing and
    sample-unique protection on by default), `copula` (Gaussian copula keeping zero-inflated
    and bounded variables) or `mst` (differentially private, from noisy marginals; numeric
    columns need public `--bounds`; the number of rows is a noisy count unless `--n`).
    """
    with fail_on_error():
        require_synth("privstats synth", dp=method == "mst")
        for option, path in (
            ("--out", out_path),
            ("--report", report),
            ("--owner-report", owner_report),
        ):
            check_output(option, path)
        from privstats.crypto.random import new_seed
        from privstats.synth.mst import MissingBoundsError
        from privstats.synth.release import synthesize
        from privstats.synth.report import write_report
        from privstats.synth.schema import read_microdata

        quasi_ids = column_list(quasi)
        real, schema = read_microdata(data, categorical=column_list(categorical))
        options: dict[str, Any] = {}
        if method == "mst":
            options = {
                "epsilon": epsilon,
                "delta": delta,
                "bounds": parse_bounds(bounds),
                "bounds_from_data": bounds_from_data,
                "public_categories": column_list(public_categories),
            }
        elif method == "cart" and quasi_ids:
            options = {"quasi_identifiers": quasi_ids}
        held = _read_holdout(holdout, schema)
        err.print(f"Fitting {method} on {len(real):,} records × {len(schema.columns)} columns…")
        try:
            release = synthesize(
                real,
                schema,
                method=method,
                seed=new_seed() if seed is None else seed,
                options=options,
                rows=n,
                holdout=held,
                evaluate=report is not None or owner_report is not None,
                target=target,
                regression=regression,
                quasi_identifiers=quasi_ids,
                sensitive=sensitive,
            )
        except MissingBoundsError as exc:
            given = " ".join(f"--bounds {name}=LOW:HIGH" for name in exc.columns)
            raise ParameterError(
                f"mst: {', '.join(map(repr, exc.columns))} "
                f"{'has' if len(exc.columns) == 1 else 'have'} no public bounds: give "
                f"{given} from public knowledge, or --bounds-from-data to use the observed "
                "range (not covered by ε)",
                parameter="--bounds",
            ) from None
        synthetic, result = release.synthetic, dict(release.report)
        result.update(seed=release.seed, out=str(out_path))
        _write_table(synthetic, out_path)  # only once the report could be computed
        # the written reports hold no seed: it replays the release from the real data
        if report is not None:
            write_report(report, release.report, schema.conform(real), synthetic, schema)
        if owner_report is not None:
            write_report(
                owner_report,
                release.report,
                schema.conform(real),
                synthetic,
                schema,
                audience="owner",
            )
        if report is not None:
            result["report"] = str(report)
        if owner_report is not None:
            result["owner_report"] = str(owner_report)
        if as_json:
            typer.echo(json.dumps(result, default=str))
            return
        if "utility" in result:
            out.print(synth_report_table(result))
        out.print(
            f"{len(synthetic):,} synthetic records written to {out_path} ({method}, "
            f"{result['seconds']:.1f} s, seed {release.seed} — keep it with the confidential "
            "data: it replays this release)"
        )


@app.command("evaluate")
def evaluate(
    real: Path = typer.Option(..., help="The real table the synthesizer was fitted on."),
    synthetic: Path = typer.Option(..., help="The synthetic table."),
    holdout: Path | None = typer.Option(None, help="Real records not used to fit (for DCR)."),
    target: str | None = typer.Option(None, help="Train-synthetic-test-real target column."),
    quasi: str | None = typer.Option(None, help="Quasi-identifiers, comma-separated."),
    sensitive: str | None = typer.Option(None, help="Sensitive column for TCAP."),
    regression: str | None = typer.Option(None, help='A model such as "income ~ age + sex".'),
    categorical: str | None = typer.Option(
        None, help="Columns to treat as categorical although numeric, comma-separated."
    ),
    seed: int = typer.Option(0, help="Seed of the metrics' random splits."),
    report: Path | None = typer.Option(None, help="Also write the report (.html or .json)."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Utility (pMSE, TVD, CI overlap, TSTR) and disclosure risk (copies, DCR, RepU, TCAP).

    The figures compare with the real data: the report is for the data owner.
    """
    with fail_on_error():
        require_synth("privstats synth")
        check_output("--report", report)
        from privstats.synth.release import judge
        from privstats.synth.report import write_report
        from privstats.synth.schema import read_microdata

        real_table, schema = read_microdata(
            real, categorical=column_list(categorical), what="the real table"
        )
        real_table = schema.conform(real_table, f"the real table {real}")
        _check_names(schema, str(real), target=target, sensitive=sensitive, quasi=quasi)
        synthetic_table = schema.conform(
            read_microdata(
                synthetic,
                categorical=schema.of_kind("categorical"),
                what="the synthetic table",
            )[0],
            f"the synthetic table {synthetic}",
        )
        result = judge(
            real_table,
            synthetic_table,
            schema,
            holdout=_read_holdout(holdout, schema),
            target=target,
            regression=regression,
            quasi_identifiers=column_list(quasi),
            sensitive=sensitive,
            seed=seed,
        )
        if report is not None:
            write_report(report, result, real_table, synthetic_table, schema, audience="owner")
        if as_json:
            typer.echo(json.dumps(result, default=str))
            return
        out.print(synth_report_table(result))
