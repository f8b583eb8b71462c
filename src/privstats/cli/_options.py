"""Errors in the command line's words: ``--min-cell``, not the spec field ``min_cell``.

Specs and library functions name what is wrong by its Python name
(``ParameterError.parameter``: ``min_cell``, ``normalization.remove``). A user of the
command line typed an option, so at the CLI boundary :func:`option_words` re-raises such an
error naming the option of the running command::

    aggregate option 'min_cell': Input should be greater than or equal to 1
    --min-cell: Input should be greater than or equal to 1

A command passes its own function, whose typer options say how each one is typed::

    def aggregate(min_cell: int = typer.Option(10, ...), ...) -> None:
        with fail_on_error(), option_words(aggregate):
            ...

Errors that name no parameter, or one that is not an option of the command (a column, a
file), pass unchanged.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from privstats.errors import ParameterError

__all__ = ["in_option_words", "option_names", "option_words"]

#: Spec fields whose option has another name (the option's Python name, as click knows it).
_FIELD_OPTIONS: dict[str, str] = {
    "stats": "stat",
    "left_values": "left_value",
    "right_values": "right_value",
    "parties": "party",
    "normalization.remove": "id_remove",
    "normalization.casefold": "casefold",
}


def option_names(command: Callable[..., Any]) -> dict[str, str]:
    """Each option of a typer command function and how it is typed on the command line:
    ``{"min_cell": "--min-cell", "as_json": "--json", …}``."""
    names: dict[str, str] = {}
    for name, parameter in inspect.signature(command).parameters.items():
        declared = getattr(parameter.default, "param_decls", None)
        if declared is None:  # not a typer.Option
            continue
        spelled = [decl.split("/")[0] for decl in declared if decl.startswith("--")]
        names[name] = spelled[0] if spelled else "--" + name.replace("_", "-")
    return names


def in_option_words(exc: ParameterError, options: Mapping[str, str]) -> ParameterError | None:
    """``exc`` re-worded to name the option in ``options``; None if it names none of them.

    ``options`` maps Python names to options as typed (see :func:`option_names`).
    """
    if not exc.parameter:
        return None
    message = str(exc)
    # a spec error names the field quoted, dotted for a nested one: 'normalization.remove'
    quoted = re.compile(rf"(?:\b[\w-]+ option )?'({re.escape(exc.parameter)}(?:\.\w+)*)'")
    fields = [match.group(1) for match in quoted.finditer(message)] or [exc.parameter]
    option = next((_option(field, options) for field in fields if _option(field, options)), None)
    if option is None:
        return None
    if option in message:
        return None  # already in the command line's words
    reworded = quoted.sub(lambda match: _option(match.group(1), options) or match.group(0), message)
    if reworded == message:
        bare = re.compile(rf"^{re.escape(exc.parameter)}\b(?!\.)")
        reworded = bare.sub(option, message) if bare.search(message) else f"{option}: {message}"
    return ParameterError(reworded, parameter=option)


def _option(field: str, options: Mapping[str, str]) -> str | None:
    # a generated command names a nested field's parameter normalization__remove
    return options.get(_FIELD_OPTIONS.get(field, field)) or options.get(field.replace(".", "__"))


@contextlib.contextmanager
def option_words(
    command: Callable[..., Any], extra: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Re-raise a ParameterError naming a Python parameter as one naming ``command``'s
    option. ``extra`` adds names for options: ``{"field": "--option"}``."""
    try:
        yield
    except ParameterError as exc:
        reworded = in_option_words(exc, {**option_names(command), **(extra or {})})
        if reworded is None:
            raise
        raise reworded from exc
