"""Normalised names, dates, postcodes and sex codes: the pieces match keys are built from.

Both parties of a linkage must turn the same person into the same text, whatever the
file's spelling: "José  O'Brien", "jose obrien" and "JOSE O BRIEN" all become
``jose obrien`` (:func:`text`) or ``joseobrien`` (:func:`name`). Every function returns
``""`` for a value that carries nothing (empty, a missing marker, an impossible date):
a key built from it is no key, and never matches (see :mod:`.match_keys`).

- text: Unicode case folding, accents stripped (NFKD, combining marks dropped),
  apostrophes dropped, other punctuation a space, spaces collapsed;
- first names: :func:`first_name` also maps common English diminutives to their full
  form (``bill`` → ``william``, :data:`NICKNAMES`) and keeps the first given name only;
- dates (:func:`date`): ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``DD/MM/YYYY``,
  ``DD.MM.YYYY``, ``DD-MM-YYYY`` (day first, as in Europe; ``dayfirst=False`` reads
  ``MM/DD/YYYY``) and ``DD Mon YYYY`` → ``YYYY-MM-DD``;
- postcodes (:func:`postcode`): letters and digits only, upper case (``sw1a 1aa`` →
  ``SW1A1AA``);
- sex (:func:`sex`): ``m``/``male``/``man``/``1`` → ``m``, ``f``/``female``/``woman``/``2``
  → ``f``;
- phonetic codes by ``jellyfish`` (maintained, Rust core): :func:`soundex`,
  :func:`metaphone`, :func:`nysiis` on the name with spaces removed.

Nothing here is secret or random; the keys built from these strings are hashed inside
the protocol (:mod:`privstats.protocols.psi_multikey`), never sent.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import unicodedata
from typing import Any

from privstats.errors import ParameterError

__all__ = [
    "NICKNAMES",
    "date",
    "first_name",
    "initial",
    "metaphone",
    "name",
    "nysiis",
    "postcode",
    "sex",
    "soundex",
    "text",
    "year",
]

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
"""Texts (after case folding and trimming) that mean no value."""

NICKNAMES: dict[str, str] = {
    "abby": "abigail",
    "alex": "alexander",
    "andy": "andrew",
    "beth": "elizabeth",
    "betty": "elizabeth",
    "bill": "william",
    "billy": "william",
    "bob": "robert",
    "bobby": "robert",
    "chris": "christopher",
    "chuck": "charles",
    "dan": "daniel",
    "danny": "daniel",
    "dave": "david",
    "dick": "richard",
    "ed": "edward",
    "eddie": "edward",
    "jim": "james",
    "jimmy": "james",
    "joe": "joseph",
    "jack": "john",
    "johnny": "john",
    "kate": "katherine",
    "kathy": "katherine",
    "katie": "katherine",
    "ken": "kenneth",
    "larry": "lawrence",
    "liz": "elizabeth",
    "maggie": "margaret",
    "matt": "matthew",
    "meg": "margaret",
    "mike": "michael",
    "nick": "nicholas",
    "pat": "patricia",
    "peggy": "margaret",
    "sam": "samuel",
    "steve": "stephen",
    "sue": "susan",
    "ted": "edward",
    "tom": "thomas",
    "tommy": "thomas",
    "tony": "anthony",
    "will": "william",
}
"""Common English diminutives → the full given name (43 pairs). Chosen by hand from the
usual English forms; where a diminutive has several full forms (``pat``: Patrick or
Patricia, ``alex``: Alexander or Alexandra) one is picked, which merges those names into
one key — harmless for matching, since the key also holds the surname and the date of
birth. A fuller public list is github.com/carltonnorthern/nicknames (Apache-2.0)."""

_APOSTROPHES = re.compile(r"['’`´ʼ]")
_NOT_WORD = re.compile(r"[^\w]+|_")
_SPACES = re.compile(r"\s+")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}


def text(value: str | None) -> str:
    """Case-folded, accent-free, punctuation-free text with single spaces; ``""`` if none."""
    if value is None:
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    plain = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", plain))
    out = _SPACES.sub(" ", plain).strip()
    return "" if out in MISSING else out


def name(value: str | None) -> str:
    """A surname (or any name) as one word: :func:`text` without spaces (``van der Berg``
    and ``Vanderberg`` agree)."""
    return text(value).replace(" ", "")


def first_name(value: str | None) -> str:
    """The first given name, a diminutive replaced by its full form (:data:`NICKNAMES`)."""
    words = text(value).split(" ")
    first = words[0] if words else ""
    return NICKNAMES.get(first, first)


def initial(value: str | None) -> str:
    """The first letter of :func:`first_name` (``Bill`` → ``w``)."""
    return first_name(value)[:1]


def _letters(value: str | None) -> str:
    """The name's ASCII letters only: what the phonetic algorithms read."""
    return "".join(c for c in name(value) if "a" <= c <= "z")


def _jellyfish() -> Any:
    """The ``jellyfish`` module, imported when a phonetic code is first asked for."""
    try:
        return importlib.import_module("jellyfish")
    except ModuleNotFoundError as exc:
        raise ParameterError(
            "phonetic match keys (soundex, metaphone, nysiis) need the 'jellyfish' package: "
            "pip install 'jellyfish>=1.0'",
            parameter="match_keys",
        ) from exc


def _phonetic(algorithm: str, value: str | None) -> str:
    letters = _letters(value)
    return str(getattr(_jellyfish(), algorithm)(letters)) if letters else ""


def soundex(value: str | None) -> str:
    """American Soundex of the name (``Robert``, ``Rupert`` → ``R163``); ``""`` if no letters."""
    return _phonetic("soundex", value)


def metaphone(value: str | None) -> str:
    """Metaphone code of the name; ``""`` if it has no letters."""
    return _phonetic("metaphone", value)


def nysiis(value: str | None) -> str:
    """NYSIIS code of the name; ``""`` if it has no letters."""
    return _phonetic("nysiis", value)


def _valid(year: int, month: int, day: int) -> str:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return ""


def date(value: str | None, *, dayfirst: bool = True) -> str:
    """The date as ``YYYY-MM-DD``; ``""`` when it is missing, not a date or impossible
    (``31/02/1980``). Two-digit years are not read (they are ambiguous across centuries)."""
    raw = text(value)
    if not raw:
        return ""
    compact = raw.replace(" ", "")
    if len(compact) == 8 and compact.isdigit() and raw.isdigit():
        return _valid(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
    parts = raw.split(" ")
    if len(parts) == 3 and parts[1][:3] in _MONTHS and parts[0].isdigit() and parts[2].isdigit():
        if len(parts[2]) == 4:
            return _valid(int(parts[2]), _MONTHS[parts[1][:3]], int(parts[0]))
        return ""
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return ""
    a, b, c = (int(p) for p in parts)
    if len(parts[0]) == 4:
        return _valid(a, b, c)
    if len(parts[2]) != 4:
        return ""
    return _valid(c, b, a) if dayfirst else _valid(c, a, b)


def year(value: str | None, *, dayfirst: bool = True) -> str:
    """The year of :func:`date`, or ``""``."""
    return date(value, dayfirst=dayfirst)[:4]


def postcode(value: str | None) -> str:
    """The postcode's letters and digits, upper case, no spaces (``sw1a 1aa`` → ``SW1A1AA``)."""
    out = text(value).replace(" ", "").upper()
    return "" if out.casefold() in MISSING else out


_SEX = {
    "m": "m",
    "male": "m",
    "man": "m",
    "1": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "2": "f",
}


def sex(value: str | None) -> str:
    """``m`` or ``f`` from the usual spellings; another value as :func:`text` gives it."""
    out = text(value)
    return _SEX.get(out, out)
