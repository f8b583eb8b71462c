"""``privstats node …``: set up and run a data owner's node, and decide on jobs by hand."""

from __future__ import annotations

import json
import signal
import threading
from contextlib import nullcontext
from pathlib import Path
from types import FrameType
from typing import Literal

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import err, fail_on_error, out
from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError
from privstats.node import release_review
from privstats.node.agent import NodeAgent, decide
from privstats.node.approval import approve_and_spend
from privstats.node.config import (
    KEYED_KINDS,
    AllowRule,
    DatasetConfig,
    NodeConfig,
    PolicyConfig,
    check_job_id,
    load_config,
    write_config,
)
from privstats.node.hub_client import NodeHub, enrol
from privstats.node.ledger import node_ledger
from privstats.node.ledger_report import budget_report, releases_report
from privstats.service.http import allow_plain_http, check_hub_url
from privstats.service.manifest import Manifest

__all__ = ["app"]

app = typer.Typer(help="A data owner's node: connects out to the hub and runs approved jobs.")

CONFIG = typer.Option(Path("node.toml"), "--config", help="The node's configuration file.")


def _say(text: str) -> None:
    err.print(text, highlight=False, soft_wrap=True)


def _hub(settings: NodeConfig) -> NodeHub:
    """The node's signed link to its hub (plain http to another machine only if insecure)."""
    with allow_plain_http() if settings.insecure else nullcontext():
        return NodeHub(settings.hub, settings.name, NodeKeys.load(settings.keys))


@app.command("init")
def init(
    folder: Path = typer.Argument(..., help="Folder for node.toml and the node's keys."),
    name: str = typer.Option(..., help="The party name the hub's admin invited."),
    hub: str = typer.Option(..., help="The hub's URL."),
    enrolment_token: str = typer.Option(
        ..., envvar="PRIVSTATS_ENROLMENT_TOKEN", help="One-time token from 'privstats party add'."
    ),
    dataset: str | None = typer.Option(None, help="A dataset to declare, as NAME=PATH."),
    key: list[str] = typer.Option(
        [], help="Key (identifier) column of that dataset; needed for coverage and join_aggregate."
    ),
    allow: list[str] = typer.Option(["coverage"], help="Computation kinds it may be used for."),
    approval: str = typer.Option("ask", help="ask: a person approves each job; auto: policy does."),
    min_cell: int = typer.Option(
        10, "--min-cell", "--min-domain", help="Smallest group a release may show."
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow a plain http:// hub on another machine (trusted networks only).",
    ),
) -> None:
    """Create the node's keys, enrol them at the hub and write node.toml."""
    with fail_on_error():
        check_hub_url(hub, insecure=insecure)
        config_path = folder / "node.toml"
        if config_path.exists():
            raise ParameterError(f"{config_path} exists already; refusing to overwrite it")
        datasets: dict[str, DatasetConfig] = {}
        if dataset is not None:
            dataset_name, sep, path = dataset.partition("=")
            if not sep:
                raise ParameterError(f"--dataset needs NAME=PATH, got {dataset!r}")
            keyed = [kind for kind in allow if kind in KEYED_KINDS]
            if keyed and not key:
                raise ParameterError(
                    f"--allow {keyed[0]} matches records by key: name the dataset's key "
                    "(identifier) column with --key"
                )
            datasets[dataset_name] = DatasetConfig.model_validate(
                {"path": Path(path).resolve(), "key_columns": tuple(key)}
            )
        if approval not in ("ask", "auto"):
            raise ParameterError(f"--approval must be ask or auto, got {approval!r}")
        policy = PolicyConfig(
            approval=approval,
            min_cell=min_cell,
            allow=tuple(AllowRule(kind=k, datasets=tuple(datasets)) for k in allow if datasets),
        )
        keys = NodeKeys.generate()
        keys.save(folder / "keys")  # refuses existing keys before the one-time token is spent
        try:
            with allow_plain_http() if insecure else nullcontext():
                enrolled = enrol(hub, name, enrolment_token, keys)
        except BaseException:
            for key_file in (folder / "keys").iterdir():
                key_file.unlink()
            raise
        write_config(
            config_path, name=name, hub=hub, datasets=datasets, policy=policy, insecure=insecure
        )
        _say(f"node {name!r} enrolled at {hub} ({enrolled}); keys in {folder / 'keys'}")
        _say(f"configuration written to {config_path}; start it with:")
        typer.echo(f"privstats node run --config {config_path}")


@app.command("run")
def run(
    config: Path = CONFIG,
    web_port: int | None = typer.Option(
        None,
        "--web-port",
        min=0,
        max=65535,
        help="Serve the data owner's pages on 127.0.0.1 at this port (0: any free port); "
        "default: web_port in the config, else no pages.",
    ),
) -> None:
    """Run the node until stopped (Ctrl-C or SIGTERM): declare datasets, decide, run jobs."""
    with fail_on_error():
        settings = load_config(config)
        if web_port is not None:
            settings = settings.model_copy(update={"web_port": web_port})
        agent = NodeAgent(settings, say=_say)
        stop = threading.Event()

        def on_term(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_term)
        pages = None
        try:
            if settings.web_port is not None:
                from privstats.node.pages import PagesServer  # web dependencies only if asked

                pages = PagesServer(settings, settings.web_port)
                pages.start()
                _say(f"node pages: {pages.link}")
            agent.run(stop)
        finally:
            if pages is not None:
                pages.stop()
            agent.close()
        _say(f"node {agent.config.name!r} stopped")


@app.command("approve")
def approve(
    job_id: str = typer.Argument(..., help="The job to approve."),
    config: Path = CONFIG,
    note: str = typer.Option("approved by the node's operator", help="Recorded with the approval."),
) -> None:
    """Approve a job (its manifest is signed with the node's key); the policy still applies."""
    with fail_on_error():
        check_job_id(job_id)
        settings = load_config(config)
        hub = _hub(settings)
        try:
            job = hub.job(job_id)
            manifest, decision = decide(job, settings)
            if decision.action == "reject" or manifest is None:
                raise ParameterError(
                    f"job {job_id} breaks this node's policy, so it cannot be approved: "
                    + " ".join(decision.reasons)
                )
            ledger = node_ledger(settings.path)
            decision = approve_and_spend(hub, settings, ledger, job_id, manifest, note)
            if decision.action == "reject":
                raise ParameterError(
                    f"job {job_id} cannot be approved: {decision.reason}; reject it with "
                    f"privstats node reject {job_id} --reason …"
                )
        finally:
            hub.close()
        out.print(f"job {job_id} approved by {settings.name!r}")


@app.command("reject")
def reject(
    job_id: str = typer.Argument(..., help="The job to reject."),
    reason: str = typer.Option(..., help="Why; the analyst sees it."),
    config: Path = CONFIG,
) -> None:
    """Reject a job: it stops for every party."""
    with fail_on_error():
        check_job_id(job_id)
        settings = load_config(config)
        hub = _hub(settings)
        try:
            manifest = Manifest.model_validate(hub.job(job_id)["manifest"])
            hub.decide(job_id, manifest.digest(), "reject", reason)
        finally:
            hub.close()
        out.print(f"job {job_id} rejected by {settings.name!r}")


def _decide_release(
    job_id: str, config: Path, action: Literal["release", "withhold"], note: str
) -> None:
    check_job_id(job_id)
    settings = load_config(config)
    hub = _hub(settings)
    try:
        state = hub.job(job_id)["state"]
    finally:
        hub.close()
    if state != "running":
        raise ParameterError(f"job {job_id} is {state} at the hub; there is nothing to decide")
    release_review.decide(settings.results_folder(job_id), job_id, action, note)


@app.command("release")
def release(
    job_id: str = typer.Argument(..., help="The job whose held result to release."),
    config: Path = CONFIG,
    note: str = typer.Option("released by the data owner", help="Kept with the decision."),
) -> None:
    """Release a held result (synthetic data) after reviewing its report; the node sends it."""
    with fail_on_error():
        _decide_release(job_id, config, "release", note)
        out.print(f"job {job_id}: released; the node sends the result on its next poll")


@app.command("withhold")
def withhold(
    job_id: str = typer.Argument(..., help="The job whose held result to withhold."),
    reason: str = typer.Option(..., help="Why; the analyst sees it."),
    config: Path = CONFIG,
) -> None:
    """Withhold a held result: the job fails with your reason and nothing leaves the node."""
    with fail_on_error():
        _decide_release(job_id, config, "withhold", reason)
        out.print(f"job {job_id}: withheld; the node ends the job on its next poll")


@app.command("budget")
def budget(
    config: Path = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The privacy budget of each dataset: total cap, spent, remaining, and every spend."""
    with fail_on_error():
        settings = load_config(config)
        report = budget_report(settings, node_ledger(settings.path))
        if as_json:
            typer.echo(json.dumps(report))
            return
        for entry in report["datasets"]:
            cap, spent, left = entry["cap"], entry["spent"], entry["remaining"]
            out.print(
                f"dataset {entry['dataset']!r}: spent ε = {spent['epsilon']:g}"
                + (f", δ = {spent['delta']:g}" if spent["delta"] else "")
                + (
                    f" of ε = {cap['epsilon']:g} (remaining ε = {left['epsilon']:g})"
                    if cap["epsilon"] is not None
                    else " (no total cap: set max_epsilon_total)"
                )
            )
            table = Table(box=box.SIMPLE_HEAD)
            for column in ("job", "kind", "ε", "δ", "at", "state"):
                table.add_column(column, justify="right" if column in "εδ" else "left")
            for spend in entry["spends"]:
                state = spend["state"] + ("" if spend["started"] else " (not started)")
                table.add_row(
                    spend["job"],
                    spend["kind"],
                    f"{spend['epsilon']:g}",
                    f"{spend['delta']:g}",
                    spend["at"],
                    state,
                )
            if entry["spends"]:
                out.print(table)


@app.command("releases")
def releases(
    config: Path = CONFIG,
    dataset: str | None = typer.Option(None, help="Only this dataset's releases."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The release history the differencing guard checks: job, kind, grouping, cells."""
    with fail_on_error():
        settings = load_config(config)
        report = releases_report(node_ledger(settings.path), dataset)
        if as_json:
            typer.echo(json.dumps(report))
            return
        if not report["releases"]:
            out.print("no releases recorded" + (f" for dataset {dataset!r}" if dataset else ""))
        for entry in report["releases"]:
            dims = ", ".join(entry["dims"]) or "(no grouping)"
            population = f", population {entry['population']}" if entry["population"] else ""
            out.print(
                f"{entry['at']}  dataset {entry['dataset']!r}  job {entry['job']}  "
                f"{entry['kind']} by {dims}{population}: {entry['released']} cells released, "
                f"{entry['withheld']} withheld"
            )
            withheld = [
                " / ".join(cell["by"]) or "total" for cell in entry["cells"] if cell["withheld"]
            ]
            if withheld:
                out.print("    withheld: " + "; ".join(withheld))
