"""Numbered roles ``party1`` … ``partyN`` of kinds that take any number of like parties."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from privstats.errors import ParameterError

__all__ = ["ROLE_PREFIX", "numbered_parties"]

ROLE_PREFIX = "party"


def numbered_parties(
    parties: Mapping[str, str], kind: str, *, fixed: Collection[str] = ()
) -> list[str]:
    """The parties of roles party1 … partyN in role order; ``fixed`` roles are left out.

    A role that is neither fixed nor numbered, or numbers with gaps, is a ParameterError.
    """
    numbers = {}
    for role in parties:
        if role in fixed:
            continue
        match = re.fullmatch(rf"{ROLE_PREFIX}([1-9][0-9]*)", role)
        if match is None:
            raise ParameterError(
                f"{kind} roles are named party1, party2, …; got {role!r}", parameter="role"
            )
        numbers[role] = int(match.group(1))
    roles = sorted(numbers, key=numbers.__getitem__)
    if [numbers[r] for r in roles] != list(range(1, len(roles) + 1)):
        raise ParameterError(
            f"{kind} roles must be party1 … party{len(roles)} without gaps, got {roles}",
            parameter="role",
        )
    return [parties[role] for role in roles]
