"""CLK encodings: deterministic under one key, different under another, hardening."""

from __future__ import annotations

import numpy as np
import pytest

from privstats.errors import ParameterError
from privstats.linkage.bloom import (
    EncodingSpec,
    FieldEncoding,
    dice,
    encode_records,
    new_key,
    normalise,
    popcount,
    qgrams,
)

FIELDS = ("first_name", "surname", "dob", "sex", "postcode")
SPEC = EncodingSpec(tuple(FieldEncoding(f) for f in FIELDS))
RECORDS = [
    ("Anna", "Müller", "1980-05-17", "F", "1012"),
    ("Jan", "de Vries", "1975-11-02", "M", "3511"),
    ("Anne", "Muller", "1980-05-17", "F", "1012"),
    ("", "Jansen", "2001-01-01", "M", ""),
]


def test_qgrams_are_padded_bigrams() -> None:
    assert qgrams("anna") == ["_a", "an", "nn", "na", "a_"]
    assert qgrams("") == []
    assert normalise("  Müller-Lüdenscheidt ") == "muller ludenscheidt"


def test_same_key_same_encodings_other_key_other_encodings() -> None:
    key = new_key()
    first, again = encode_records(RECORDS, key, SPEC), encode_records(RECORDS, key, SPEC)
    assert first.shape == (len(RECORDS), SPEC.length // 8)
    assert np.array_equal(first, again)
    other = encode_records(RECORDS, new_key(), SPEC)
    assert not np.array_equal(first, other)
    assert (dice(first, other) < 0.9).all()  # another key: unrelated bits


def test_dice_of_identical_records_is_one_and_similar_records_score_high() -> None:
    encoded = encode_records(RECORDS, new_key(), SPEC)
    assert np.allclose(dice(encoded, encoded), 1.0)
    similar = dice(encoded[[0]], encoded[[2]])[0]
    unrelated = dice(encoded[[0]], encoded[[1]])[0]
    assert similar > 0.8 > 0.6 > unrelated


@pytest.mark.parametrize("hardening", ["xor_fold", "balance"])
def test_hardened_encodings_keep_the_order_of_similarity(hardening: str) -> None:
    spec = EncodingSpec(SPEC.fields, hardening=hardening)  # type: ignore[arg-type]
    encoded = encode_records(RECORDS, new_key(), spec)
    assert encoded.shape[1] == spec.bits // 8
    assert np.allclose(dice(encoded, encoded), 1.0)
    assert dice(encoded[[0]], encoded[[2]])[0] > dice(encoded[[0]], encoded[[1]])[0]
    if hardening == "balance":  # every encoding has exactly half its bits set
        assert (popcount(encoded) == SPEC.length).all()


def test_salting_changes_the_bits_of_the_same_name() -> None:
    spec = EncodingSpec(SPEC.fields, salt_field="dob", salt_chars=4)
    key = new_key()
    one = encode_records([("Anna", "", "1980-01-01", "", "")], key, spec)
    cohort = encode_records([("Anna", "", "1980-12-31", "", "")], key, spec)
    other_year = encode_records([("Anna", "", "1981-01-01", "", "")], key, spec)
    plain = EncodingSpec(SPEC.fields)
    assert dice(one, cohort)[0] > dice(one, other_year)[0]
    # the salt changes the name's bits, not only the date's
    salted, unsalted = (
        encode_records([("Anna", "", "1980-01-01", "", "")], key, s) for s in (spec, plain)
    )
    assert dice(salted, unsalted)[0] < 0.9
    assert np.array_equal(
        *(encode_records([("Anna", "", "", "", "")], key, s) for s in (spec, plain))
    )


def test_blip_flips_about_the_given_share_of_bits_at_random() -> None:
    key = new_key()
    spec = EncodingSpec(SPEC.fields, flip_probability=0.1)
    many = [RECORDS[0]] * 200
    clean = encode_records(many, key, SPEC)
    flipped = encode_records(many, key, spec)
    share = np.unpackbits(clean ^ flipped).mean()
    assert 0.09 < share < 0.11
    assert not np.array_equal(flipped[0], flipped[1])  # fresh randomness per record


def test_bad_specs_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(ParameterError, match="salt field"):
        EncodingSpec(SPEC.fields, salt_field="region")
    with pytest.raises(ParameterError, match="multiple of 128"):
        EncodingSpec(SPEC.fields, length=1000)
    with pytest.raises(ParameterError, match="32 bytes"):
        encode_records(RECORDS, b"short", SPEC)
