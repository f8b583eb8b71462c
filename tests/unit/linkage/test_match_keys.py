"""Normalised fields and match-key rules: the same person written differently gets the
same keys; different persons, rules and missing fields do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privstats.errors import ParameterError
from privstats.linkage import normalise
from privstats.linkage.match_keys import (
    SEPARATOR,
    FieldExpr,
    fields_of,
    parse_rule,
    parse_rules,
    record_keys,
)

RULES = ["soundex(surname)+dob+sex", "initial(first_name)+surname+dob", "surname+dob+postcode"]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("José  O'Brien", "jose obrien"),
        ("ÅSA-LENA  Müller ", "asa lena muller"),
        ("Straße", "strasse"),
        ("  NULL ", ""),
        (None, ""),
    ],
)
def test_text(raw: str | None, want: str) -> None:
    assert normalise.text(raw) == want


@pytest.mark.parametrize(
    "raw",
    ["1980-02-03", "1980/02/03", "19800203", "03/02/1980", "3.2.1980", "03-02-1980", "3 Feb 1980"],
)
def test_date_formats_agree(raw: str) -> None:
    assert normalise.date(raw) == "1980-02-03"


@pytest.mark.parametrize("raw", ["31/02/1980", "1980-13-01", "03/02/80", "soon", "", "12345"])
def test_impossible_or_ambiguous_dates_are_no_value(raw: str) -> None:
    assert normalise.date(raw) == ""


def test_month_first_dates_on_request() -> None:
    assert normalise.date("02/03/1980", dayfirst=False) == "1980-02-03"
    assert normalise.year("03/02/1980") == "1980"


def test_names_postcodes_sex_and_nicknames() -> None:
    assert normalise.name("van der Berg") == normalise.name("Vanderberg") == "vanderberg"
    assert normalise.first_name("Bill") == normalise.first_name("WILLIAM Henry") == "william"
    assert normalise.first_name("Liz") == "elizabeth"
    assert normalise.initial("Bob") == "r"
    assert normalise.postcode("sw1a 1aa") == normalise.postcode("SW1A1AA") == "SW1A1AA"
    assert normalise.sex("Female") == normalise.sex("2") == "f"
    assert normalise.sex("M") == "m"
    assert len(normalise.NICKNAMES) >= 40


def test_phonetic_codes_by_jellyfish() -> None:
    assert normalise.soundex("Robert") == normalise.soundex("Rupert") == "R163"
    assert normalise.soundex("Smith") == normalise.soundex("Smyth")
    assert normalise.soundex("Smith") != normalise.soundex("Jones")
    assert normalise.nysiis("MacDonald") == normalise.nysiis("McDonald")
    assert normalise.metaphone("Catherine") == normalise.metaphone("Kathryn")
    assert normalise.soundex("") == normalise.soundex("1234") == ""


def test_parse_rule_reads_functions_and_bare_columns() -> None:
    rule = parse_rule(" soundex( surname ) + dob + sex ")
    assert rule.parts == (
        FieldExpr("soundex", "surname"),
        FieldExpr("date", "dob"),
        FieldExpr("sex", "sex"),
    )
    assert rule.fields == ("surname", "dob", "sex")
    assert parse_rule("first_name+postcode+birth_year").parts == (
        FieldExpr("first_name", "first_name"),
        FieldExpr("postcode", "postcode"),
        FieldExpr("date", "birth_year"),
    )
    assert fields_of(parse_rules(RULES)) == ("surname", "dob", "sex", "first_name", "postcode")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "fields joined by"),
        ("surname++dob", "is not a column"),
        ("sha256(surname)+dob", "unknown function 'sha256'"),
        ("soundex(surname", "is not a column"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        parse_rule(text)


def test_rule_lists_are_checked() -> None:
    with pytest.raises(ParameterError, match="1 to 16"):
        parse_rules([])
    with pytest.raises(ParameterError, match="same fields"):
        parse_rules(["surname+dob", "name(surname)+date(dob)"])


def test_the_same_person_written_differently_gets_the_same_keys() -> None:
    a = {
        "first_name": "Bill",
        "surname": "O'Neil",
        "dob": "03/02/1980",
        "sex": "M",
        "postcode": "ab1 2cd",
    }
    b = {
        "first_name": "William",
        "surname": "ONEIL",
        "dob": "1980-02-03",
        "sex": "male",
        "postcode": "AB12CD",
    }
    keys = record_keys(a, RULES)
    assert keys == record_keys(b, parse_rules(RULES))
    assert keys[1] == SEPARATOR.join(["w", "oneil", "1980-02-03"])


def test_a_typo_breaks_one_rule_only_and_a_missing_field_gives_no_key() -> None:
    a = {"first_name": "Mary", "surname": "Jones", "dob": "1975-12-01", "sex": "F", "postcode": ""}
    typo = dict(a, surname="Jonse")
    ka, kt = record_keys(a, RULES), record_keys(typo, RULES)
    assert ka[0] == kt[0]  # soundex forgives the transposition
    assert ka[1] != kt[1]
    assert ka[2] == kt[2] == ""  # no postcode: no key under the third rule


@given(st.text(max_size=12))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalise.text(raw)
    assert normalise.text(once) == once
    assert SEPARATOR not in once
    assert normalise.postcode(normalise.postcode(raw)) == normalise.postcode(raw)
