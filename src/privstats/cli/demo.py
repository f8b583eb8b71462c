"""``privstats demo …``: see a computation work through a hub and nodes, with no set-up."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from privstats.cli import demo_activity, demo_linkage
from privstats.cli._console import (
    column_list,
    coverage_table,
    err,
    fail_on_error,
    groups_table,
    out,
)
from privstats.client import Federation, Job
from privstats.data.demo import make_coverage_demo
from privstats.data.join_demos import JoinDemo, make_income_demo, make_trade_demo
from privstats.errors import AuditError, ParameterError
from privstats.local_federation import LocalFederation

__all__ = ["app"]

app = typer.Typer(
    help="Run a computation end to end through a local hub and nodes, on demo data or yours.",
    rich_markup_mode="markdown",
)


@app.command("coverage")
def coverage(
    persons: int = typer.Option(20_000, help="Persons in the generated register."),
    seed: int = typer.Option(2026, help="Seed of the demo data generator."),
    register: Path | None = typer.Option(None, help="Your register file instead of demo data."),
    source: Path | None = typer.Option(None, help="Your source file (with --register)."),
    key: str | None = typer.Option(None, help="Identifier column of your register (and source)."),
    peer_key: str | None = typer.Option(
        None, "--source-key", "--peer-key", help="Identifier column of your source."
    ),
    by: str | None = typer.Option(None, help="Domain columns of your register, comma-separated."),
    min_cell: int = typer.Option(
        10,
        "--min-cell",
        "--min-domain",
        help="Domains with fewer register persons are suppressed.",
    ),
    keep: Path | None = typer.Option(
        None, help="Keep the hub's and nodes' folders (database, logs, configs) here."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Coverage of a register by a third-party source, through a hub and two nodes.

    Starts a hub and two nodes (the register's and the source's) as separate processes on
    free loopback ports, submits the job as an analyst, lets both nodes approve it by
    policy, runs it over the sealed relay, prints the result and the verified audit log,
    and stops everything.
    """
    with fail_on_error(), tempfile.TemporaryDirectory(prefix="privstats-demo-") as tmp:
        folder = keep or Path(tmp)
        truth: dict[tuple[str, ...], float] | None = None
        true_matched: int | None = None
        domains: tuple[str, ...]
        if register is None:
            if source is not None or key is not None:
                raise ParameterError("--source and --key go with --register")
            err.print(f"Generating a register of {persons:,} persons and a telecom's customers…")
            demo = make_coverage_demo(folder / "data", persons=persons, seed=seed)
            register, source = demo.register, demo.source
            key, peer_key, domains = "person_id", "customer_id", ("region", "age_group")
            truth, true_matched = demo.true_share, demo.true_matched
        else:
            if source is None or key is None:
                raise ParameterError("--register needs --source and --key as well")
            domains = column_list(by)
        with LocalFederation(folder / "federation") as federation:
            err.print(f"hub started at {federation.url}", highlight=False)
            federation.add_node("nso", {"register": (register, [key])}, min_cell=min_cell)
            federation.add_node("telco", {"source": (source, [peer_key or key])})
            federation.wait_for_datasets(2)
            err.print("nodes 'nso' (register) and 'telco' (source) enrolled and connected")
            with federation.admin() as admin:
                analyst_token = admin.add_token("analyst")
            with Federation(federation.url, analyst_token) as analyst:
                started = time.perf_counter()
                job = analyst.submit_coverage(
                    register="nso",
                    register_dataset="register",
                    source="telco",
                    source_dataset="source",
                    key=key,
                    peer_key=peer_key,
                    by=domains,
                    min_cell=min_cell,
                )

                def say(job: Job) -> None:
                    err.print(f"job {job.id}: {job.state.replace('_', ' ')}", highlight=False)

                result = job.wait(on_change=say).result
                seconds = time.perf_counter() - started
            with federation.admin() as admin:
                report = admin.verify_audit()
                entries = admin.audit()
        if not report.ok:
            raise AuditError(
                f"the audit log does not verify at entry {report.broken_seq}: {report.reason}",
                seq=report.broken_seq,
            )
        result = {**result, "seconds": round(seconds, 3)}
        if as_json:
            extra = {} if true_matched is None else {"true_matched": true_matched}
            typer.echo(json.dumps({**result, **extra, "job_id": job.id, "audit_verified": True}))
            return
        out.print(coverage_table(result, truth=truth))
        trail = Table(title="Audit trail", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("#", "actor", "action", "signed by"):
            trail.add_column(column)
        for entry in entries:
            trail.add_row(str(entry.seq), entry.actor, entry.action, entry.signer or "")
        out.print(trail)
        out.print(
            f"Audit log verified: {report.entries} entries, hash chain intact, "
            f"{report.signatures} node signatures valid."
        )
        if true_matched is not None:
            exact = "equals" if result["matched"] == true_matched else "DIFFERS FROM"
            out.print(
                f"Matched by private set intersection through the hub: {result['matched']:,}, "
                f"which {exact} the true number of covered persons ({true_matched:,}). The hub "
                "relayed only sealed envelopes; neither node saw the other's identifiers."
            )
        if keep:
            out.print(f"Hub database, node configs and logs kept in {folder / 'federation'}")


def _run_join_demo(
    demo: JoinDemo,
    parties: tuple[str, str],
    datasets: tuple[str, str],
    folder: Path,
    min_cell: int,
) -> tuple[dict[str, Any], str]:
    """Run ``demo`` as a join_aggregate job through a local hub and two nodes."""
    left, right = parties
    with LocalFederation(folder / "federation") as federation:
        err.print(f"hub started at {federation.url}", highlight=False)
        federation.add_node(
            left,
            {datasets[0]: (demo.left, [demo.key])},
            allow=("join_aggregate",),
            min_cell=min_cell,
        )
        federation.add_node(
            right,
            {datasets[1]: (demo.right, [demo.peer_key])},
            allow=("join_aggregate",),
            min_cell=min_cell,
        )
        federation.wait_for_datasets(2)
        err.print(f"nodes {left!r} and {right!r} enrolled and connected", highlight=False)
        with federation.admin() as admin:
            analyst_token = admin.add_token("analyst")
        with Federation(federation.url, analyst_token) as analyst:
            started = time.perf_counter()
            job = analyst.submit_join_aggregate(
                left=left,
                left_dataset=datasets[0],
                right=right,
                right_dataset=datasets[1],
                key=demo.key,
                peer_key=demo.peer_key,
                by=demo.by,
                left_values=demo.left_values,
                right_values=demo.right_values,
                min_cell=min_cell,
                decimals=0,
            )

            def say(job: Job) -> None:
                err.print(f"job {job.id}: {job.state.replace('_', ' ')}", highlight=False)

            result = job.wait(on_change=say).result
            seconds = time.perf_counter() - started
        with federation.admin() as admin:
            report = admin.verify_audit()
    if not report.ok:
        raise AuditError(
            f"the audit log does not verify at entry {report.broken_seq}: {report.reason}",
            seq=report.broken_seq,
        )
    return {**result, "seconds": round(seconds, 3)}, job.id


def _agrees_with_truth(result: dict[str, Any], demo: JoinDemo) -> bool:
    """Whether every released figure equals the plaintext computation on the same files."""
    for group in result["groups"]:
        if group["suppressed"]:
            continue
        truth = demo.truth.get(str(next(iter(group["by"].values()))), {})
        if any(group.get(name) != value for name, value in truth.items()):
            return False
    return True


@app.command("income")
def income(
    persons: int = typer.Option(20_000, help="Persons in the generated register."),
    seed: int = typer.Option(2026, help="Seed of the demo data generator."),
    min_cell: int = typer.Option(10, help="Regions with fewer matched persons are suppressed."),
    keep: Path | None = typer.Option(None, help="Keep the hub's and nodes' folders here."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Mean income per region: an NSO's register × a bank's customers, by private join.

    The NSO learns count, total and mean income per region over the persons both know; it
    never sees an individual income or which of its persons the bank knows, and the bank
    learns nothing of the regions.
    """
    with fail_on_error(), tempfile.TemporaryDirectory(prefix="privstats-demo-") as tmp:
        folder = keep or Path(tmp)
        err.print(f"Generating a register of {persons:,} persons and a bank's customers…")
        demo = make_income_demo(folder / "data", persons=persons, seed=seed)
        result, job_id = _run_join_demo(
            demo, ("nso", "bank"), ("register", "customers"), folder, min_cell
        )
        agrees = _agrees_with_truth(result, demo)
        if as_json:
            typer.echo(json.dumps({**result, "job_id": job_id, "plaintext_agrees": agrees}))
            return
        out.print(groups_table(result, title="Income of the persons both know, by region"))
        verdict = "equal" if agrees else "DIFFER FROM"
        out.print(
            f"Every released count and sum {verdict} the plaintext join of the two files. The "
            "hub relayed only sealed envelopes and the audit log verifies."
        )


@app.command("trade")
def trade(
    links: int = typer.Option(8_000, help="Exporter × importer × product links generated."),
    seed: int = typer.Option(2026, help="Seed of the demo data generator."),
    min_cell: int = typer.Option(10, help="Product groups with fewer links are suppressed."),
    keep: Path | None = typer.Option(None, help="Keep the hub's and nodes' folders here."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Mirror trade statistics: A's exports to B against B's imports from A, by product.

    The two customs offices link their records at the level of the trading-firm pair and
    product group without showing each other a single record; country A learns, per
    product group, the linked exports and imports and their asymmetry.
    """
    with fail_on_error(), tempfile.TemporaryDirectory(prefix="privstats-demo-") as tmp:
        folder = keep or Path(tmp)
        err.print(f"Generating {links:,} trade links of country A's exports and B's imports…")
        demo = make_trade_demo(folder / "data", links=links, seed=seed)
        result, job_id = _run_join_demo(
            demo, ("customs_a", "customs_b"), ("exports", "imports"), folder, min_cell
        )
        for group in result["groups"]:
            exports, imports = group.get("sum:export_value"), group.get("sum:import_value")
            group["asymmetry"] = (
                None if group["suppressed"] or not exports else (imports - exports) / exports
            )
        agrees = _agrees_with_truth(result, demo)
        if as_json:
            typer.echo(json.dumps({**result, "job_id": job_id, "plaintext_agrees": agrees}))
            return
        table = Table(
            title="Mirror statistics of linked trade, A → B (asymmetry = imports/exports − 1)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for column in ("product group", "links", "exports of A", "imports of B", "asymmetry"):
            table.add_column(column, justify="left" if column == "product group" else "right")
        for group in result["groups"]:
            label = str(group["by"]["product_group"])
            if group["suppressed"]:
                table.add_row(label, "suppressed", "", "", "")
                continue
            table.add_row(
                label,
                f"{group['count']:,}",
                f"{group['sum:export_value']:,}",
                f"{group['sum:import_value']:,}",
                "—" if group["asymmetry"] is None else f"{100 * group['asymmetry']:+.1f}%",
            )
        table.caption = f"linked {result['matched']:,} · {result['seconds']:.1f} s"
        table.caption_justify = "left"
        out.print(table)
        verdict = "equals" if agrees else "DIFFERS FROM"
        out.print(
            f"Every released figure {verdict} the plaintext join of the two files; imports "
            "run above exports as CIF values exceed FOB. The audit log verifies."
        )


app.command("activity")(demo_activity.activity)
app.command("linkage")(demo_linkage.linkage)
