"""Match-key rules: which normalised fields, joined, make one deterministic key of a record.

A rule is a ``+``-joined list of field expressions, each a column name or a function of
one: ``soundex(surname)+dob+sex``, ``initial(first_name)+surname+dob``,
``surname+dob+postcode``. Two records agree on a rule when every part agrees after
normalisation; offices use several rules at once (ONS match keys) so that an error in
one field is caught by a rule that does not read it.

Functions (:mod:`.normalise`): ``text``, ``name``, ``first_name``, ``initial``,
``soundex``, ``metaphone``, ``nysiis``, ``date``, ``year``, ``postcode``, ``sex``. A
bare column name is normalised by what its name says: ``dob``/``*date*``/``*birth*`` as a
date, ``postcode``/``zip*``/``*post_code*`` as a postcode, ``sex``/``gender`` as sex,
``first_name``/``forename``/``given_name*`` as a first name, anything else as a name
(:func:`~.normalise.name`: one word, no accents or punctuation).

:func:`record_keys` gives a record's keys, one per rule, in rule order; a key is ``""``
when a part of it is empty (a missing field, an impossible date): no key, which must
never match (the protocol sends a random point in its place).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from privstats.errors import ParameterError
from privstats.linkage import normalise

__all__ = [
    "FUNCTIONS",
    "FieldExpr",
    "MatchRule",
    "fields_of",
    "parse_rule",
    "parse_rules",
    "record_keys",
]

SEPARATOR = "\x1f"
"""Joins a key's parts (the ASCII unit separator, which normalised text never holds)."""

FUNCTIONS: dict[str, Callable[[str | None], str]] = {
    "text": normalise.text,
    "name": normalise.name,
    "first_name": normalise.first_name,
    "initial": normalise.initial,
    "soundex": normalise.soundex,
    "metaphone": normalise.metaphone,
    "nysiis": normalise.nysiis,
    "date": normalise.date,
    "year": normalise.year,
    "postcode": normalise.postcode,
    "sex": normalise.sex,
}
"""The functions a rule may apply to a column."""

MAX_RULES = 16
_PART = re.compile(r"^\s*(?:([A-Za-z_]\w*)\s*\(\s*([^()]+?)\s*\)|([^()+]+?))\s*$")


@dataclass(frozen=True)
class FieldExpr:
    """One part of a rule: a function applied to a column."""

    function: str
    field: str

    def apply(self, record: Mapping[str, str | None]) -> str:
        """This part of ``record``'s key (``""`` when the value carries nothing)."""
        return FUNCTIONS[self.function](record.get(self.field))

    def __str__(self) -> str:
        return f"{self.function}({self.field})"


@dataclass(frozen=True)
class MatchRule:
    """A parsed rule: its text as written and its parts."""

    text: str
    parts: tuple[FieldExpr, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The columns the rule reads, in order of first use."""
        return tuple(dict.fromkeys(part.field for part in self.parts))

    def key(self, record: Mapping[str, str | None]) -> str:
        """``record``'s key under this rule, or ``""`` when any part is empty."""
        values = [part.apply(record) for part in self.parts]
        return "" if not all(values) else SEPARATOR.join(values)


def default_function(field: str) -> str:
    """The normalisation a bare column gets, from its name (see the module doc)."""
    low = field.casefold()
    if low in ("dob", "birthdate") or "date" in low or "birth" in low:
        return "date"
    if low.startswith(("postcode", "zip")) or "post_code" in low or "postal" in low:
        return "postcode"
    if low in ("sex", "gender"):
        return "sex"
    if low in ("first_name", "firstname", "forename", "given_name", "given_names"):
        return "first_name"
    return "name"


def parse_rule(text: str) -> MatchRule:
    """Parse ``soundex(surname)+dob+sex`` into a :class:`MatchRule`; a ParameterError
    names the part that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(
            f"a match-key rule must be fields joined by '+', e.g. 'soundex(surname)+dob+sex'; "
            f"got {text!r}",
            parameter="match_keys",
        )
    parts = []
    for raw in text.split("+"):
        found = _PART.match(raw)
        if found is None or not raw.strip():
            raise ParameterError(
                f"match-key rule {text!r}: part {raw.strip()!r} is not a column or "
                "function(column) (write e.g. 'initial(first_name)+surname+dob')",
                parameter="match_keys",
            )
        function, inner, bare = found.groups()
        if bare is not None:
            field = bare.strip()
            parts.append(FieldExpr(default_function(field), field))
            continue
        if function not in FUNCTIONS:
            raise ParameterError(
                f"match-key rule {text!r}: unknown function {function!r}; use one of "
                f"{', '.join(sorted(FUNCTIONS))}",
                parameter="match_keys",
            )
        parts.append(FieldExpr(function, inner.strip()))
    return MatchRule(text.strip(), tuple(parts))


def parse_rules(texts: Iterable[str]) -> tuple[MatchRule, ...]:
    """Several rules, checked: at least one, at most :data:`MAX_RULES`, none repeated."""
    rules = tuple(parse_rule(t) for t in texts)
    if not 1 <= len(rules) <= MAX_RULES:
        raise ParameterError(
            f"give 1 to {MAX_RULES} match-key rules, got {len(rules)}", parameter="match_keys"
        )
    seen = [tuple(map(str, rule.parts)) for rule in rules]
    if len(set(seen)) != len(seen):
        raise ParameterError(
            "two match-key rules read the same fields the same way; drop one",
            parameter="match_keys",
        )
    return rules


def fields_of(rules: Sequence[MatchRule]) -> tuple[str, ...]:
    """Every column the rules read, in order of first use."""
    return tuple(dict.fromkeys(field for rule in rules for field in rule.fields))


def record_keys(
    record: Mapping[str, str | None], rules: Sequence[MatchRule | str]
) -> tuple[str, ...]:
    """``record``'s key under each rule, in rule order; ``""`` where the rule has no key
    for it. Rules may be given as text (parsed on every call: parse once for many records)."""
    parsed = [parse_rule(rule) if isinstance(rule, str) else rule for rule in rules]
    return tuple(rule.key(record) for rule in parsed)
