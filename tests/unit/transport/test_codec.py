"""Tests for privstats.transport.codec: typed, versioned messages and their wire form."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.errors import ProtocolError
from privstats.transport.codec import Message, decode, encode, message


@message("test.codec.sample", 3)
class Sample(Message):
    number: int
    name: str
    blob: bytes
    flag: bool
    ratio: float
    items: list[int]
    table: dict[str, int]
    maybe: int | None


@message("test.codec.other", 1)
class Other(Message):
    number: int


class Unregistered(Message):
    """A Message subclass that was never registered."""


def sample(**changes: Any) -> Sample:
    values: dict[str, Any] = {
        "number": -7,
        "name": "Zürich ✓",
        "blob": b"\x00\xffbytes",
        "flag": True,
        "ratio": 0.25,
        "items": [1, 2, 3],
        "table": {"b": 2, "a": 1},
        "maybe": None,
    }
    values.update(changes)
    return Sample(**values)


def wire(kind: Any, version: Any, values: Any) -> bytes:
    """A frame built by hand, the way the module documents the wire form."""
    return msgpack.packb([kind, version, values], use_bin_type=True)


def sample_values(msg: Sample) -> list[Any]:
    return [getattr(msg, f.name) for f in dataclasses.fields(msg)]


# --------------------------------------------------------------------------- round trip


def test_round_trip() -> None:
    """decode(encode(m)) == m, with or without naming the expected type."""
    msg = sample()
    assert decode(encode(msg)) == msg
    assert decode(encode(msg), Sample) == msg
    assert type(decode(encode(msg))) is Sample


@given(
    number=st.integers(-(2**63), 2**64 - 1),
    name=st.text(),
    blob=st.binary(),
    flag=st.booleans(),
    ratio=st.floats(allow_nan=False),
    items=st.lists(st.integers(-(2**63), 2**63 - 1)),
    table=st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1)),
    maybe=st.none() | st.integers(0, 2**32),
)
@settings(max_examples=60, deadline=None)
def test_round_trip_any_values(
    number: int,
    name: str,
    blob: bytes,
    flag: bool,
    ratio: float,
    items: list[int],
    table: dict[str, int],
    maybe: int | None,
) -> None:
    """Every representable field value survives encode/decode unchanged."""
    msg = Sample(number, name, blob, flag, ratio, items, table, maybe)
    back = decode(encode(msg), Sample)
    assert back == msg
    assert list(back.table) == list(table)  # map order is kept


def test_wire_form_is_the_documented_array() -> None:
    """encode gives msgpack [kind, version, [fields in declaration order]]."""
    msg = sample(maybe=5)
    assert encode(msg) == wire("test.codec.sample", 3, sample_values(msg))
    assert msgpack.unpackb(encode(msg), raw=False)[:2] == ["test.codec.sample", 3]


def test_encoding_is_deterministic() -> None:
    """Equal messages built the same way give identical bytes; different ones differ."""
    assert encode(sample()) == encode(sample())
    assert encode(sample()) != encode(sample(number=-8))
    assert encode(sample(table={"a": 1, "b": 2})) != encode(sample(table={"b": 2, "a": 1}))


def test_messages_are_frozen() -> None:
    """A message cannot be modified after it is made."""
    msg = sample()
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.number = 1  # type: ignore[misc]


def test_float_field_accepts_ints_but_not_bools() -> None:
    """A float field takes an integer value on the wire, never a boolean."""
    values = sample_values(sample())
    values[4] = 2
    assert decode(wire("test.codec.sample", 3, values), Sample).ratio == 2
    values[4] = True
    with pytest.raises(ProtocolError):
        decode(wire("test.codec.sample", 3, values), Sample)


# --------------------------------------------------------------------------- rejection


def test_unknown_kind() -> None:
    """A kind nobody registered is a ProtocolError, as is a non-string kind."""
    with pytest.raises(ProtocolError, match="unknown"):
        decode(wire("test.codec.nobody", 1, [1]))
    with pytest.raises(ProtocolError):
        decode(wire(7, 1, [1]))
    with pytest.raises(ProtocolError):
        decode(wire(b"test.codec.other", 1, [1]))


@pytest.mark.parametrize("version", [1, 2, 4, -3, "3", None])
def test_wrong_version(version: Any) -> None:
    """Only the registered version (3) is accepted."""
    with pytest.raises(ProtocolError, match="version"):
        decode(wire("test.codec.sample", version, sample_values(sample())), Sample)


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (0, "7"),  # int field given a string
        (0, True),  # bool is not an int
        (0, 1.5),
        (1, b"name"),  # str field given bytes
        (2, "blob"),  # bytes field given str
        (3, 1),  # bool field given an int
        (4, "0.25"),
        (5, [1, "2"]),  # list[int] with a string item
        (5, {"a": 1}),
        (6, {"a": "1"}),  # dict value of the wrong type
        (6, {b"a": 1}),  # dict key of the wrong type
        (6, [["a", 1]]),
        (7, "none"),  # int | None given a string
    ],
)
def test_wrong_field_type(index: int, value: Any) -> None:
    """A field value of the wrong type is a ProtocolError that names the field."""
    values = sample_values(sample())
    values[index] = value
    name = dataclasses.fields(Sample)[index].name
    with pytest.raises(ProtocolError, match=name):
        decode(wire("test.codec.sample", 3, values), Sample)


@pytest.mark.parametrize("values", [[], [1, 2], "x", None, {"number": 1}])
def test_wrong_field_count(values: Any) -> None:
    """Too few, too many or non-list field values are a ProtocolError."""
    with pytest.raises(ProtocolError):
        decode(wire("test.codec.other", 1, values), Other)


def test_non_string_map_keys_are_rejected() -> None:
    """Integer map keys are refused by the decoder."""
    raw = msgpack.packb(["test.codec.sample", 3, [{1: 2}]], use_bin_type=True)
    with pytest.raises(ProtocolError):
        decode(raw)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x93\x01",  # array of 3 that stops after one item
        msgpack.packb(5),
        msgpack.packb([1, 2]),
        msgpack.packb("abc"),
        encode(Other(1)) + b"\x00",  # trailing bytes
        encode(Other(1))[:-1],  # truncated
    ],
)
def test_garbage_bytes(data: bytes) -> None:
    """Bytes that are not a whole privstats message are a ProtocolError."""
    with pytest.raises(ProtocolError):
        decode(data)


@given(st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    """Whatever arrives, decode either returns a registered message or raises ProtocolError."""
    try:
        msg = decode(data)
    except ProtocolError:
        return
    assert isinstance(msg, Message)
    assert decode(encode(msg)) == msg


def test_expecting_a_different_type() -> None:
    """A valid message of another kind than expected is a ProtocolError naming the step."""
    with pytest.raises(ProtocolError) as info:
        decode(encode(Other(1)), Sample, peer="bob")
    assert info.value.peer == "bob"
    assert info.value.step == "test.codec.sample"


def test_peer_is_reported() -> None:
    """The ProtocolError of a bad frame names the peer it came from."""
    with pytest.raises(ProtocolError) as info:
        decode(b"\xc1", peer="alice")
    assert info.value.peer == "alice"


# --------------------------------------------------------------------------- registration


def test_registering_a_kind_twice() -> None:
    """A second class under an existing kind is a TypeError, and the first stays in place."""
    with pytest.raises(TypeError, match="twice"):

        @message("test.codec.other", 2)
        class Duplicate(Message):
            number: int

    assert decode(encode(Other(5)), Other) == Other(5)


def test_unsupported_field_type() -> None:
    """A field type the codec cannot check is refused when the message is registered."""
    with pytest.raises(TypeError):

        @message("test.codec.set_field", 1)
        class WithSet(Message):
            members: set[int]


def test_encoding_an_unregistered_message() -> None:
    """Only registered messages can be encoded."""
    with pytest.raises(TypeError):
        encode(Unregistered())
