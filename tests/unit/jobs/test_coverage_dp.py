"""Coverage with differential privacy: noise shares inside the PSI, accounting, views."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.disclosure.accounting import zcdp_epsilon
from privstats.errors import ParameterError
from privstats.jobs import coverage, coverage_dp
from privstats.jobs.coverage import CoverageSpec
from privstats.transport.memory import MemoryNetwork, run_parties

GROUPS = 40


def _spec(**kwargs: Any) -> CoverageSpec:
    return CoverageSpec.build(key="pid", peer_key="cid", by=("region",), **kwargs)


def _dp(**terms: Any) -> dict[str, Any]:
    return {"dp": {"epsilon": 1.0} | terms}


def test_the_plan_meets_the_budget_by_opendp_accounting() -> None:
    """Three count measurements (a person's domain size, matched count, the source size)
    composed by OpenDP at δ/2 give at most the asked ε; each has a third of ρ; the
    truncation's tail is within δ/6 per count; the privacy block says so."""
    spec = _spec(**_dp(epsilon=1.0, delta=1e-8))
    noise = coverage_dp.plan(spec)
    assert noise is not None
    assert noise.release.epsilon <= 1.0 and noise.release.delta == 5e-9
    rho = noise.release.rho
    for name in coverage_dp.MEASUREMENTS:
        measurement = noise.release[name]
        assert measurement.party_sigma == measurement.sigma == noise.sigma  # full share each
        assert 1 / (2 * measurement.sigma**2) <= rho / 3 * (1 + 1e-9)
    assert zcdp_epsilon(rho, 5e-9) == pytest.approx(noise.release.epsilon, rel=1e-6)
    assert 2 * math.exp(-(noise.offset**2) / (2 * noise.sigma**2)) <= 1e-8 / 6
    block = coverage_dp.privacy(noise)
    assert block["epsilon"] == noise.release.epsilon
    assert (block["delta"], block["unit"]) == (1e-8, "record")
    assert coverage_dp.plan(_spec()) is None


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"unit": "person:region"}, "use --dp-unit record or person:pid"),
        ({"bounds": {"x": (0, 1)}}, "--dp-bounds does not apply"),
        ({"collusion": 0}, "the collusion bound is 1"),
    ],
)
def test_terms_coverage_cannot_honour_are_refused(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        _spec(**_dp(**terms))


def test_truncated_shares_have_the_stated_distribution() -> None:
    """Shares lie in 0..pad, centred on the offset, with variance σ² (the truncation
    removes a mass below δ)."""
    noise = coverage_dp.plan(_spec(**_dp(epsilon=0.5)))
    assert noise is not None
    shares = np.array(coverage_dp.truncated_shares(noise, 4000))
    assert shares.min() >= 0 and shares.max() <= noise.pad
    standard_error = noise.sigma / math.sqrt(len(shares))
    assert abs(shares.mean() - noise.offset) < 5 * standard_error
    assert 0.85 < shares.var() / noise.sigma**2 < 1.15


def _files(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[int, int]]]:
    regions = [f"R{g:02d}" for g in range(GROUPS)]
    rows = [[f"p{i}", regions[i % GROUPS]] for i in range(GROUPS * 30)]
    customers = [f"p{i}" for i in range(0, GROUPS * 30, 3)] + [f"other{i}" for i in range(50)]
    reg = tmp_path / "reg.csv"
    with reg.open("w", newline="") as f:
        csv.writer(f).writerows([["pid", "region"], *rows])
    src = tmp_path / "src.csv"
    with src.open("w", newline="") as f:
        csv.writer(f).writerows([["cid"], *([c] for c in customers)])
    own = set(customers)
    truth = {
        region: (
            sum(1 for pid, r in rows if r == region),
            sum(1 for pid, r in rows if r == region and pid in own),
        )
        for region in regions
    }
    return reg, src, truth


def _run_dp(tmp_path: Path, spec: CoverageSpec, spy: dict[str, Any]) -> dict[str, Any]:
    reg, src, _ = _files(tmp_path)
    reg_data = coverage.load_role_data("register", reg, spec)
    src_data = coverage.load_role_data("source", src, spec)
    receiver, sender = coverage.psi.receiver, coverage.psi.sender

    def spy_receiver(*args: Any, **kwargs: Any) -> Any:
        spy["register_view"] = out = receiver(*args, **kwargs)
        return out

    def spy_sender(*args: Any, **kwargs: Any) -> Any:
        chosen = kwargs["dummy_matches"]
        kwargs["dummy_matches"] = lambda n: spy.setdefault("source_shares", chosen(n))
        return sender(*args, **kwargs)

    spy["patch"].setattr(coverage.psi, "receiver", spy_receiver)
    spy["patch"].setattr(coverage.psi, "sender", spy_sender)
    return run_parties(
        MemoryNetwork(["register", "source"], timeout=30),
        {
            "register": lambda ch: coverage.register_role(ch, "source", reg_data, spec),
            "source": lambda ch: coverage.source_role(ch, "register", src_data, spec),
        },
    )


def test_dp_release_noise_and_views(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The release carries the privacy block and per-cell noise; its matched noise has the
    variance of two shares (2σ²); the register's PSI view is m + k (the source's share),
    the source's view of the release minus its share is m + η (the register's)."""
    spec = _spec(min_cell=10, **_dp(epsilon=2.0, delta=1e-9, unit="person:pid"))
    spy: dict[str, Any] = {"patch": monkeypatch}
    out = _run_dp(tmp_path, spec, spy)
    _, _, truth = _files(tmp_path)
    result = out["register"]
    assert out["source"] == result
    noise = coverage_dp.plan(spec)
    assert noise is not None
    assert result["privacy"] == coverage_dp.privacy(noise)
    assert result["privacy"]["epsilon"] <= 2.0 and result["privacy"]["delta"] == 1e-9
    assert result["privacy"]["unit"] == "person:pid"
    assert result["rules"] == []
    regions = sorted(truth)
    groups = {e["by"]["region"]: e for e in result["groups"]}
    assert sorted(groups) == regions and not any(e["suppressed"] for e in groups.values())
    entry = groups[regions[0]]
    assert entry["noise_sd"]["matched"] == pytest.approx(noise.sigma * math.sqrt(2))
    assert 1.96 * noise.sigma <= entry["error_95"]["register_size"] <= 2.8 * noise.sigma
    assert result["noise_sd"]["matched"] == pytest.approx(noise.sigma * math.sqrt(2 * GROUPS))

    released = np.array([groups[r]["matched"] - truth[r][1] for r in regions])
    sizes = np.array([groups[r]["register_size"] - truth[r][0] for r in regions])
    view = np.array(spy["register_view"].matched) - np.array([truth[r][1] for r in regions])
    shares = np.array(spy["source_shares"])
    assert (view == shares).all()  # the register sees m + k, never m alone
    assert np.count_nonzero(view - noise.offset) > GROUPS // 2
    source_view = released + noise.offset - shares  # m + η: the register's share
    for noisy, variance in ((released, 2), (sizes, 1), (source_view, 1)):
        assert abs(noisy.mean()) < 5 * noise.sigma * math.sqrt(variance / GROUPS)
        ratio = noisy.var() / (variance * noise.sigma**2)
        assert 0.4 < ratio < 2.0, ratio
    assert result["matched"] == sum(groups[r]["matched"] for r in regions)  # margins add up
