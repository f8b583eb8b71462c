"""``privstats demo …``: see a computation work through a hub and nodes, with no set-up."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import column_list, coverage_table, err, fail_on_error, out
from privstats.client import Federation, Job
from privstats.data.demo import make_coverage_demo
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
    source_key: str | None = typer.Option(None, help="Identifier column of your source."),
    by: str | None = typer.Option(None, help="Domain columns of your register, comma-separated."),
    min_domain: int = typer.Option(10, help="Domains with fewer register persons are suppressed."),
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
            key, source_key, domains = "person_id", "customer_id", ("region", "age_group")
            truth, true_matched = demo.true_share, demo.true_matched
        else:
            if source is None or key is None:
                raise ParameterError("--register needs --source and --key as well")
            domains = column_list(by)
        with LocalFederation(folder / "federation") as federation:
            err.print(f"hub started at {federation.url}", highlight=False)
            federation.add_node("nso", {"register": (register, [key])}, min_domain=min_domain)
            federation.add_node("telco", {"source": (source, [source_key or key])})
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
                    source_key=source_key,
                    by=domains,
                    min_domain=min_domain,
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
