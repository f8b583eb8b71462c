"""Tests of IdentifierRule: each step, their order, validation and the documented exact rule."""

from __future__ import annotations

import sys
import unicodedata

import pyarrow as pa
import pytest

from privstats.data.identifiers import IdentifierRule
from privstats.errors import ParameterError


def norm(values: list[str | None], rule: IdentifierRule | None = None) -> list[str | None]:
    out: list[str | None] = (rule or IdentifierRule()).apply(values).to_pylist()
    return out


# --------------------------------------------------------------------------- default rule


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  abc\t", "abc"),  # surrounding whitespace
        ("\n AB C \r\n", "ab c"),  # inner whitespace is kept
        ("AbC", "abc"),  # case
        ("１２３", "123"),  # full-width digits (NFKC)
        ("ＡＢＣ", "abc"),  # full-width letters, then lower-cased
        ("\u3000x42\u00a0", "x42"),  # ideographic / no-break spaces: NFKC makes them spaces
        ("00123", "00123"),  # numeric identifiers keep their leading zeros
        ("Ångström", "ångström"),
        ("東京-0001", "東京-0001"),
        ("ﬁle", "file"),  # compatibility ligature
        ("e\u0301", "é"),  # combining accent composed
    ],
)
def test_default_rule_normalises(raw: str, expected: str) -> None:
    assert norm([raw]) == [expected]


def test_nulls_stay_null_and_order_and_length_are_kept() -> None:
    assert norm([None, " B ", None, "a"]) == [None, "b", None, "a"]


def test_accepts_arrays_chunked_arrays_and_lists_and_returns_large_string() -> None:
    rule = IdentifierRule()
    chunked = pa.chunked_array([["A"], ["B ", "c"]])
    for values in (["A", "B ", "c"], pa.array(["A", "B ", "c"]), chunked):
        out = rule.apply(values)
        assert isinstance(out, pa.Array)
        assert out.type == pa.large_string()
        assert out.to_pylist() == ["a", "b", "c"]
    assert rule.apply(pa.array(["x"]).dictionary_encode()).to_pylist() == ["x"]


def test_non_string_arrays_are_read_as_text() -> None:
    assert IdentifierRule().apply(pa.array([123, 7])).to_pylist() == ["123", "7"]


def test_empty_input_gives_empty_array() -> None:
    out = IdentifierRule().apply([])
    assert len(out) == 0
    assert out.type == pa.large_string()


# --------------------------------------------------------------------------- single options


def test_everything_off_keeps_values_exactly() -> None:
    rule = IdentifierRule(strip=False, casefold=False, unicode_form=None)
    values = [" A ", "１２３", "e\u0301"]
    assert norm(list(values), rule) == values


def test_nfc_composes_but_keeps_compatibility_characters() -> None:
    rule = IdentifierRule(unicode_form="NFC")
    assert norm(["e\u0301", "１２３", "ﬁ"], rule) == ["é", "１２３", "ﬁ"]


def test_strip_off_keeps_whitespace() -> None:
    assert norm([" a "], IdentifierRule(strip=False)) == [" a "]


def test_casefold_off_keeps_case() -> None:
    assert norm(["AbC"], IdentifierRule(casefold=False)) == ["AbC"]


def test_remove_deletes_every_match() -> None:
    rule = IdentifierRule(remove=r"[\s.-]")
    assert norm(["123.456-78 9", " 12 34 "], rule) == ["123456789", "1234"]


def test_custom_runs_last_on_normalised_values_and_skips_nulls() -> None:
    seen: list[str] = []

    def drop_zeros(value: str) -> str:
        seen.append(value)
        return value.lstrip("0")

    rule = IdentifierRule(remove="-", custom=drop_zeros)
    assert norm([" 00-AB ", None], rule) == ["ab", None]
    assert seen == ["00ab"]  # after NFKC, strip, lower-casing and remove


def test_custom_must_return_text() -> None:
    rule = IdentifierRule(custom=lambda value: len(value))  # type: ignore[arg-type,return-value]
    with pytest.raises(ParameterError, match="must return str"):
        rule.apply(["a"])


# --------------------------------------------------------------------------- order of steps


def test_unicode_normalisation_runs_before_strip() -> None:
    # NFKC turns U+00B4 ACUTE ACCENT into " " + U+0301; the new leading space is trimmed
    assert norm(["\u00b4x"]) == ["\u0301x"]
    assert norm(["\u00b4x"], IdentifierRule(strip=False)) == [" \u0301x"]


def test_unicode_normalisation_runs_before_remove() -> None:
    # U+FE5F SMALL NUMBER SIGN only becomes "#" under NFKC
    assert norm(["\ufe5fA"], IdentifierRule(remove="^#")) == ["a"]


def test_casefold_runs_before_remove() -> None:
    assert norm(["AB12"], IdentifierRule(remove="[a-z]")) == ["12"]
    assert norm(["AB12"], IdentifierRule(casefold=False, remove="[a-z]")) == ["AB12"]


def test_strip_runs_before_remove() -> None:
    # an anchored pattern sees the trimmed value
    assert norm(["  x1"], IdentifierRule(remove="^x")) == ["1"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("pattern", ["[", "(a", "(?=a)", r"(a)\1"])
def test_invalid_remove_pattern_is_named(pattern: str) -> None:
    with pytest.raises(ParameterError, match="remove pattern") as info:
        IdentifierRule(remove=pattern)
    assert repr(pattern) in str(info.value)
    assert info.value.parameter == "remove"


def test_empty_remove_pattern_is_rejected() -> None:
    with pytest.raises(ParameterError, match="remove"):
        IdentifierRule(remove="")


def test_unknown_unicode_form_is_rejected() -> None:
    with pytest.raises(ParameterError, match="'NFC', 'NFKC' or None"):
        IdentifierRule(unicode_form="NFD")  # type: ignore[arg-type]


def test_custom_must_be_callable() -> None:
    with pytest.raises(ParameterError, match="custom"):
        IdentifierRule(custom="lower")  # type: ignore[arg-type]


def test_single_string_is_not_a_sequence_of_identifiers() -> None:
    with pytest.raises(ParameterError, match="single string"):
        IdentifierRule().apply("abc")


def test_values_that_are_not_text_are_rejected() -> None:
    with pytest.raises(ParameterError, match="text"):
        IdentifierRule().apply([1, 2])


def test_rule_is_frozen_and_hashable() -> None:
    rule = IdentifierRule()
    with pytest.raises(AttributeError):
        rule.strip = False  # type: ignore[misc]
    assert hash(rule) == hash(IdentifierRule())


# --------------------------------------------------------------------------- describe


def test_describe() -> None:
    assert IdentifierRule().describe() == "strip,casefold,NFKC"
    assert IdentifierRule(remove=r"[\s.-]").describe() == "strip,casefold,NFKC,remove=[\\s.-]"
    assert IdentifierRule(unicode_form="NFC", casefold=False).describe() == "strip,NFC"
    assert IdentifierRule(strip=False, casefold=False, unicode_form=None).describe() == "none"


def test_describe_names_the_custom_function() -> None:
    def keep(value: str) -> str:
        return value

    text = IdentifierRule(custom=keep).describe()
    assert text.startswith("strip,casefold,NFKC,custom=")
    assert "keep" in text


# --------------------------------------------------------------------------- exact rule


def test_lower_case_is_the_simple_mapping_unlike_str_lower() -> None:
    # documented differences from str.lower(): one code point maps to one code point
    assert "İ".lower() == "i\u0307"
    assert norm(["İSTANBUL"]) == ["istanbul"]
    assert "ΟΔΟΣ".lower() == "οδος"  # Python applies the final-sigma rule
    assert norm(["ΟΔΟΣ"]) == ["οδοσ"]
    assert norm(["Straße"]) == ["straße"]  # lower-casing, not full case folding


def test_strip_matches_str_strip_for_every_python_whitespace_character() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert len(spaces) > 20
    rule = IdentifierRule(casefold=False, unicode_form=None)
    values = [f"{space}x{space}" for space in spaces]
    assert norm(list(values), rule) == [value.strip() for value in values]


def test_nfkc_matches_unicodedata_for_assigned_characters() -> None:
    chars = [
        chr(c)
        for c in range(0x10000)
        if unicodedata.category(chr(c)) not in ("Cs", "Cn")  # surrogates, unassigned
    ]
    rule = IdentifierRule(strip=False, casefold=False)
    assert norm(list(chars), rule) == [unicodedata.normalize("NFKC", c) for c in chars]
