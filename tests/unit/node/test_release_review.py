"""The data owner's review of a held result: hold, decide once, read the decision back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from privstats.errors import ParameterError
from privstats.node import release_review


def test_a_held_result_waits_for_one_final_decision(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "job1"
    result = {"computation": "synthesize", "files": {"synthetic.csv": "a\n1\n"}}
    release_review.hold(folder, result)
    assert release_review.is_held(folder)
    assert release_review.held_result(folder) == result
    held = next(folder.glob("held-*"))
    assert stat.S_IMODE(held.stat().st_mode) == 0o600  # owner-only, like the data
    assert release_review.decision_of(folder) is None

    decision = release_review.decide(folder, "job1", "release", "report read, risk low")
    assert release_review.decision_of(folder) == decision
    assert (decision.action, decision.note) == ("release", "report read, risk low")
    with pytest.raises(ParameterError, match="already released here; a decision is final"):
        release_review.decide(folder, "job1", "withhold", "changed my mind")

    release_review.forget_held(folder)
    assert not release_review.is_held(folder)


def test_withholding_needs_a_reason(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "job2"
    release_review.hold(folder, {"x": 1})
    with pytest.raises(ParameterError, match="say why"):
        release_review.decide(folder, "job2", "withhold", "  ")
    release_review.decide(folder, "job2", "withhold", "too many replicated uniques")
    assert release_review.decision_of(folder).action == "withhold"  # type: ignore[union-attr]


def test_deciding_on_a_job_without_a_held_result_names_those_awaiting(tmp_path: Path) -> None:
    release_review.hold(tmp_path / "results" / "abc", {"x": 1})
    with pytest.raises(ParameterError, match=r"job zzz has no result awaiting .*awaiting: abc"):
        release_review.decide(tmp_path / "results" / "zzz", "zzz", "release", "")
