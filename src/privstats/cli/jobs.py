"""``privstats submit …``, ``privstats job …`` and ``privstats audit …``: an analyst's door."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import (
    column_list,
    err,
    error,
    fail_on_error,
    out,
    print_rendering,
    synth_report_table,
)
from privstats.cli._hub import HUB, TOKEN, TOKEN_FILE, connect
from privstats.cli._kind_cli import submit_command
from privstats.cli.run_join import dp_terms
from privstats.client import Federation, Job
from privstats.errors import ParameterError
from privstats.jobs.kind import JobKind
from privstats.jobs.kinds import KINDS
from privstats.jobs.render import Rendering, json_rendering
from privstats.jobs.synthesize import parse_bounds, save_release

__all__ = ["audit_app", "job_app", "submit_app"]

submit_app = typer.Typer(help="Submit a computation to the hub; each party's node must approve it.")
job_app = typer.Typer(help="Follow the jobs you submitted.")
audit_app = typer.Typer(help="Check the hub's audit log.")


def _party_dataset(text: str, option: str) -> tuple[str, str]:
    party, sep, dataset = text.partition(":")
    if not sep or not party or not dataset:
        raise ParameterError(f"{option} must be PARTY:DATASET, got {text!r}", parameter=option)
    return party, dataset


def _say_state(job: Job) -> None:
    err.print(f"job {job.id}: {job.state.replace('_', ' ')}{job.waiting_for()}", highlight=False)


def _finish(
    fed: Federation,
    job: Job,
    wait: bool,
    as_json: bool,
    timeout: float | None,
    out_dir: Path | None = None,
    kind: JobKind | None = None,
) -> None:
    if not wait:
        typer.echo(json.dumps(job.info) if as_json else job.id)
        return
    job.wait(timeout, on_change=None if as_json else _say_state)
    result = job.result
    if "files" in result:
        _save_release(job, result, out_dir, as_json)
    elif as_json:
        typer.echo(json.dumps({"seconds": _seconds(job.info), **result, "job_id": job.id}))
    else:
        print_rendering(_render(job, kind, {"seconds": _seconds(job.info), **result}))


def _render(job: Job, kind: JobKind | None, result: dict[str, Any]) -> Rendering:
    """``result`` drawn as its kind draws it (the kind as the hub lists the job)."""
    name = kind.name if kind is not None else str(job.info.get("kind", ""))
    return KINDS[name].render(result) if name in KINDS else json_rendering(result)


def _save_release(job: Job, result: dict[str, Any], out_dir: Path | None, as_json: bool) -> None:
    """Write a synthetic release's files (``--out``, default ``synthetic-<job id>``)."""
    folder = out_dir or Path(f"synthetic-{job.id}")
    written = save_release(result, folder)
    report = {key: value for key, value in result.items() if key != "files"}
    if as_json:
        typer.echo(json.dumps({**report, "files": [str(p) for p in written], "job_id": job.id}))
        return
    out.print(synth_report_table(report))
    out.print(
        f"{report['records']:,} synthetic records ({report['method']}) and the report "
        f"written to {folder}: {', '.join(p.name for p in written)}"
    )


def _seconds(info: dict[str, Any]) -> float:
    """The job's wall time from start to end, as the hub reports it (``seconds``).

    A result that reports its own ``seconds`` (a role's own time) keeps it.
    """
    seconds = info.get("seconds")
    return float(seconds) if seconds is not None else 0.0


@submit_app.command("join-aggregate")
def submit_join_aggregate(
    left: str = typer.Option(..., help="PARTY:DATASET with the identifiers and group columns."),
    right: str = typer.Option(..., help="PARTY:DATASET with the identifiers and values."),
    key: str = typer.Option(..., help="Identifier column of the left (and right) dataset."),
    right_key: str | None = typer.Option(None, help="Identifier column of the right dataset."),
    by: str | None = typer.Option(None, help="Group columns of the left dataset."),
    value: list[str] = typer.Option(
        [], help="Value column, looked up in both datasets' declared columns (repeatable)."
    ),
    left_value: list[str] = typer.Option([], help="Value column of the left dataset."),
    right_value: list[str] = typer.Option([], help="Value column of the right dataset."),
    min_cell: int = typer.Option(10, help="Groups with fewer matched records are suppressed."),
    decimals: int = typer.Option(2, help="Decimals kept of each value."),
    rule: list[str] = typer.Option([], help="A table rule: freq:N, nk:n,k or p:P (repeatable)."),
    dp_epsilon: float | None = typer.Option(None, help="Differential privacy: the budget ε."),
    dp_delta: float = typer.Option(1e-9, help="Differential privacy: δ."),
    dp_bounds: list[str] = typer.Option([], help="Differential privacy: COL=LOW:HIGH."),
    dp_unit: str = typer.Option("record", help="Differential privacy: the privacy unit."),
    recipient: list[str] = typer.Option([], help="Who receives the result (default: you)."),
    node_timeout: float | None = typer.Option(None, help="Seconds a silent node is waited for."),
    wait: bool = typer.Option(True, help="Wait for the result and print it."),
    timeout: float | None = typer.Option(None, help="Give up waiting after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Private join-and-compute through the hub: per-group sums over matched records."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        left_party, left_data = _party_dataset(left, "--left")
        right_party, right_data = _party_dataset(right, "--right")
        lefts, rights = list(left_value), list(right_value)
        if value:
            declared = {
                (d["party"], d["name"]): {c[0] for c in d["columns"]} for d in fed.datasets()
            }
            in_left = declared.get((left_party, left_data), set())
            in_right = declared.get((right_party, right_data), set())
            for column in value:
                if (column in in_left) == (column in in_right):
                    where = "both datasets" if column in in_left else "neither dataset"
                    raise ParameterError(
                        f"--value {column}: the column is in {where}; say which with "
                        "--left-value or --right-value",
                        parameter="--value",
                    )
                (lefts if column in in_left else rights).append(column)
        job = fed.submit_join_aggregate(
            left=left_party,
            left_dataset=left_data,
            right=right_party,
            right_dataset=right_data,
            key=key,
            right_key=right_key,
            by=column_list(by),
            left_values=lefts,
            right_values=rights,
            min_cell=min_cell,
            decimals=decimals,
            rules=list(rule),
            dp=dp_terms(dp_epsilon, dp_delta, dp_bounds, dp_unit),
            recipients=recipient or None,
            node_timeout=node_timeout,
        )
        if wait and not as_json:
            err.print(f"submitted job {job.id}; waiting for the parties' approvals")
        _finish(fed, job, wait, as_json, timeout)


@submit_app.command("synthesize")
def submit_synthesize(
    owner: str = typer.Option(..., help="PARTY:DATASET holding the confidential microdata."),
    method: str = typer.Option("cart", help="cart, copula or mst (differentially private)."),
    columns: str | None = typer.Option(
        None, help="Columns to synthesize, comma-separated (default: all but key columns)."
    ),
    rows: int | None = typer.Option(None, help="Synthetic rows (default: as many as fitted)."),
    quasi: str | None = typer.Option(None, help="Quasi-identifiers, comma-separated."),
    categorical: str | None = typer.Option(
        None, help="Columns to treat as categorical although numeric, comma-separated."
    ),
    epsilon: float = typer.Option(1.0, help="mst: the privacy budget ε."),
    bounds: list[str] = typer.Option(
        [], help="mst: public range of a numeric or date column, COL=LOW:HIGH (repeat)."
    ),
    public_categories: str | None = typer.Option(
        None,
        help="mst: categorical columns whose categories are a public code list (released "
        "outside ε), comma-separated; the others' categories pass a noisy threshold.",
    ),
    target: str | None = typer.Option(None, help="Report: train-synthetic-test-real target."),
    sensitive: str | None = typer.Option(None, help="Report: sensitive column for TCAP."),
    regression: str | None = typer.Option(None, help='Report: a model such as "y ~ x1 + x2".'),
    holdout_share: float = typer.Option(0.2, help="Share of records set aside for the report."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for synthetic.csv and the report (default synthetic-<job>)."
    ),
    recipient: list[str] = typer.Option([], help="Who receives the result (default: you)."),
    node_timeout: float | None = typer.Option(None, help="Seconds a silent node is waited for."),
    wait: bool = typer.Option(True, help="Wait for the release and write its files."),
    timeout: float | None = typer.Option(None, help="Give up waiting after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Synthetic microdata made at the data owner's node, released after the owner's review.

    The node fits the synthesizer, computes the utility and risk report and holds both
    until its data owner runs `privstats node release JOB`; you then receive the synthetic
    file and the report.
    """
    with fail_on_error(), connect(hub, token, token_file) as fed:
        party, dataset = _party_dataset(owner, "--owner")
        options: dict[str, Any] = {
            "rows": rows,
            "quasi_identifiers": list(column_list(quasi)),
            "categorical": list(column_list(categorical)),
            "target": target,
            "sensitive": sensitive,
            "regression": regression,
            "holdout_share": holdout_share,
        }
        if method == "mst":
            options.update(
                epsilon=epsilon,
                bounds=parse_bounds(bounds),
                public_categories=list(column_list(public_categories)),
            )
        job = fed.submit_synthesize(
            owner=party,
            dataset=dataset,
            columns=list(column_list(columns)) or None,
            method=method,
            recipients=recipient or None,
            node_timeout=node_timeout,
            **options,
        )
        if wait and not as_json:
            err.print(
                f"submitted job {job.id}; waiting for {party!r} to approve, synthesize and "
                "review the release"
            )
        _finish(fed, job, wait, as_json, timeout, out_dir)


HANDWRITTEN_SUBMIT = ("join_aggregate", "synthesize")
"""Kinds whose ``submit`` command is written by hand (``--value`` looked up in the
datasets' declared columns; synthesis of all but key columns by default)."""

for _name, _kind in KINDS.items():
    if _name not in HANDWRITTEN_SUBMIT:
        submit_app.command(_kind.command)(submit_command(_kind, _finish))


@job_app.command("show")
def job_show(
    job_id: str = typer.Argument(..., help="The job's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """A job's state, timestamps, approvals and failure reason."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        info = fed.job(job_id).info
        if as_json:
            typer.echo(json.dumps(info))
            return
        out.print(
            f"job {info['id']} ({info['kind']}) — {info['state'].replace('_', ' ')}",
            highlight=False,
        )
        for state, at in info["state_times"].items():
            out.print(f"  {at}  {state.replace('_', ' ')}", highlight=False)
        for approval in info["approvals"]:
            out.print(
                f"  {approval['party']}: {approval['decision']} — {approval['reason']}",
                highlight=False,
            )
        if info.get("pending_approvals"):
            out.print(
                f"  not yet approved by: {', '.join(info['pending_approvals'])}",
                highlight=False,
            )
        if info["failure"]:
            f = info["failure"]
            out.print(f"  failed at party {f['party']!r}, step {f['step']!r}: {f['reason']}")


@job_app.command("wait")
def job_wait(
    job_id: str = typer.Argument(..., help="The job's id."),
    timeout: float | None = typer.Option(None, help="Give up after this many seconds."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for a synthetic release's files (default synthetic-<job>)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Wait for a job to end and print its result (a synthetic release: write its files)."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        _finish(fed, fed.job(job_id), True, as_json, timeout, out_dir)


@job_app.command("list")
def job_list(
    active: bool = typer.Option(False, help="Only jobs that have not ended."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Your jobs (all jobs for an admin), newest first."""
    with fail_on_error(), connect(hub, token, token_file) as fed:
        jobs = fed.jobs(active=active)
        if as_json:
            typer.echo(json.dumps([job.info for job in jobs]))
            return
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("id", "kind", "state", "parties", "submitted", "by"):
            table.add_column(column)
        for job in jobs:
            parties = ", ".join(f"{r}={p}" for r, p in job.info["manifest"]["parties"].items())
            table.add_row(
                job.id,
                job.info["kind"],
                job.state,
                parties,
                job.info["created_at"],
                job.info["submitted_by"],
            )
        out.print(table)


@audit_app.command("verify")
def audit_verify(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    hub: str = HUB,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Recompute the audit chain and check every node signature against the enrolled keys.

    Exits 0 if the whole log verifies, 1 with the first broken entry otherwise.
    """
    with fail_on_error(), connect(hub, token, token_file) as fed:
        report = fed.verify_audit()
        if as_json:
            typer.echo(json.dumps(report.as_dict()))
        elif report.ok and report.partial:
            out.print(
                f"your view of the audit log verified: {report.entries} entries (the registry's "
                f"and your jobs'), each entry's hash and every link between consecutive "
                f"entries intact, {report.signatures} node signatures valid, manifests as "
                "signed; only an admin's or auditor's token can check that no entry is missing"
            )
        elif report.ok:
            out.print(
                f"audit log verified: {report.entries} entries, hash chain intact, "
                f"{report.signatures} node signatures valid, manifests as signed"
            )
        else:
            error(f"audit log broken at entry {report.broken_seq}: {report.reason}")
        if not report.ok:
            raise typer.Exit(1)
