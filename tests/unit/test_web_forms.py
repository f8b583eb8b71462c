"""Submit forms generated from a kind's spec, and a form's answers shaped as the API's job."""

from __future__ import annotations

import pytest

from privstats.errors import ParameterError
from privstats.jobs.kinds import KINDS, get_kind
from privstats.web.forms import MAX_NUMBERED_PARTIES, form_fields, job_request, slots


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_gets_a_form_labelled_from_its_spec(name: str) -> None:
    kind = get_kind(name)
    fields = form_fields(kind)
    hidden = {path for path, cli in kind.cli.items() if cli.hidden}

    assert fields, name
    assert all(f.label for f in fields)
    assert len({f.id for f in fields}) == len(fields)
    assert not hidden & {f.name for f in fields}
    top = {f.name for f in fields if "." not in f.name}
    for field_name, info in kind.spec_type.model_fields.items():
        if field_name in top and info.description:
            assert next(f for f in fields if f.name == field_name).label == info.description


def test_the_coverage_form_has_typed_controls() -> None:
    fields = {f.name: f for f in form_fields(get_kind("coverage"))}

    assert fields["key"].required and fields["key"].control == "text"
    assert fields["by"].control == "list"
    assert fields["method"].control == "choice"
    assert fields["method"].choices == ("wilson", "clopper-pearson")
    assert fields["method"].default == "wilson"
    assert fields["confidence"].control == "number" and fields["confidence"].default == "0.95"
    assert fields["normalization.remove"].group.startswith("How identifiers are normalised")
    assert "chunk_size" not in fields and "normalization.strip" not in fields
    assert any(name.startswith("dp.") for name in fields)


def test_answers_become_the_jobs_parameters_parties_and_datasets() -> None:
    kind = get_kind("coverage")
    request = job_request(
        kind,
        {
            "p.key": " person_id ",
            "p.by": "region, age_group,",
            "p.confidence": "0.9",
            "p.method": "",
            "p.normalization.remove": "-.",
            "party.register": "nso",
            "dataset.register": "population",
            "party.source": "telco",
            "dataset.source": "customers",
            "recipients": "alice, bob",
            "node_timeout": "30",
        },
    )

    assert request.parameters == {
        "key": "person_id",
        "by": ["region", "age_group"],
        "confidence": "0.9",
        "normalization": {"remove": "-."},
    }
    assert kind.parse(request.parameters).confidence == 0.9  # the spec's own coercion
    assert request.parties == {"register": "nso", "source": "telco"}
    assert request.datasets == {"register": "population", "source": "customers"}
    assert request.recipients == ["alice", "bob"]
    assert request.node_timeout == 30.0


def test_blank_answers_leave_the_defaults_and_bad_ones_name_the_field() -> None:
    kind = get_kind("coverage")
    blank = job_request(kind, {})

    assert blank.parameters == {} and blank.parties == {} and blank.recipients is None
    with pytest.raises(ParameterError, match="node timeout 'soon'"):
        job_request(kind, {"node_timeout": "soon"})


def test_a_kind_of_many_parties_offers_numbered_slots() -> None:
    kind = get_kind("aggregate")
    assert kind.parties is not None
    least, most = kind.parties
    numbered = [s for s in slots(kind) if s.role.startswith("party")]

    assert len(numbered) == min(most, MAX_NUMBERED_PARTIES)
    assert [s.optional for s in numbered[:least]] == [False] * least
    assert all(s.optional for s in numbered[least:])


def test_an_option_the_command_line_parses_is_typed_as_there() -> None:
    kind = get_kind("synthesize")
    bounds = next(f for f in form_fields(kind) if f.name == "bounds")
    request = job_request(kind, {"p.bounds": "age=0:120, income=0:1e6"})

    assert bounds.control == "list" and "--bounds" in bounds.hint
    assert request.parameters["bounds"] == {"age": (0.0, 120.0), "income": (0.0, 1e6)}
    with pytest.raises(ParameterError, match="write COLUMN=LOW:HIGH"):
        job_request(kind, {"p.bounds": "age"})
