"""Differential privacy in join-aggregate: noise inside the decryption, its size and its
accounting, and what the left party still sees exactly.

The protocol tests run both parties over memory channels with the right party's noise
function and compare the left party's decrypted sums with the plaintext sums plus the
noise the right party drew (known only to it): the noise arrives inside the decryption,
exactly, and the left party never holds the noiseless sum. The job tests check the
``"privacy"`` block against OpenDP's accounting and each cell's accuracy fields.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from scipy import stats
from test_join_rules import cells, files, people, run

from privstats.disclosure.dp_release import DpTerms, plan_release
from privstats.errors import ParameterError
from privstats.jobs.join_aggregate import JoinAggregateSpec
from privstats.jobs.join_dp import dp_plan, dp_queries, right_noise
from privstats.protocols import join_aggregate as ja
from privstats.transport.memory import MemoryNetwork, run_parties

TERMS = DpTerms(epsilon=1.0, bounds={"income": (0, 100_000)})


def protocol_run(noise: ja.Noise) -> tuple[ja.LeftResult, ja.RightResult, list[list[int]]]:
    """Two groups, one left and one right column; returns the plaintext sums too."""
    left_ids = [f"x{i}" for i in range(40)]
    groups = [i % 2 for i in range(40)]
    left_values = [[i for i in range(40)]]
    right_ids = [f"x{i}" for i in range(10, 50)]
    right_values = [[1_000 + i for i in range(40)]]
    network = MemoryNetwork(["a", "b"], timeout=60)
    out = run_parties(
        network,
        {
            "a": lambda ch: ja.left(
                ch, "b", left_ids, groups, 2, left_values,
                release=ja.per_group(lambda counts: range(len(counts))), decimals=[0],
            ),
            "b": lambda ch: ja.right(ch, "a", right_ids, right_values, noise=noise),
        },
    )  # fmt: skip
    plain = [
        [
            sum(i for i in range(10, 40) if i % 2 == g),
            sum(1_000 + i - 10 for i in range(10, 40) if i % 2 == g),
        ]
        for g in range(2)
    ]
    return out["a"], out["b"], plain


def test_the_right_partys_noise_arrives_inside_the_decryption() -> None:
    """A finds S + η for every column and cell, η drawn by B alone; the column and scale
    B's noise function is asked for are the left column (A's decimals) then the right."""
    asked: list[tuple[int, int, int]] = []

    def noise(column: int, n: int, decimals: int) -> list[int]:
        asked.append((column, n, decimals))
        return [7 * (column + 1) + k for k in range(n)]

    result, bank, plain = protocol_run(noise)

    assert asked == [(0, 2, 0), (1, 2, 0)]
    assert bank.noise == (7, 8, 14, 15)
    by_group = {int(k[0]): v for k, v in result.sums.items()}
    for g in range(2):
        assert by_group[g] == (plain[g][0] + 7 + g, plain[g][1] + 14 + g)
    assert result.counts == (15, 15)  # A's counts stay exact: A learns them in clear


def test_without_noise_the_sums_are_exact() -> None:
    result, bank, plain = protocol_run(lambda c, n, d: [0] * n)
    assert {int(k[0]): list(v) for k, v in result.sums.items()} == dict(enumerate(plain))
    assert bank.noise == (0, 0, 0, 0)


def test_the_noise_has_the_planned_scale() -> None:
    """B's noise for a column at 2 decimals: a discrete Gaussian of σ·100 in cents; its
    sample standard deviation and normality (KS) agree with the plan."""
    plan = dp_plan(TERMS, "id", ("region",), ("income",))
    measured = plan["sum:income [by region]"]
    sigma = measured.sigma * measured.quantum * 100
    draws = right_noise(plan, ("region",), ("income",))(0, 4000, 2)
    assert statistics.fmean(draws) == pytest.approx(0, abs=4 * sigma / math.sqrt(4000))
    assert statistics.stdev(draws) == pytest.approx(sigma, rel=0.06)
    assert stats.kstest([d / sigma for d in draws], "norm").pvalue > 1e-4


def test_the_plan_spends_what_opendp_composes_and_both_sides_agree() -> None:
    """Each layer (groups, then the total) is a count and a sum; the ε reported is OpenDP's
    composition, at most the ε asked; the noise does not depend on the cell numbers, so the
    right party, which does not know them, draws the same scale."""
    left = dp_plan(TERMS, "id", ("region", "sex"), ("income",), **{"by region,sex": 8})
    right = dp_plan(TERMS, "id", ("region", "sex"), ("income",))
    names = [m.query.name for m in left.measurements]
    assert names == [
        "count [by region,sex]", "sum:income [by region,sex]", "count [by region]",
        "sum:income [by region]", "count [by sex]", "sum:income [by sex]", "count [total]",
        "sum:income [total]",
    ]  # fmt: skip
    assert [m.sigma for m in left.measurements] == [m.sigma for m in right.measurements]
    again = plan_release(TERMS, dp_queries(("region", "sex"), ("income",)), parties=1)
    assert left.epsilon == again.epsilon <= 1.0
    assert left.epsilon > 0.99  # the budget is used, not wasted


def test_dp_terms_are_checked() -> None:
    with pytest.raises(ParameterError, match="income"):
        dp_plan(DpTerms(epsilon=1.0), "id", (), ("income",))
    with pytest.raises(ParameterError, match="privacy unit"):
        dp_plan(DpTerms(epsilon=1.0, unit="person:household"), "id", (), ())


def test_a_dp_release_is_noisy_and_says_how_much(tmp_path: Path) -> None:
    data = people(n_per_cell=30, target=False)
    left, right = files(tmp_path, data)
    spec = JoinAggregateSpec.build(
        key="id", by=("region",), right_values=("income",), min_cell=3, dp=TERMS
    )

    result = run(left, right, spec)

    privacy = result["privacy"]
    assert privacy["epsilon"] <= 1.0 and privacy["delta"] == 1e-9
    assert privacy["unit"] == "record" and "right party" in privacy["mechanism"]
    plan = dp_plan(TERMS, "id", ("region",), ("income",))
    want = {m.query.name: m for m in plan.measurements}
    exact = {"Coast": 60, "Hills": 60, "Islands": 30, "Plain": 60}
    noisy_counts: list[float] = []
    for key, entry in cells(result).items():
        layer = "total" if key == ("Total",) else "by region"
        sd, err = entry["noise_sd"], entry["error_95"]
        assert sd["count"] == want[f"count [{layer}]"].noise_sd
        assert err["sum:income"] == want[f"sum:income [{layer}]"].error_95
        truth = sum(exact.values()) if key == ("Total",) else exact[key[0]]
        assert abs(entry["count"] - truth) <= 6 * sd["count"]
        noisy_counts.append(entry["count"] - truth)
    assert any(d != 0 for d in noisy_counts)  # noise was added (P(all 0) < 1e-5)


def test_dp_with_rules_still_withholds_small_cells(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data)
    spec = JoinAggregateSpec.build(
        key="id", by=("region", "sex"), right_values=("income",), min_cell=5, dp=TERMS
    )
    result: dict[str, Any] = run(left, right, spec)
    her = cells(result)[("Islands", "F")]
    assert her["suppressed"] and her["count"] is None and "noise_sd" not in her


def test_the_kind_states_its_dp_disclosure_and_budget() -> None:
    """What the node checks before it runs: ε, δ and the privacy block, and the budget its
    ledger charges; without DP only the floor and rules."""
    from privstats.jobs.join_aggregate import KIND

    spec = JoinAggregateSpec.build(key="id", by=("region",), right_values=("income",), dp=TERMS)
    stated = KIND.disclosure(spec)
    plan = dp_plan(TERMS, "id", ("region",), ("income",))
    assert (stated["epsilon"], stated["delta"]) == (plan.epsilon, plan.delta)
    assert stated["privacy"]["measurements"] == plan.privacy_block()["measurements"]
    budget = KIND.budget(spec)
    assert budget is not None and (budget.epsilon, budget.delta) == (1.0, 1e-9)
    plain = JoinAggregateSpec.build(key="id", rules=("nk:1,80",))
    assert KIND.disclosure(plain) == {"min_cell": 10, "rules": ["nk:1,80"]}
    assert KIND.budget(plain) is None
