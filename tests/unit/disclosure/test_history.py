"""The differencing guard: cells a new release must withhold so that no withheld cell of it
or of an earlier release on the same dataset can be computed from the releases together.

Every attack is checked the way an analyst would run it: the releases are sums of wages
over made-up records; an LP over the records' wages (non-negative, every published sum
fixed) gives the lowest and highest value a withheld cell's sum can take. Without the
guard the interval is a single number (the attack works); with the guard's extra
withholding it is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from privstats.disclosure.history import (
    HistoryGuard,
    Release,
    differencing_check,
    known_cells,
    parse_filter,
    population_filter,
    small_differences,
)
from privstats.disclosure.owner import CandidateRelease

MIN_CELL = 10


@dataclass(frozen=True)
class Person:
    region: str
    sex: str
    age: str
    wage: float
    new: bool = False  # added to the data after the first job


def people(counts: dict[tuple[str, str, str], int], seed: int = 1) -> list[Person]:
    """``counts[(region, sex, age)]`` persons with distinct positive wages."""
    rng = np.random.default_rng(seed)  # test data only, nothing to protect
    out = []
    for (region, sex, age), n in sorted(counts.items()):
        out += [Person(region, sex, age, float(rng.integers(20, 90) * 1000)) for _ in range(n)]
    return out


# Every combination of region, sex and age holds someone: the attacker's LP below knows
# each person's groups, while an analyst cannot tell an empty combination from the
# releases; with a combination empty, that LP would know more than any analyst.
TOWN = people(
    {
        ("Islands", "M", "young"): 20,
        ("Islands", "M", "old"): 5,
        ("Islands", "F", "old"): 1,  # she and one other woman are all of Islands/F
        ("Islands", "F", "young"): 1,
        ("North", "M", "young"): 30,
        ("North", "F", "young"): 25,
        ("North", "F", "old"): 20,
        ("North", "M", "old"): 22,
        ("South", "M", "young"): 14,
        ("South", "F", "young"): 16,
        ("South", "F", "old"): 12,
        ("South", "M", "old"): 11,
    }
)


@dataclass(frozen=True)
class Job:
    """A release as the analyst sees it: sums of wages per group of a population."""

    job_id: str
    dims: tuple[str, ...]
    population: Callable[[Person], bool]
    population_name: str
    withheld: frozenset[tuple[str, ...]]

    def label(self, person: Person) -> tuple[str, ...]:
        return tuple(getattr(person, dim) for dim in self.dims)


def counts_of(dims: Sequence[str], data: Sequence[Person]) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for person in data:
        key = tuple(getattr(person, dim) for dim in dims)
        out[key] = out.get(key, 0) + 1
    return out


def candidate(
    dims: tuple[str, ...], data: Sequence[Person], population: str = ""
) -> CandidateRelease:
    """The table a kind would release: cells under MIN_CELL withheld by its own rule."""
    counts = counts_of(dims, data)
    small = frozenset(label for label, n in counts.items() if n < MIN_CELL)
    return CandidateRelease("aggregate", dims, counts, small, ("sum:wage",), population)


def attacker_interval(
    data: Sequence[Person], jobs: Sequence[Job], target: Callable[[Person], bool]
) -> tuple[float, float]:
    """Lowest and highest total wage of the persons ``target`` selects, given every
    published cell sum of ``jobs`` (each over its own population of ``data``)."""
    rows, sums = [], []
    for job in jobs:
        members = [p for p in data if job.population(p)]
        for label in counts_of(job.dims, members):
            if label in job.withheld:
                continue
            rows.append([1.0 if job.population(p) and job.label(p) == label else 0.0 for p in data])
            sums.append(sum(p.wage for p in members if job.label(p) == label))
    objective = np.array([1.0 if target(p) else 0.0 for p in data])
    ends = []
    for sign in (1.0, -1.0):
        result = linprog(
            sign * objective,
            A_eq=np.array(rows) if rows else None,
            b_eq=np.array(sums) if rows else None,
            bounds=(0, None),
            method="highs",
        )
        ends.append(np.inf if result.status == 3 else sign * result.fun)
    return ends[0], ends[1]


def run_jobs(
    data: Sequence[Person],
    plan: Sequence[tuple[tuple[str, ...], Callable[[Person], bool], str]],
    *,
    guard: bool,
) -> tuple[list[Job], dict[str, dict[tuple[str, ...], str]]]:
    """Release the planned tables in order (with or without the guard); the jobs as the
    analyst sees them and each job's guard reasons."""
    history: list[Release] = []
    jobs: list[Job] = []
    reasons: dict[str, dict[tuple[str, ...], str]] = {}
    for number, (dims, population, name) in enumerate(plan, start=1):
        job_id = f"job{number}"
        table = candidate(dims, [p for p in data if population(p)], name)
        keeper = HistoryGuard(history.copy, job_id=job_id, min_cell=MIN_CELL)
        extra = dict(keeper.check(table)) if guard else {}
        reasons[job_id] = extra
        withheld = table.withheld | set(extra)
        keeper.published(table, withheld)
        history += keeper.pending
        jobs.append(Job(job_id, dims, population, name, frozenset(withheld)))
    return jobs, reasons


def everyone(_: Person) -> bool:
    return True


def islands_women(p: Person) -> bool:
    return p.region == "Islands" and p.sex == "F"


# -------------------------------------------------------------------- (b) nested groupings


def test_nested_groupings_region_then_region_by_sex() -> None:
    plan = [(("region",), everyone, ""), (("region", "sex"), everyone, "")]
    jobs, _ = run_jobs(TOWN, plan, guard=False)
    low, high = attacker_interval(TOWN, jobs, islands_women)
    her_wage = sum(p.wage for p in TOWN if islands_women(p))
    assert low == pytest.approx(her_wage) and high == pytest.approx(her_wage)  # the attack

    jobs, reasons = run_jobs(TOWN, plan, guard=True)
    assert reasons["job1"] == {}
    assert set(reasons["job2"]) == {("Islands", "M")}
    assert reasons["job2"][("Islands", "M")] == (
        "region=Islands,sex=F of this job (withheld) would be computable as "
        "region=Islands of job job1 − region=Islands,sex=M of this job"
    )
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low > 1000


def test_nested_groupings_in_the_other_order() -> None:
    """region × sex first (Islands/F withheld), then region: the margin gives her away."""
    plan = [(("region", "sex"), everyone, ""), (("region",), everyone, "")]
    jobs, reasons = run_jobs(TOWN, plan, guard=True)
    assert set(reasons["job2"]) == {("Islands",)}
    assert "region=Islands,sex=F of job job1 (withheld)" in reasons["job2"][("Islands",)]
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low > 1000


# ---------------------------------------------------------------- (c) one category split off


def test_total_then_one_category_split_off() -> None:
    """The grand total, then by region with Islands (26 persons) … made small by a filter:
    by region among women, Islands has her alone; total of women minus the rest."""

    def women(p: Person) -> bool:
        return p.sex == "F"

    women_only = population_filter({"sex": ["F"]})
    plan = [((), women, women_only), (("region",), women, women_only)]
    jobs, _ = run_jobs(TOWN, plan, guard=False)
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low == pytest.approx(0)

    jobs, reasons = run_jobs(TOWN, plan, guard=True)
    assert set(reasons["job2"]) == {("South",)}  # the smaller of the two other regions
    assert reasons["job2"][("South",)] == (
        "region=Islands of this job (withheld) would be computable as the total of job job1 "
        "− region=North of this job − region=South of this job"
    )
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low > 1000


# --------------------------------------------------- (a) overlapping populations, updated data


def test_updated_data_one_record_added() -> None:
    """The same job before and after one record is added gives that record."""
    newcomer = Person("North", "F", "old", 77_000.0, new=True)
    after = [*TOWN, newcomer]
    history: list[Release] = []
    first = candidate(("region",), TOWN)
    history.append(Release.of("job1", first, first.withheld))
    second = candidate(("region",), after)
    reasons = differencing_check(history, second, min_cell=MIN_CELL)
    assert set(reasons) == {("North",)}
    assert reasons[("North",)].startswith(
        "region=North would differ from region=North of job job1 by fewer than min_cell = 10"
    )
    jobs = [
        Job("job1", ("region",), lambda p: not p.new, "", first.withheld),
        Job("job2", ("region",), everyone, "", second.withheld | set(reasons)),
    ]
    low, high = attacker_interval(after, jobs, lambda p: p.new)
    assert high - low > 1000
    open_again = [jobs[0], Job("job2", ("region",), everyone, "", second.withheld)]
    low, high = attacker_interval(after, open_again, lambda p: p.new)
    assert high - low == pytest.approx(0)


def test_overlapping_populations_differing_by_fewer_than_the_minimum() -> None:
    """All persons, then persons under 65 ('young'): South differs by 23, Islands by 6."""

    def young(p: Person) -> bool:
        return p.age == "young"

    plan = [(("region",), everyone, ""), (("region",), young, "age=young")]
    _, reasons = run_jobs(TOWN, plan, guard=True)
    assert set(reasons["job2"]) == {("Islands",)}
    assert "fewer than min_cell = 10 records" in reasons["job2"][("Islands",)]


def test_equal_counts_in_another_population_count_as_the_same_records() -> None:
    """All Islanders are under 65 but her … no: a population where Islands has the same
    count links the two Islands cells, so the split in the second one is protected."""

    def not_south_old(p: Person) -> bool:
        return not (p.region == "South" and p.age == "old")

    plan = [(("region",), everyone, ""), (("region", "sex"), not_south_old, "filtered")]
    jobs, reasons = run_jobs(TOWN, plan, guard=True)
    assert set(reasons["job2"]) == {("Islands", "M")}
    assert "taken as the same records in two populations" in reasons["job2"][("Islands", "M")]
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low > 1000


# ---------------------------------------------------------------------------- no false alarms


def test_unrelated_groupings_withhold_nothing() -> None:
    plan = [(("region",), everyone, ""), (("sex",), everyone, ""), (("age",), everyone, "")]
    _, reasons = run_jobs(TOWN, plan, guard=True)
    assert reasons == {"job1": {}, "job2": {}, "job3": {}}


def test_a_cell_an_earlier_release_already_disclosed_is_not_charged_again() -> None:
    """Job 1 published a 12-person cell; job 2 (min_cell 15) withholds it: nothing to do."""
    earlier = Release("job1", "aggregate", ("region",), {("A",): 12, ("B",): 40})
    table = CandidateRelease(
        "aggregate", ("region",), {("A",): 12, ("B",): 40}, frozenset({("A",)})
    )
    assert differencing_check([earlier], table, min_cell=15) == {}


def test_the_same_job_twice_withholds_nothing_new() -> None:
    plan = [(("region", "sex"), everyone, ""), (("region", "sex"), everyone, "")]
    _, reasons = run_jobs(TOWN, plan, guard=True)
    assert reasons["job2"] == {}


# -------------------------------------------------------------------------- records and sums


def test_release_round_trips_through_json() -> None:
    release = Release(
        "0123456789abcdef",
        "coverage",
        ("region", "sex"),
        {("A", "F"): 3, ("A", "M"): 12},
        frozenset({("A", "F")}),
        ("matched",),
        "peer:telco",
        "2026-12-03T15:00:00+00:00",
    )
    assert Release.from_json(release.to_json()) == release


def test_known_cells_are_sums_of_published_cells_only() -> None:
    release = Release(
        "j",
        "aggregate",
        ("region", "sex"),
        {("A", "F"): 3, ("A", "M"): 12, ("B", "F"): 11, ("B", "M"): 14},
        frozenset({("A", "F")}),
    )
    known = known_cells(release)
    assert known[(("region",), ("B",))][0] == 25
    assert (("region",), ("A",)) not in known
    assert (("sex",), ("M",)) in known and known[(("sex",), ("M",))][0] == 26
    assert ((), ()) not in known


def test_small_difference_picks_the_smallest_cell_of_a_sum() -> None:
    earlier = Release("j1", "aggregate", (), {(): 60})
    now = Release("", "aggregate", ("sex",), {("F",): 25, ("M",): 37})
    assert set(small_differences([earlier], now, MIN_CELL)) == {("F",)}


def test_population_filter_round_trips() -> None:
    text = population_filter({"region": ["North", "Islands"], "sex": ("F",)})
    assert text == 'filter:{"region":["Islands","North"],"sex":["F"]}'
    assert parse_filter(text) == {"region": {"Islands", "North"}, "sex": {"F"}}
    assert parse_filter("peer:telco") is None
    assert parse_filter("filter:[1]") is None


def test_a_filter_on_a_released_dimension_is_modelled_exactly() -> None:
    """Total of North ∪ Islands, then region × sex of everyone: the filter's total minus
    the other North and Islands cells would give her."""
    where = population_filter({"region": ["North", "Islands"]})

    def north_or_islands(p: Person) -> bool:
        return p.region in ("North", "Islands")

    plan = [((), north_or_islands, where), (("region", "sex"), everyone, "")]
    jobs, _ = run_jobs(TOWN, plan, guard=False)
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low == pytest.approx(0)
    jobs, reasons = run_jobs(TOWN, plan, guard=True)
    assert set(reasons["job2"]) == {("Islands", "M")}
    low, high = attacker_interval(TOWN, jobs, islands_women)
    assert high - low > 1000


def test_guard_buffers_what_was_published() -> None:
    guard = HistoryGuard(lambda: [], job_id="job9", min_cell=MIN_CELL)
    table = candidate(("region",), TOWN)
    guard.published(table, {("Islands",)})
    assert [(r.job_id, r.withheld) for r in guard.pending] == [("job9", frozenset({("Islands",)}))]


# ------------------------------------------------------------------ any sequence of groupings

DIMS = ("region", "sex", "age")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(DIMS), unique=True, max_size=3).map(tuple),
            st.sampled_from(["all", "young", "north-or-islands"]),
        ),
        min_size=2,
        max_size=4,
    )
)
def test_no_withheld_cell_is_computable_from_any_sequence_of_releases(
    plan_spec: list[tuple[tuple[str, ...], str]],
) -> None:
    populations: dict[str, tuple[Callable[[Person], bool], str]] = {
        "all": (everyone, ""),
        "young": (lambda p: p.age == "young", population_filter({"age": ["young"]})),
        "north-or-islands": (
            lambda p: p.region in ("North", "Islands"),
            population_filter({"region": ["North", "Islands"]}),
        ),
    }
    plan = [(dims, *populations[name]) for dims, name in plan_spec]
    jobs, _ = run_jobs(TOWN, plan, guard=True)
    for job in jobs:
        for label in job.withheld:

            def target(p: Person, job: Job = job, label: tuple[str, ...] = label) -> bool:
                return job.population(p) and job.label(p) == label

            low, high = attacker_interval(TOWN, jobs, target)
            assert high - low > 1.0, (job.job_id, label, low, high)


def test_many_dims_stay_within_the_atom_limit() -> None:
    counts = {combo: 12 for combo in itertools.product("ABCDEFGH", "MF", ("y", "o"))}
    data = people(counts)
    plan = [(("region",), everyone, ""), (("region", "sex", "age"), everyone, "")]
    _, reasons = run_jobs(data, plan, guard=True)
    assert reasons["job2"] == {}


def test_a_peers_withheld_cells_of_unknown_count_are_protected_too() -> None:
    """A source sees the register's release without the withheld cells' counts; its guard
    still treats them as sensitive: releasing North later gives Islands away."""
    earlier = Release(
        "j1",
        "coverage",
        ("region",),
        {("North",): 40, ("South",): 30},
        frozenset({("Islands",)}),  # withheld, count unknown to this party
        population="matched:register",
    )
    assert earlier.unknown == {("Islands",)}
    assert Release.from_json(earlier.to_json()) == earlier
    total = CandidateRelease("coverage", (), {(): 73}, population="matched:register")
    reasons = differencing_check([earlier], total, min_cell=MIN_CELL)
    assert set(reasons) == {()}
    assert "region=Islands of job j1 (withheld) would be computable as the total" in reasons[()]
