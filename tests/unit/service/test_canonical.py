"""Tests of canonical JSON and the signed forms built on it (requests, statements)."""

from __future__ import annotations

import hashlib
import math

import pytest

from privstats.service.canonical import canonical_json, sha256_hex
from privstats.service.signing import request_bytes, statement_bytes


def test_the_same_value_gives_the_same_bytes_whatever_the_dict_order() -> None:
    one = {"b": 1, "a": {"y": [1, 2], "x": "é"}, "c": None}
    other = {"c": None, "a": {"x": "é", "y": [1, 2]}, "b": 1}
    assert canonical_json(one) == canonical_json(other)
    assert canonical_json(one) == '{"a":{"x":"é","y":[1,2]},"b":1,"c":null}'.encode()


def test_list_order_is_kept() -> None:
    assert canonical_json([2, 1]) != canonical_json([1, 2])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_nan_and_infinity_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json(value)


def test_sha256_hex_is_the_hex_digest() -> None:
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_statement_bytes_separate_kinds_and_follow_canonical_json() -> None:
    payload = {"name": "nso", "sign_key": "00"}
    assert statement_bytes("enrol", payload) == b"privstats.enrol.v1\n" + canonical_json(payload)
    assert statement_bytes("enrol", payload) != statement_bytes("dataset", payload)
    assert statement_bytes("enrol", dict(reversed(payload.items()))) == statement_bytes(
        "enrol", payload
    )


def test_request_bytes_cover_every_field() -> None:
    base = ("POST", "/api/v1/datasets?x=1", b"{}", "1.000", "n1", "nso")
    signed = request_bytes(*base)
    assert request_bytes("post", *base[1:]) == signed  # the method is case-insensitive
    for index, changed in enumerate(["GET", "/api/v1/datasets", b"{ }", "1.001", "n2", "telco"]):
        fields = list(base)
        fields[index] = changed
        assert request_bytes(*fields) != signed, index  # type: ignore[arg-type]
