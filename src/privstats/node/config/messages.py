"""Problems in a node's config file, told as sentences a statistician can act on.

pydantic reports a validation error as a location (``('policy', 'allow', 0, 'kind')``)
and a type code (``missing``, ``literal_error`` …). :func:`config_error` turns each into one
sentence naming the file, the TOML table and the key, such as ``node.toml: [policy]
approval must be "auto" or "ask", got "yes"``, with a hint at the key meant when an unknown
key is close to a known one. Values are shown as TOML would write them.

This module knows TOML's tables but not the models: the keys each table allows are passed
in (:class:`KnownKeys`), so the models in :mod:`.schema` can use it without a cycle.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from privstats.errors import ParameterError

__all__ = ["KnownKeys", "config_error", "hint", "quoted", "show", "toml_str", "unknown_key"]


@dataclass(frozen=True)
class KnownKeys:
    """The keys each table of a node config allows, for messages on unknown keys."""

    node: tuple[str, ...]
    dataset: tuple[str, ...]
    policy: tuple[str, ...]
    allow: tuple[str, ...]


def config_error(label: str, exc: ValidationError, known: KnownKeys) -> ParameterError:
    """One sentence per problem, each naming the file, the table and the key."""
    errors = exc.errors(include_url=False)
    bad_paths = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("path",)}
    lines: list[str] = []
    first: tuple[str, str] | None = None
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" and loc[-1:] == ("format",) and loc[:-1] in bad_paths:
            continue  # the format is inferred from the path, whose problem is reported
        section, key, allowed = _where(loc, known)
        lines.append(f"{label}: {_sentence(section, key, allowed, error)}")
        if first is None:
            first = (section, key)
    parameter = None
    if first is not None:
        section, key = first
        dotted = section.strip("[]").split(" ")[0]
        parameter = ".".join(part for part in (dotted, key.split(" ")[0]) if part) or None
    return ParameterError("\n".join(lines), parameter=parameter)


def _where(loc: tuple[int | str, ...], known: KnownKeys) -> tuple[str, str, tuple[str, ...]]:
    """(table, key, keys allowed in that table) for a pydantic error location."""
    head, rest = loc[:1], loc[1:]
    if not loc:
        return "", "", ()
    if head[0] in known.node:
        return "[node]", _key(loc), known.node
    if head == ("datasets",):
        if not rest:
            return "[datasets]", "", ()
        section = f"[datasets.{rest[0]}]"
        return section, _key(rest[1:]), known.dataset
    if head == ("policy",):
        if len(rest) >= 2 and rest[0] == "allow" and isinstance(rest[1], int):
            section = f"[[policy.allow]] #{rest[1] + 1}"
            return section, _key(rest[2:]), known.allow
        return "[policy]", _key(rest), known.policy
    return "", _key(loc), ()


def _key(loc: tuple[int | str, ...]) -> str:
    """``columns`` or ``columns item 2`` (list positions count from 1)."""
    parts = [str(part) if isinstance(part, str) else f"item {part + 1}" for part in loc]
    return " ".join(parts)


def _sentence(section: str, key: str, allowed: tuple[str, ...], error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error.get("input")
    subject = " ".join(part for part in (section, key) if part)
    if kind == "extra_forbidden":
        return unknown_key(section, key, allowed)
    if kind == "value_error":
        return f"{subject} {ctx.get('error', error['msg'])}".strip()
    if kind == "missing":
        return f"{subject} is required"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", '"')
        what = f"must be {expected}"
    elif kind in ("greater_than", "greater_than_equal"):
        sign, bound = (">", ctx.get("gt")) if kind == "greater_than" else (">=", ctx.get("ge"))
        what = f"must be {sign} {show(bound)}"
    elif kind in ("less_than", "less_than_equal"):
        sign, bound = ("<", ctx.get("lt")) if kind == "less_than" else ("<=", ctx.get("le"))
        what = f"must be {sign} {show(bound)}"
    elif kind == "finite_number":
        what = "must be a finite number"
    elif kind in ("bool_type", "bool_parsing"):
        what = "must be true or false"
    elif kind == "string_type":
        what = "must be a string in double quotes"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        what = "must be a whole number"
    elif kind in ("float_type", "float_parsing"):
        what = "must be a number"
    elif kind in ("tuple_type", "list_type") and key == "allow":
        what = "must be one or more [[policy.allow]] tables (with double brackets)"
    elif kind in ("tuple_type", "list_type"):
        what = 'must be a list of strings such as ["a", "b"]'
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "must be a table"
    elif kind in ("string_too_short", "too_short"):
        what = "must not be empty"
    elif kind == "path_type":
        what = "must be a path in double quotes"
    else:
        what = f"is not valid ({error['msg']})"
    return f"{subject} {what}, got {show(value)}"


def unknown_key(section: str, key: str, allowed: Sequence[str]) -> str:
    """``[node] has an unknown key 'nmae' (did you mean 'name'?); known keys: …``."""
    known = ", ".join(name for name in allowed if name != "path" or section != "[node]")
    return f"{section} has an unknown key '{key}'{hint(key, allowed)}; known keys: {known}"


def hint(key: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'name'?)`` when ``key`` is close to one of ``allowed``; else empty."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def show(value: object) -> str:
    """A value as TOML would write it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def quoted(names: Sequence[str]) -> str:
    """``'a', 'b'`` for messages."""
    return ", ".join(f"'{name}'" for name in names)


def toml_str(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
