"""Typed, versioned messages and their deterministic wire form.

Every message that crosses a party boundary is a small frozen dataclass registered with
:func:`message` under a kind and a version. On the wire it is the msgpack array
``[kind, version, [field values in declaration order]]`` — no pickle, no code; maps keep
their insertion order, so a message built the same way always gives the same bytes.
Decoding checks the kind, the version and each field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

import msgpack

from privstats.errors import ProtocolError

__all__ = ["Message", "decode", "encode", "message"]


class Message:
    """Base of every wire message; subclasses are made with the :func:`message` decorator."""

    KIND: ClassVar[str]
    VERSION: ClassVar[int]


M = TypeVar("M", bound=Message)
_REGISTRY: dict[str, type[Message]] = {}
_FIELDS: dict[type[Message], tuple[tuple[str, Callable[[Any], bool]], ...]] = {}


def _checker(annotation: Any) -> Callable[[Any], bool]:
    """A predicate that a decoded value matches a field's annotation."""
    origin = typing.get_origin(annotation)
    if annotation is int:
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    if annotation in (str, bytes, bool):
        return lambda v: isinstance(v, annotation)
    if annotation is float:
        return lambda v: isinstance(v, float | int) and not isinstance(v, bool)
    if annotation is type(None):
        return lambda v: v is None
    if origin in (types.UnionType, typing.Union):
        options = [_checker(arg) for arg in typing.get_args(annotation)]
        return lambda v: any(check(v) for check in options)
    if origin is list:
        (item,) = typing.get_args(annotation)
        check_item = _checker(item)
        return lambda v: isinstance(v, list) and all(check_item(x) for x in v)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        check_key, check_value = _checker(key_type), _checker(value_type)
        return lambda v: (
            isinstance(v, dict) and all(check_key(k) and check_value(x) for k, x in v.items())
        )
    if annotation is Any:
        return lambda v: True
    raise TypeError(f"message fields cannot have type {annotation!r}")


@dataclass_transform(frozen_default=True)
def message(kind: str, version: int) -> Callable[[type[M]], type[M]]:
    """Register a frozen dataclass as wire message ``kind`` at ``version``."""

    def register(cls: type[M]) -> type[M]:
        if kind in _REGISTRY:
            raise TypeError(f"message kind {kind!r} is registered twice")
        data_cls = dataclasses.dataclass(frozen=True)(cls)
        data_cls.KIND = kind
        data_cls.VERSION = version
        hints = typing.get_type_hints(data_cls)
        _FIELDS[data_cls] = tuple(
            (f.name, _checker(hints[f.name]))
            for f in dataclasses.fields(data_cls)  # type: ignore[arg-type]
        )
        _REGISTRY[kind] = data_cls
        return data_cls

    return register


def encode(msg: Message) -> bytes:
    """The deterministic wire bytes of ``msg``."""
    fields = _FIELDS.get(type(msg))
    if fields is None:
        raise TypeError(f"{type(msg).__name__} is not a registered message")
    values = [getattr(msg, name) for name, _ in fields]
    packed: bytes = msgpack.packb([msg.KIND, msg.VERSION, values], use_bin_type=True)
    return packed


def decode(data: bytes, expect: type[M] | None = None, *, peer: str | None = None) -> M:
    """Parse wire bytes into a message, checking kind, version and field types."""
    try:
        kind, version, values = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ProtocolError(
            f"received bytes are not a privstats message: {exc}", peer=peer
        ) from exc
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message kind {kind!r}", peer=peer)
    if expect is not None and cls is not expect:
        raise ProtocolError(
            f"expected a {expect.KIND!r} message, received {kind!r}", peer=peer, step=expect.KIND
        )
    if type(version) is not int or version != cls.VERSION:
        raise ProtocolError(
            f"{kind!r} message version {version!r} is not supported (this side speaks "
            f"version {cls.VERSION}); run the same privstats version on both sides",
            peer=peer,
        )
    fields = _FIELDS[cls]
    if not isinstance(values, list) or len(values) != len(fields):
        raise ProtocolError(f"{kind!r} message has the wrong number of fields", peer=peer)
    for (name, check), value in zip(fields, values, strict=True):
        if not check(value):
            raise ProtocolError(
                f"{kind!r} message field {name!r} has a value of the wrong type", peer=peer
            )
    return typing.cast(M, cls(*values))
