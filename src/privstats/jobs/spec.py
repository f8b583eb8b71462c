"""The base of every computation's spec: a frozen pydantic model built with named errors."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from privstats.errors import ParameterError

__all__ = ["Spec", "spec_error"]


def spec_error(exc: ValidationError, what: str, *, default_field: str = "spec") -> ParameterError:
    """The first validation error as a ParameterError naming the option, e.g.
    ``coverage option 'confidence': Input should be less than 1``."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc) or default_field
    # a validator's own ValueError reads better without pydantic's "Value error, " prefix
    message = str(first.get("ctx", {}).get("error", "")) or first["msg"]
    return ParameterError(f"{what} {field!r}: {message}", parameter=loc[0] if loc else field)


class Spec(BaseModel):
    """What every party of a computation agrees on before it runs; frozen, no extra keys.

    A field's docstring (or ``description``) is its help on the command line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    _option: ClassVar[str] = "option"
    """How errors name a field: "coverage option 'key'"."""
    _default_field: ClassVar[str] = "spec"
    """The field named when a check spans several fields."""
    _renamed: ClassVar[dict[str, str]] = {}
    """Old field name → new one: the old spelling is still accepted on input."""

    @model_validator(mode="before")
    @classmethod
    def _accept_old_names(cls, values: Any) -> Any:
        if not cls._renamed or not isinstance(values, dict):
            return values
        values = dict(values)
        for old, new in cls._renamed.items():
            if old in values:
                if new in values:
                    raise ValueError(f"give {new!r} only ({old!r} is its former name)")
                values[new] = values.pop(old)
        return values

    @classmethod
    def build(cls, **values: Any) -> Self:
        """Validate ``values`` into a spec; errors become a ParameterError naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise spec_error(exc, cls._option, default_field=cls._default_field) from exc
