"""The coverage job: both roles over in-memory channels against the plaintext computation."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from privstats.errors import ComputationError, DatasetError, ParameterError, ProtocolError
from privstats.jobs import coverage
from privstats.jobs.coverage import CoverageSpec
from privstats.stats.coverage import proportion_interval
from privstats.transport.memory import MemoryNetwork, run_parties


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _run(tmp_path: Path, reg_rows, src_ids, spec: CoverageSpec):
    reg = _write(tmp_path / "reg.csv", ["pid", "region"], reg_rows)
    src = _write(tmp_path / "src.csv", ["cid"], [[i] for i in src_ids])
    reg_data = coverage.load_role_data("register", reg, spec)
    src_data = coverage.load_role_data("source", src, spec)
    net = MemoryNetwork(["register", "source"])
    return run_parties(
        net,
        {
            "register": lambda ch: coverage.register_role(ch, "source", reg_data, spec),
            "source": lambda ch: coverage.source_role(ch, "register", src_data, spec),
        },
    )


def test_released_figures_equal_the_plaintext_computation(tmp_path: Path) -> None:
    """Every released count and estimate equals the computation on pooled clear data."""
    regions = ["A"] * 40 + ["B"] * 30 + ["C"] * 25 + ["D"] * 4
    reg_rows = [[f"ID-{i:05d}", regions[i]] for i in range(len(regions))]
    src_ids = [f"id-{i:05d}" for i in range(0, 120, 3)] + ["other-1", "other-2"]
    spec = CoverageSpec.build(key="pid", peer_key="cid", by=("region",), min_cell=10)

    out = _run(tmp_path, reg_rows, src_ids, spec)

    covered = {f"id-{i:05d}" for i in range(0, 120, 3)}
    matched_by_region = Counter(r for (pid, r) in reg_rows if pid.lower() in covered)
    sizes = Counter(regions)
    result = out["register"]
    assert out["source"] == result
    assert result["register_size"] == len(reg_rows)
    assert result["source_size"] == len(src_ids)
    assert result["matched"] == sum(matched_by_region.values())
    assert result["coverage"] == proportion_interval(result["matched"], len(reg_rows)).as_dict()
    released = {e["by"]["region"]: e for e in result["groups"] if not e["suppressed"]}
    suppressed = {e["by"]["region"] for e in result["groups"] if e["suppressed"]}
    # D (4 persons) is below the minimum; C, the smallest other, is withheld with it
    assert suppressed == {"C", "D"}
    for region, entry in released.items():
        assert entry["register_size"] == sizes[region]
        assert entry["matched"] == matched_by_region[region]
        assert entry["estimate"] == matched_by_region[region] / sizes[region]
    for entry in result["groups"]:
        if entry["suppressed"]:
            assert {entry[k] for k in ("register_size", "matched", "estimate")} == {None}


def test_source_sees_withheld_domain_sizes_only_rounded_to_the_floor(tmp_path: Path) -> None:
    """The source is told released domain sizes, withheld ones padded to the floor."""
    regions = ["A"] * 50 + ["B"] * 3 + ["C"] * 17
    reg_rows = [[f"p{i}", regions[i]] for i in range(len(regions))]
    spec = CoverageSpec.build(key="pid", peer_key="cid", by=("region",), min_cell=10)
    reg = _write(tmp_path / "reg.csv", ["pid", "region"], reg_rows)
    src = _write(tmp_path / "src.csv", ["cid"], [[f"p{i}"] for i in range(60)])
    reg_data = coverage.load_role_data("register", reg, spec)
    src_data = coverage.load_role_data("source", src, spec)
    net = MemoryNetwork(["register", "source"], record=True)
    run_parties(
        net,
        {
            "register": lambda ch: coverage.register_role(ch, "source", reg_data, spec),
            "source": lambda ch: coverage.source_role(ch, "register", src_data, spec),
        },
    )
    from privstats.protocols.psi import ReceiverHello
    from privstats.transport.codec import decode

    frames = net.channel("source").received or []
    hello = decode(frames[1][1], ReceiverHello)  # after the terms
    # A (50) released; B (3) below the minimum and C (20) withheld with it: padded to a
    # multiple of the floor: 3 shows as 10, 17 as 20
    assert hello.group_sizes == [50, 10, 20]


def test_source_refuses_a_release_that_breaks_its_terms() -> None:
    """A release with a wrong source size, or a cell below the source's floor, is refused."""
    from privstats.jobs.coverage_figures import check_release
    from privstats.jobs.coverage_release import CoverageTerms

    terms = CoverageTerms(min_cell=10, min_matched=5)
    forged = {"computation": "coverage", "matched": 20, "register_size": 30, "source_size": 8}
    with pytest.raises(ProtocolError, match="source size 8 is not this source's"):
        check_release(forged, (), terms, 9, "register")
    small = forged | {"matched": 3, "source_size": 9}
    with pytest.raises(ProtocolError, match=r"cell \[\] has matched 3"):
        check_release(small, (), terms, 9, "register")
    check_release(forged | {"source_size": 9}, (), terms, 9, "register")  # control


def test_source_refuses_a_release_whose_withheld_cell_the_rest_pins_down() -> None:
    """One withheld region beside a released one and the total: total − A gives B; the
    source solves for it, as an analyst would, and refuses."""
    from privstats.jobs.coverage_figures import check_release
    from privstats.jobs.coverage_release import CoverageTerms

    def entry(region: str, n: int | None, m: int | None) -> dict:
        return {"by": {"region": region}, "register_size": n, "matched": m}

    forged = {
        "computation": "coverage",
        "register_size": 53,
        "matched": 21,
        "source_size": 40,
        "groups": [entry("A", 50, 20), entry("B", None, None)],
        "margins": [],
    }
    with pytest.raises(ProtocolError, match=r"withheld cell \['B'\] has register_size pinned"):
        check_release(forged, ("region",), CoverageTerms(10), 40, "register")
    forged["groups"].append(entry("C", None, None))  # control: B and C protect each other
    check_release(forged, ("region",), CoverageTerms(10), 40, "register")


def test_empty_register_is_a_dataset_error(tmp_path: Path) -> None:
    spec = CoverageSpec.build(key="pid", source_key="cid")
    with pytest.raises(DatasetError, match="no identifiers") as info:
        _run(tmp_path, [], ["a"], spec)  # refused when read, before the protocol
    assert info.value.path == str(tmp_path / "reg.csv")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"key": "pid", "confidence": 1.5}, "confidence"),
        ({"key": "pid", "min_domain": 0}, "min_cell"),  # the former name maps to min_cell
        ({"key": "pid", "method": "exact"}, "method"),
        ({"key": "pid", "by": ("r", "r")}, "by"),
        ({"key": ""}, "key"),
    ],
)
def test_spec_errors_name_the_option(values: dict, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        CoverageSpec.build(**values)
    assert field in str(info.value)
    assert info.value.parameter == field


def _run_kind(tmp_path: Path, peer_rows: dict[str, dict[str, int]], src_ids: list[str]):
    """Both roles as a node runs them (jobs.kinds), each told its peer's declared rows."""
    from privstats.jobs.kind import RoleContext
    from privstats.jobs.kinds import KINDS

    kind = KINDS["coverage"]
    reg = _write(tmp_path / "reg.csv", ["pid"], [[f"id-{i}"] for i in range(20)])
    src = _write(tmp_path / "src.csv", ["cid"], [[i] for i in src_ids])
    spec = CoverageSpec.build(key="pid", source_key="cid")
    parties = {"register": "register", "source": "source"}
    paths = {"register": str(reg), "source": str(src)}
    return run_parties(
        MemoryNetwork(["register", "source"], timeout=10),
        {
            role: lambda ch, role=role: (
                kind.run_role(
                    role, ch, parties, paths[role], spec, None, RoleContext(peer_rows[role])
                ).result
            )
            for role in parties
        },
    )


def test_a_peer_announcing_more_identifiers_than_its_dataset_declares_is_stopped(
    tmp_path: Path,
) -> None:
    """The source's dataset declares 5 rows but it announces 30 identifiers."""
    src_ids = [f"id-{i}" for i in range(30)]
    with pytest.raises(ComputationError) as info:
        _run_kind(tmp_path, {"register": {"source": 5}, "source": {"register": 20}}, src_ids)
    assert info.value.party == "register"
    assert isinstance(info.value.__cause__, ProtocolError)
    assert "'source' announced 30 identifiers, more than the 5" in str(info.value.__cause__)
    with pytest.raises(ComputationError) as info:
        # the register may pad each domain by up to the floor (10): 9 declared rows allow 19
        _run_kind(tmp_path, {"register": {}, "source": {"register": 9}}, src_ids)
    assert info.value.party == "source"
    assert "'register' announced 20 identifiers, more than the 19" in str(info.value.__cause__)


def test_peers_within_their_declared_rows_get_the_plaintext_figures(tmp_path: Path) -> None:
    src_ids = [f"id-{i}" for i in range(10, 40)]  # 10 of them in the register's 20
    out = _run_kind(tmp_path, {"register": {"source": 30}, "source": {"register": 20}}, src_ids)
    assert out["register"] == out["source"]
    assert (out["register"]["matched"], out["register"]["source_size"]) == (10, 30)


def test_former_option_names_are_still_accepted() -> None:
    old = CoverageSpec.build(key="pid", source_key="cid", min_domain=7)
    assert old == CoverageSpec.build(key="pid", peer_key="cid", min_cell=7)
    assert "source_key" not in old.model_dump() and "min_domain" not in old.model_dump()
    with pytest.raises(ParameterError, match="'min_cell' only"):
        CoverageSpec.build(key="pid", min_cell=7, min_domain=7)
