"""The aggregate under DP: local vectors, noise inside the secure sum, the release.

What it proves: each party's exact vector is its clamped, contribution-bounded counts,
sums and histograms (by hand); the opened totals are exactly the pooled exact vector plus
every party's own noise draw (recorded), so no party, and no message, holds a noiseless
total — every share a party receives is uniform bytes and equals neither the exact total
nor any party's vector; the release's figures are within twice their stated 95 % error of
the plaintext figures (a threshold a correct run exceeds with probability below 1e-6);
``privstats run aggregate --dp-epsilon`` prints the privacy block and per-cell accuracy.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.stats import chisquare
from typer.testing import CliRunner

from privstats.data.tables import Table
from privstats.disclosure.dp_release import DpTerms, quantum_for
from privstats.errors import ParameterError
from privstats.jobs.aggregate import KIND, AggregateSpec, party_role
from privstats.protocols import aggregate_dp
from privstats.protocols.aggregate import AggregateTerms
from privstats.protocols.aggregate_dp import DpAggregateTerms, local_vector
from privstats.transport.channel import Channel
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

BOUNDS = (0.0, 100.0)
LEVELS = {"region": ["N", "S"]}


def _table(name: str, regions: list[str], x: list[float], pid: list[str] | None = None) -> Table:
    categories = {"region": np.asarray(regions, dtype=str)}
    if pid is not None:
        categories["pid"] = np.asarray(pid, dtype=str)
    return Table(f"{name}.csv", len(regions), categories, {"x": np.asarray(x, dtype=float)})


def _terms(stats: list[str], dp: DpTerms) -> DpAggregateTerms:
    spec = AggregateSpec(stats=tuple(stats), by=("region",), levels=LEVELS, dp=dp)
    base = AggregateTerms(
        plan=spec.plan(), by=spec.by, min_cell=1, levels=spec.levels, agreed=spec.model_dump()
    )
    return DpAggregateTerms(base, dp)


# --- local vectors ----------------------------------------------------------------------


def test_local_vector_clamps_to_bounds_and_bounds_each_persons_records() -> None:
    dp = DpTerms(rho=1, unit="person:pid", max_records_per_unit=2, bounds={"x": BOUNDS}, bins=4)
    terms = _terms(["count", "mean:x", "median:x"], dp)
    table = _table(
        "a",
        ["N", "N", "N", "S", "S", "S"],
        [10.0, 250.0, 30.0, -5.0, float("nan"), 60.0],
        ["p1", "p1", "p1", "p2", "p3", "p3"],  # p1's third record is dropped
    )
    plan = aggregate_dp.dp_plan(terms.base.plan, dp, 2, 3)
    assert plan.contributions == 2 * 3  # a person may be at each of 3 parties
    vectors = local_vector(table, terms.base, dp, plan, [("N",), ("S",)])

    q = quantum_for(BOUNDS)
    assert vectors["count"].tolist() == [2, 3]
    assert vectors["count:x"].tolist() == [2, 2]  # p3's missing value not counted
    assert vectors["sum:x"].tolist() == [round(10 / q) + round(100 / q), 0 + round(60 / q)]
    # bins of width 25: N holds 10 and 100 (clamped: last bin), S holds 0 (clamped) and 60
    assert vectors["histogram:x"].tolist() == [1, 0, 0, 1, 1, 0, 1, 0]


def test_under_dp_groups_must_be_levels_and_statistics_supported() -> None:
    dp = DpTerms(epsilon=1, bounds={"x": BOUNDS})
    with pytest.raises(ValidationError, match="--level"):
        AggregateSpec(stats=("count",), by=("region",), dp=dp)
    with pytest.raises(ValidationError, match="not var:x"):
        AggregateSpec(stats=("var:x",), dp=dp)
    with pytest.raises(ValidationError, match="--dp-bounds y=LOW:HIGH"):
        AggregateSpec(stats=("mean:y",), dp=dp)
    spec = AggregateSpec(stats=("count",), dp=dp)
    assert KIND.budget(spec) == dp.budget()
    assert KIND.disclosure(spec)["privacy"]["epsilon"] <= 1
    assert KIND.budget(AggregateSpec()) is None


# --- the protocol and its threat model --------------------------------------------------


def _run_recorded(
    tables: dict[str, Table], terms: DpAggregateTerms, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], MemoryNetwork, dict[str, list[np.ndarray]]]:
    """Run every party over memory, recording each party's own noise draws."""
    noise: dict[str, list[np.ndarray]] = {p: [] for p in tables}
    real = aggregate_dp.party_noise
    lock = threading.Lock()

    def recorded(cells: int, sigma: float) -> np.ndarray:
        drawn = real(cells, sigma)
        with lock:
            noise[threading.current_thread().name.removeprefix("party-")].append(drawn)
        return drawn

    monkeypatch.setattr(aggregate_dp, "party_noise", recorded)
    parties = list(tables)
    network = MemoryNetwork(parties, timeout=60, record=True)

    def role(party: str):  # type: ignore[no-untyped-def]
        return lambda channel: aggregate_dp.party(channel, parties, tables[party], terms)

    return run_parties(network, {p: role(p) for p in parties}), network, noise


def test_no_party_sees_a_noiseless_total(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    tables = {
        p: _table(p, list(rng.choice(["N", "S"], 200)), list(rng.uniform(-20, 140, 200)))
        for p in ("a", "b", "c")
    }
    dp = DpTerms(epsilon=1, bounds={"x": BOUNDS}, bins=512)
    terms = _terms(["count", "mean:x", "median:x"], dp)
    results, network, noise = _run_recorded(tables, terms, monkeypatch)

    labels = [("N",), ("S",)]
    plan = results["a"].plan
    exact = {p: local_vector(t, terms.base, dp, plan, labels) for p, t in tables.items()}
    names = list(exact["a"])
    pooled = np.concatenate([sum(exact[p][n] for p in tables) for n in names])
    drawn = {p: np.concatenate(noise[p]) for p in tables}
    opened = np.concatenate([results["a"].vectors[n] for n in names])
    # every party ends with the same opened vector: the exact total plus every party's noise
    assert all(r.vectors == results["a"].vectors for r in results.values())
    assert opened.tolist() == (pooled + sum(drawn.values())).tolist()
    assert np.count_nonzero(opened != pooled) > len(opened) // 2
    for party in tables:
        received = network.channel(party).received
        assert received is not None
        messages = [decode(frame) for _, frame in received]
        kinds = {type(m).__name__ for m in messages}
        assert kinds == {"Hello", "ShareChunk", "PartialChunk"}, kinds
        for message in messages:
            data = getattr(message, "data", None)
            if data is None:
                continue
            elements = np.frombuffer(data, dtype="<u8")
            assert len(elements) == len(pooled)
            # neither the exact total nor any party's exact or noisy vector travels
            for vector in (pooled, *(np.concatenate(list(v.values())) for v in exact.values())):
                assert not np.array_equal(elements, vector.astype(np.int64).view(np.uint64))
            for p in tables:
                local = np.concatenate(list(exact[p].values())) + drawn[p]
                assert not np.array_equal(elements, local.astype(np.int64).view(np.uint64))
            histogram = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
            assert chisquare(histogram).pvalue > 1e-6


# --- the release ------------------------------------------------------------------------


def _frames(seed: int) -> dict[str, tuple[list[str], list[float]]]:
    rng = np.random.default_rng(seed)
    return {
        p: (list(rng.choice(["N", "S"], n)), list(np.round(rng.uniform(20, 90, n), 2)))
        for p, n in (("a", 2500), ("b", 1500))
    }


def test_release_is_within_twice_its_stated_error_of_the_truth() -> None:
    frames = _frames(7)
    tables = {p: _table(p, r, x) for p, (r, x) in frames.items()}
    spec = AggregateSpec(
        stats=("count", "sum:x", "mean:x", "median:x"),
        by=("region",),
        levels=LEVELS,
        dp=DpTerms(epsilon=2, bounds={"x": BOUNDS}),
    )
    parties = list(tables)
    network = MemoryNetwork(parties, timeout=60)

    def role(table: Table):  # type: ignore[no-untyped-def]
        return lambda channel: party_role(channel, parties, table, spec)

    results = run_parties(network, {p: role(t) for p, t in tables.items()})
    release = results["a"]
    assert all(r == release for r in results.values())
    assert release["privacy"]["epsilon"] <= 2 and release["privacy"]["parties"] == 2
    regions = np.concatenate([np.asarray(r) for r, _ in frames.values()])
    x = np.concatenate([np.asarray(v) for _, v in frames.values()])
    for group in release["groups"]:
        values = x[regions == group["by"]["region"]]
        truth = {"count": values.size, "sum:x": values.sum(), "mean:x": values.mean()}
        for name, true in truth.items():
            assert group["noise_sd"][name] > 0
            assert abs(group[name] - true) <= 2 * group["error_95"][name], name
        accuracy = group["error_95"]["median:x"]
        rank = 2 * accuracy["rank_error_95"] / values.size
        below = np.mean(values <= group["median:x"] + accuracy["bin_width"])
        above = np.mean(values <= group["median:x"] - accuracy["bin_width"])
        assert below >= 0.5 - rank and above <= 0.5 + rank
        assert group["suppressed"] is False


@pytest.mark.slow
def test_cli_run_aggregate_prints_the_privacy_block(tmp_path: Path) -> None:
    from privstats.cli.run_aggregate import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """privstats run (test stand-in)."""

    register(app)
    args = []
    for party, (regions, wages) in _frames(11).items():
        path = tmp_path / f"{party}.csv"
        rows = [f"{r},{w * 2000:.2f}" for r, w in zip(regions, wages, strict=True)]
        path.write_text("region,wage\n" + "\n".join(rows) + "\n")
        args += ["--party", f"{party}={path}"]
    result = CliRunner().invoke(
        app,
        [
            "aggregate",
            *args,
            "--stat",
            "count",
            "--stat",
            "mean:wage",
            "--by",
            "region",
            "--level",
            "region=N|S",
            "--dp-epsilon",
            "1",
            "--dp-bounds",
            "wage=0:200000",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)
    privacy = release["privacy"]
    assert privacy["epsilon"] <= 1 and privacy["delta"] == 1e-9
    assert privacy["unit"] == "record" and "discrete Gaussian" in privacy["mechanism"]
    frames = _frames(11)
    regions = np.concatenate([np.asarray(r) for r, _ in frames.values()])
    wages = np.concatenate([np.asarray(v) for _, v in frames.values()]) * 2000
    for group in release["groups"]:
        values = wages[regions == group["by"]["region"]]
        assert abs(group["count"] - values.size) <= 2 * group["error_95"]["count"]
        assert abs(group["mean:wage"] - values.mean()) <= 2 * group["error_95"]["mean:wage"]


def test_a_collusion_bound_at_the_party_count_is_refused() -> None:
    dp = DpTerms(epsilon=1, collusion=2)
    terms = _terms(["count"], dp)
    tables = {p: _table(p, ["N"], [1.0]) for p in ("a", "b")}
    parties = list(tables)
    network = MemoryNetwork(parties, timeout=10)

    def role(party: str):  # type: ignore[no-untyped-def]
        def run(channel: Channel) -> Any:
            return aggregate_dp.party(channel, parties, tables[party], terms)

        return run

    with pytest.raises(Exception) as info:
        run_parties(network, {p: role(p) for p in parties})
    assert isinstance(info.value.__cause__, ParameterError)
    assert "collusion" in str(info.value.__cause__)


def test_groups_below_min_cell_by_their_noisy_count_carry_no_figures() -> None:
    frames = _frames(5)
    tables = {p: _table(p, r, x) for p, (r, x) in frames.items()}
    spec = AggregateSpec(
        stats=("count", "mean:x"),
        by=("region",),
        levels={"region": ["E", "N", "S"]},  # nobody lives in E
        min_cell=100,
        dp=DpTerms(epsilon=1, bounds={"x": BOUNDS}),
    )
    assert KIND.disclosure(spec)["min_cell"] == 100
    parties = list(tables)

    def role(table: Table):  # type: ignore[no-untyped-def]
        return lambda channel: party_role(channel, parties, table, spec)

    release = run_parties(
        MemoryNetwork(parties, timeout=60), {p: role(t) for p, t in tables.items()}
    )["a"]
    east, north, _ = release["groups"]
    assert east["suppressed"] and east["count"] is None and east["mean:x"] is None
    assert "noisy count below min_cell 100" in east["reason"]
    assert not north["suppressed"] and north["count"] > 100
    tables_shown = KIND.render(release)
    assert tables_shown and "suppressed" in tables_shown[0].rows[0]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["N", "S"]),
            st.one_of(st.just(float("nan")), st.floats(-1e3, 1e3)),
            st.sampled_from(["p1", "p2", "p3", "p4"]),
        ),
        max_size=40,
    ),
    keep=st.integers(1, 3),
)
def test_local_vector_equals_plaintext_clamped_figures(
    rows: list[tuple[str, float, str]], keep: int
) -> None:
    dp = DpTerms(rho=1, unit="person:pid", max_records_per_unit=keep, bounds={"x": BOUNDS})
    terms = _terms(["count", "sum:x", "mean:x"], dp)
    table = _table("h", [r for r, _, _ in rows], [x for _, x, _ in rows], [p for _, _, p in rows])
    plan = aggregate_dp.dp_plan(terms.base.plan, dp, 2, 2)
    vectors = local_vector(table, terms.base, dp, plan, [("N",), ("S",)])

    seen: dict[str, int] = {}
    kept = []
    for region, x, pid in rows:  # each person's first records in file order
        seen[pid] = seen.get(pid, 0) + 1
        if seen[pid] <= keep:
            kept.append((region, x))
    q = quantum_for(BOUNDS)
    for g, region in enumerate(("N", "S")):
        mine = [x for r, x in kept if r == region]
        present = [x for x in mine if not np.isnan(x)]
        assert vectors["count"][g] == len(mine)
        assert vectors["count:x"][g] == len(present)
        assert vectors["sum:x"][g] == sum(round(min(max(x, 0.0), 100.0) / q) for x in present)
