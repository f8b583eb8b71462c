"""Generated people with the errors real linkage meets, for linkage demos and tests.

A register of persons (``person_id``, names, date of birth, sex, postcode, region) and a
source that holds some of the same persons as another organisation recorded them:
misspelt names, nicknames, day and month swapped, a newer address, empty fields; and some
other persons, a few of whom share a register person's name and date of birth (namesakes,
the false matches of exact keys). ``truth`` says which source row is which register
person, so that a linkage and a coverage estimate can be scored.

Names are drawn from built-in lists of common first names and surnames with a skewed
frequency, so that common names collide as they do in a population. The nickname table
is this module's own (:data:`NICKNAMES`); a linkage that knows nicknames resolves some of
the planted ones.

This is simulation data, not protected data, so numpy's seeded generator is the right tool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np

from privstats.data.demo import REGIONS
from privstats.errors import ParameterError

__all__ = [
    "FIELDS",
    "FIRST_NAMES_FEMALE",
    "FIRST_NAMES_MALE",
    "NICKNAMES",
    "NO_ERRORS",
    "POSTCODE_AREAS",
    "SURNAMES",
    "ErrorRates",
    "Person",
    "make_people",
    "typo",
]

Person = dict[str, str]


def _words(text: str) -> tuple[str, ...]:
    """A word list written as text, one space or line break between words."""
    return tuple(text.split())


FIELDS = ("first_name", "surname", "dob", "sex", "postcode", "region")
"""The fields of every generated row (the register's rows also carry ``person_id``)."""

FIRST_NAMES_FEMALE = _words(
    """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy
    Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa
    Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda
    Pamela Emma Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet
    Catherine Maria Heather Diane Ruth Julie Olivia Joyce Virginia Victoria Kelly Lauren
    Christina Joan Evelyn Judith Megan Andrea Cheryl Hannah Jacqueline Martha Gloria Teresa
    Ann Sara Madison Frances Kathryn Janice Jean Abigail Alice Judy Sophia Grace Denise
    Amber Doris Marilyn Danielle Beverly Isabella Theresa Diana Natalie Charlotte Marie
    Kayla Alexis Lori Alexandra Jane Susanna Eleanor Florence Josephine Lucy Chloe Amelia
    Ella Mia Ava Isla Freya Poppy Daisy Evie Phoebe Ruby Millie Harriet Imogen Matilda
    Rosie Esme Holly Lily Jessie Georgia Eliza Bethany Zoe Leah Nina Clara Agnes Edith
    Irene Vera Mabel Ivy Iris Hazel Violet Sylvia Maureen Gwendolyn Winifred Rosemary
    Penelope Theodora"""
)
FIRST_NAMES_MALE = _words(
    """James Robert John Michael David William Richard Joseph Thomas Christopher Charles
    Daniel Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George
    Timothy Ronald Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry
    Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis
    Jerry Tyler Aaron Jose Adam Nathan Henry Zachary Douglas Peter Kyle Noah Ethan Jeremy
    Walter Christian Keith Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence
    Jordan Jesse Bryan Bruce Gabriel Logan Alan Juan Albert Elijah Wayne Randy Vincent Mason
    Roy Ralph Russell Bradley Philip Eugene Oliver Harry Leo Oscar Archie Theo Finley Isaac
    Lucas Max Toby Rory Hugo Louis Stanley Reginald Cecil Bernard Herbert Leonard Clifford
    Norman Percy Frederick Alfred Edmund Rupert Barnaby Callum Connor Declan Owen Rhys
    Gareth Dafydd Ewan Angus Hamish Fergus Alistair Malcolm Duncan Graham Neil Colin Ian
    Stuart Derek Trevor Nigel Clive"""
)
SURNAMES = _words(
    """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
    Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson
    Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan
    Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell
    Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan
    Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb
    Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes
    Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham
    Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds
    Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer
    Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong
    Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page
    Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson
    Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson
    Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren
    Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins O'Connor
    Harper Coleman Watkins Moss McCarthy Chambers Sharp Howell Kirby Norris Pritchard
    Osborne Doyle Hardy Bolton Gordon Charlton Horton Schofield Dale Frost Naylor Lamb
    Abbott Rowe Slater Hartley Pollard Dobson Dyer Kaye Moran Sims Hammond Ingram Whitehead
    Bevan Short Lambert Fuller Leach Wilkins Hancock Tucker Fowler Barlow Cunningham
    Connolly Mahmood Nowak Kowalski Rossi Ferreira Silva Santos Costa Garcia Martinez Lopez
    Rodriguez Hernandez Gonzalez Novak Horvat Jensen Nielsen Hansen Larsen Schmidt
    Schneider Fischer Weber Meyer Wagner Becker Hoffmann Dubois Moreau Laurent Bernard Petit
    Leroy Yilmaz Kaya Demir Nguyen Tran Chen Wang Li Zhang Liu Kim Park Choi Sato Suzuki
    Tanaka Okafor Mensah Adeyemi Mwangi Kamau Haddad Nasser"""
)
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Robert": ("Bob", "Rob", "Bobby", "Bert"),
    "Richard": ("Rick", "Dick", "Richie"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"),
    "Andrew": ("Andy", "Drew"),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Kenneth": ("Ken", "Kenny"),
    "Timothy": ("Tim",),
    "Jonathan": ("Jon",),
    "Nicholas": ("Nick",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex", "Sandy"),
    "Patrick": ("Pat", "Paddy"),
    "Frederick": ("Fred", "Freddie"),
    "Alfred": ("Alf", "Alfie"),
    "Leonard": ("Len", "Lenny"),
    "Gregory": ("Greg",),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Lawrence": ("Larry",),
    "Raymond": ("Ray",),
    "Gerald": ("Gerry",),
    "Douglas": ("Doug",),
    "Henry": ("Harry", "Hank"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate"),
    "Jennifer": ("Jenny", "Jen"),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Susan": ("Sue", "Suzy"),
    "Deborah": ("Debbie", "Deb"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Jessica": ("Jess",),
    "Samantha": ("Sam",),
    "Christine": ("Chris", "Chrissie"),
    "Alexandra": ("Alex", "Lexi"),
    "Abigail": ("Abby",),
    "Dorothy": ("Dot", "Dottie"),
    "Florence": ("Flo",),
    "Josephine": ("Jo", "Josie"),
    "Eleanor": ("Ellie", "Nell"),
    "Penelope": ("Penny",),
    "Theodora": ("Thea", "Dora"),
    "Frances": ("Fran",),
    "Judith": ("Judy",),
    "Pamela": ("Pam",),
    "Sandra": ("Sandy",),
    "Amanda": ("Mandy",),
    "Kimberly": ("Kim",),
    "Cynthia": ("Cindy",),
    "Teresa": ("Terri",),
    "Winifred": ("Winnie",),
    "Gwendolyn": ("Gwen",),
    "Harriet": ("Hattie",),
    "Matilda": ("Tilly",),
    "Isabella": ("Bella", "Izzy"),
}
"""Formal first name → nicknames a person may go by in another organisation's file."""

POSTCODE_AREAS: dict[str, str] = {
    "Capital": "CA",
    "North": "NO",
    "North-East": "NE",
    "East": "EA",
    "South": "SO",
    "South-West": "SW",
    "West": "WE",
    "Islands": "IS",
}
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_FIRST_DOB = dt.date(1930, 1, 1).toordinal()
_LAST_DOB = dt.date(2008, 12, 31).toordinal()


@dataclass(frozen=True)
class ErrorRates:
    """Share of the source's rows that carry each kind of error (independently).

    ``typo``: one letter substituted, deleted or two swapped in the first name or surname;
    ``nickname``: the first name replaced by a nickname (when :data:`NICKNAMES` has one);
    ``day_month_swap``: day and month of birth swapped (when the day is 12 or less);
    ``moved``: a new postcode, in another region for half of the movers;
    ``missing``: one of first name, date of birth, sex or postcode left empty;
    ``namesake``: share of the source's *other* persons (not in the register) who carry a
    register person's first name, surname and date of birth.
    """

    typo: float = 0.08
    nickname: float = 0.06
    day_month_swap: float = 0.03
    moved: float = 0.10
    missing: float = 0.03
    namesake: float = 0.15

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"ErrorRates.{field.name} must be a number, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ParameterError(
                    f"ErrorRates.{field.name} must be between 0 and 1, got {value!r}",
                    parameter=field.name,
                )


NO_ERRORS = ErrorRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
"""Every rate 0: the source copies its persons exactly."""


def _weights(count: int) -> np.ndarray:
    """Zipf-like frequencies: the first names of a list are the most common."""
    weights = 1.0 / np.arange(1, count + 1) ** 0.8
    return np.asarray(weights / weights.sum())


_NAME_WEIGHTS = {
    "F": _weights(len(FIRST_NAMES_FEMALE)),
    "M": _weights(len(FIRST_NAMES_MALE)),
    "surname": _weights(len(SURNAMES)),
}


def _postcode(rng: np.random.Generator, region: str) -> str:
    district = int(rng.integers(1, 30))
    unit = "".join(rng.choice(list(_LETTERS), 2))
    return f"{POSTCODE_AREAS[region]}{district} {int(rng.integers(1, 10))}{unit}"


def _new_people(
    rng: np.random.Generator, count: int, regions: list[str], shares: np.ndarray
) -> list[Person]:
    """``count`` persons drawn independently: sex, names by frequency, date of birth,
    region by population share and a postcode in it."""
    female = rng.random(count) < 0.51
    women = rng.choice(len(FIRST_NAMES_FEMALE), size=count, p=_NAME_WEIGHTS["F"])
    men = rng.choice(len(FIRST_NAMES_MALE), size=count, p=_NAME_WEIGHTS["M"])
    surnames = rng.choice(len(SURNAMES), size=count, p=_NAME_WEIGHTS["surname"])
    births = rng.integers(_FIRST_DOB, _LAST_DOB + 1, size=count)
    region = rng.choice(len(regions), size=count, p=shares)
    return [
        {
            "first_name": FIRST_NAMES_FEMALE[women[i]] if female[i] else FIRST_NAMES_MALE[men[i]],
            "surname": SURNAMES[surnames[i]],
            "dob": dt.date.fromordinal(int(births[i])).isoformat(),
            "sex": "F" if female[i] else "M",
            "postcode": _postcode(rng, regions[region[i]]),
            "region": regions[region[i]],
        }
        for i in range(count)
    ]


def typo(rng: np.random.Generator, text: str) -> str:
    """One keying error: a letter substituted or deleted, or two neighbours swapped."""
    if len(text) < 3:
        return text
    at = int(rng.integers(1, len(text) - 1))  # keep the first letter, as most typos do
    kind = int(rng.integers(3))
    if kind == 0:
        letters = "abcdefghijklmnopqrstuvwxyz".replace(text[at].lower(), "")
        return text[:at] + str(rng.choice(list(letters))) + text[at + 1 :]
    if kind == 1:
        return text[:at] + text[at + 1 :]
    swapped = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return swapped if swapped != text else text[:at] + text[at + 1 :]


def _with_errors(
    rng: np.random.Generator,
    person: Person,
    rates: ErrorRates,
    regions: list[str],
    shares: np.ndarray,
) -> Person:
    """The source's record of ``person``, each kind of error drawn independently."""
    row = dict(person)
    if rng.random() < rates.nickname and row["first_name"] in NICKNAMES:
        options = NICKNAMES[row["first_name"]]
        row["first_name"] = options[int(rng.integers(len(options)))]
    if rng.random() < rates.typo:
        name = "first_name" if rng.random() < 0.4 else "surname"
        row[name] = typo(rng, row[name])
    if rng.random() < rates.day_month_swap:
        year, month, day = row["dob"].split("-")
        if int(day) <= 12 and day != month:
            row["dob"] = f"{year}-{day}-{month}"
    if rng.random() < rates.moved:
        region = row["region"]
        if rng.random() < 0.5:
            region = regions[int(rng.choice(len(regions), p=shares))]
        row["postcode"], row["region"] = _postcode(rng, region), region
    if rng.random() < rates.missing:
        row[str(rng.choice(["first_name", "dob", "sex", "postcode"]))] = ""
    return row


def make_people(
    n_register: int,
    n_source: int,
    overlap: int,
    seed: int,
    errors: ErrorRates = ErrorRates(),
) -> tuple[list[Person], list[Person], dict[int, str | None]]:
    """A register, a source that shares ``overlap`` persons with it, and the truth.

    Returns ``(register_rows, source_rows, truth)``: register rows carry ``person_id`` and
    :data:`FIELDS`; source rows carry :data:`FIELDS` (as the source recorded them, with
    ``errors``) in random order; ``truth`` maps each source row's index to the register
    ``person_id`` it is, or None for a person not in the register.

    Raises:
        ParameterError: a size is negative or ``overlap`` exceeds either file.
    """
    for name, value in (("n_register", n_register), ("n_source", n_source), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 0:
            raise ParameterError(f"{name} must be non-negative, got {value}", parameter=name)
    if overlap > min(n_register, n_source):
        raise ParameterError(
            f"overlap ({overlap}) cannot exceed the register ({n_register}) or the source "
            f"({n_source})",
            parameter="overlap",
        )
    rng = np.random.default_rng(seed)
    regions = list(REGIONS)
    shares = np.array([REGIONS[r][0] for r in regions])
    shares = shares / shares.sum()

    ids = rng.choice(10**10, size=n_register, replace=False)
    register = [
        {"person_id": f"{int(i):010d}", **person}
        for i, person in zip(ids, _new_people(rng, n_register, regions, shares), strict=True)
    ]
    in_both = rng.choice(n_register, size=overlap, replace=False)
    rows: list[tuple[Person, str | None]] = []
    for i in in_both:
        person = {k: register[i][k] for k in FIELDS}
        rows.append((_with_errors(rng, person, errors, regions, shares), register[i]["person_id"]))
    outside = np.setdiff1d(np.arange(n_register), in_both)
    for other in _new_people(rng, n_source - overlap, regions, shares):
        if outside.size and rng.random() < errors.namesake:
            twin = register[int(rng.choice(outside))]
            other.update({k: twin[k] for k in ("first_name", "surname", "dob", "sex")})
        rows.append((_with_errors(rng, other, errors, regions, shares), None))
    order = rng.permutation(len(rows))
    source = [rows[i][0] for i in order]
    truth = {index: rows[i][1] for index, i in enumerate(order)}
    return register, source, truth
