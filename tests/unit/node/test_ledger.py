"""The node's ledger: total privacy budget per dataset, spent atomically, kept across
restarts; and the release history the differencing guard reads."""

from __future__ import annotations

import multiprocessing
import threading
from fractions import Fraction
from pathlib import Path

from privstats.disclosure import Budget
from privstats.disclosure.history import Release
from privstats.node.ledger import Caps, Ledger, Outcome

CAP = Caps(epsilon=1.0, delta=1e-6)


def spend(ledger: Ledger, job: str, epsilon: float, delta: float = 0.0) -> Outcome:
    return ledger.spend("population", job, "synthesize", Budget(epsilon=epsilon, delta=delta), CAP)


def test_spends_add_up_to_the_cap_and_no_further(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert spend(ledger, "a" * 16, 0.4).spend is not None
    assert spend(ledger, "b" * 16, 0.6).spend is not None  # exactly at the cap
    refused = spend(ledger, "c" * 16, 0.1)
    assert refused.spend is None
    assert refused.refused == (
        "dataset 'population' has spent ε = 1 of this node's total cap max_epsilon_total = 1 "
        "(set in [policy]); the job would spend ε = 0.1, more than the 0 that remains"
    )
    assert ledger.spent("population") == (Fraction(1), Fraction(0))


def test_decimal_budgets_add_exactly(tmp_path: Path) -> None:
    """0.1 + 0.2 + 0.3 + 0.4 is 1 (in floats it is 1.0000000000000002 > 1)."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for number, epsilon in enumerate((0.1, 0.2, 0.3, 0.4)):
        assert spend(ledger, f"{number:016x}", epsilon).spend is not None
    assert ledger.spent("population")[0] == 1


def test_delta_has_its_own_total_cap(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert spend(ledger, "a" * 16, 0.1, 6e-7).spend is not None
    refused = spend(ledger, "b" * 16, 0.1, 6e-7)
    assert refused.spend is None
    assert "δ = 6e-07 of this node's total cap max_delta_total = 1e-06" in refused.refused


def test_datasets_have_separate_budgets(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert spend(ledger, "a" * 16, 1.0).spend is not None
    other = ledger.spend("other", "b" * 16, "synthesize", Budget(epsilon=1.0), CAP)
    assert other.spend is not None


def test_the_same_job_is_charged_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    first = spend(ledger, "a" * 16, 0.7)
    again = spend(ledger, "a" * 16, 0.7)
    assert again.spend == first.spend
    assert ledger.spent("population")[0] == Fraction(7, 10)


def test_the_total_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    spend(Ledger(path), "a" * 16, 0.8)
    reopened = Ledger(path)  # a new node process on the same folder
    assert reopened.spent("population")[0] == Fraction(4, 5)
    refused = spend(reopened, "b" * 16, 0.3)
    assert refused.spend is None
    assert "has spent ε = 0.8" in refused.refused


def test_statement_names_dataset_spend_and_total(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    spend(ledger, "a" * 16, 0.25)
    outcome = spend(ledger, "b" * 16, 0.5, 1e-7)
    assert outcome.statement == (
        "budget: dataset 'population' spends ε = 0.5, δ = 1e-07; spent in all ε 0.75 of 1, δ 1e-07"
    )


def test_refund_only_before_the_job_started(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    spend(ledger, "a" * 16, 0.5)
    spend(ledger, "b" * 16, 0.5)
    ledger.mark_started("a" * 16)
    assert ledger.refund("a" * 16, "rejected elsewhere") == []  # it may have leaked
    refunded = ledger.refund("b" * 16, "the hub refused the approval")
    assert [s.job_id for s in refunded] == ["b" * 16]
    assert ledger.spent("population")[0] == Fraction(1, 2)
    states = {s.job_id: (s.state, s.note) for s in ledger.spends("population")}
    assert states["b" * 16] == ("refunded", "the hub refused the approval")
    assert spend(ledger, "c" * 16, 0.5).spend is not None  # the refund is available again


def _race(path: Path, job: str, barrier: threading.Barrier, out: list[Outcome]) -> None:
    ledger = Ledger(path)
    barrier.wait()
    out.append(spend(ledger, job, 0.6))


def test_two_concurrent_approvals_over_the_cap_exactly_one_passes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path)
    for round_ in range(5):
        barrier = threading.Barrier(2)
        out: list[Outcome] = []
        threads = [
            threading.Thread(target=_race, args=(path, f"{round_:08x}{n:08x}", barrier, out))
            for n in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(o.spend is None for o in out) == [False, True]
        passed = next(o for o in out if o.spend is not None)
        Ledger(path).refund(passed.spend.job_id, "next round")  # type: ignore[union-attr]


def test_many_threads_never_overspend(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path)
    barrier = threading.Barrier(8)
    out: list[Outcome] = []
    threads = [
        threading.Thread(target=_race_small, args=(path, f"{n:016x}", barrier, out))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.spend is not None for o in out) == 3  # 3 × 0.3 ≤ 1 < 4 × 0.3
    assert Ledger(path).spent("population")[0] == Fraction(9, 10)


def _race_small(path: Path, job: str, barrier: threading.Barrier, out: list[Outcome]) -> None:
    ledger = Ledger(path)
    barrier.wait()
    out.append(spend(ledger, job, 0.3))


def _spend_in_process(path: str, job: str, start: multiprocessing.synchronize.Event) -> None:
    ledger = Ledger(path)
    start.wait()
    spend(ledger, job, 0.6)


def test_two_processes_approving_at_once_exactly_one_passes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=_spend_in_process, args=(str(path), f"{n:016x}", start))
        for n in range(2)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    spends = Ledger(path).spends("population")
    assert len(spends) == 1
    assert Ledger(path).spent("population")[0] == Fraction(3, 5)


def test_no_cap_records_spends_without_refusing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for n in range(3):
        outcome = ledger.spend(
            "population", f"{n:016x}", "aggregate", Budget(epsilon=5), Caps(None, None)
        )
        assert outcome.spend is not None
    assert ledger.spent("population")[0] == 15


def test_release_history_is_kept_in_order_per_dataset(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    first = Release(
        "a" * 16, "aggregate", ("region",), {("A",): 12, ("B",): 3}, frozenset({("B",)})
    )
    second = Release("b" * 16, "coverage", (), {(): 15}, population="peer:telco")
    ledger.record_release("population", first)
    ledger.record_release("other", second)
    ledger.record_release("population", second)
    history = Ledger(path).history("population")
    assert [r.job_id for r in history] == ["a" * 16, "b" * 16]
    assert history[0].withheld == {("B",)} and history[0].counts == first.counts
    assert all(r.at for r in history)  # stamped when recorded
    assert [name for name, _ in ledger.releases()] == ["population", "other", "population"]
