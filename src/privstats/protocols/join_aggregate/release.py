"""The release step of join-and-aggregate: A proposes a table, B agrees, only agreed cells open.

After matching, the left party A knows the matched count of every group; the right party B
(whose values are summed) knows none. Before any sum is decrypted the two agree on the
cells to release, in lockstep rounds:

    A → B  ReleaseCandidate   the cells A proposes (group values or "Total" per column),
                              their matched counts, and the names (no counts) of the cells
                              A withholds
    A → B  CellContributions  only if B asked for them in its hello (magnitude rules such
                              as (n, k) dominance or p %): per proposed cell and right
                              column, the cell's matched value ciphertexts, rerandomised
                              under B's key and in a fresh random order
    B → A  ReleaseVerdict     the proposed cells B withholds, each with its reason

A plans again with B's refusals added (its secondary suppression runs again), and proposes
the new table; the rounds end when B withholds nothing more. B then serves the decryption
of exactly the agreed cells' sums (:mod:`~.right` checks the number).

What this step adds to each party's view: B learns the matched count of every cell A
proposes (the counts released anyway, and of cells B then refuses) and the names of the
withheld cells. With magnitude rules B also learns, per proposed cell, the multiset of its
own values over the matched persons — which tells B *which* of its persons matched in that
cell whenever their values are distinct (amounts in cents nearly always are), and, by
difference with a margin, in a withheld cell too. It is the price of letting the value
owner evaluate dominance on its own values; without magnitude rules B asks for nothing
and learns counts only. A learns B's refusals and their reasons (its rules' names and, for
the release guard, which cells earlier releases would expose).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from privstats.crypto import elgamal, secure_permutation
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError, ProtocolError
from privstats.protocols.join_aggregate.matching import reordered
from privstats.protocols.join_aggregate.messages import (
    PAYLOAD_BYTES,
    CellContributions,
    ReleaseCandidate,
    ReleaseVerdict,
)
from privstats.transport.channel import Channel

__all__ = [
    "Approver",
    "Candidate",
    "Label",
    "Planner",
    "ReleaseCell",
    "ReleasePlan",
    "per_group",
    "propose",
    "review",
]

Label = tuple[str, ...]
"""A cell's labels, one per group column: a group value, or ``"Total"`` for a margin."""
MAX_ROUNDS = 1_000
_PER_PART = PAYLOAD_BYTES // CIPHERTEXT_BYTES


@dataclass(frozen=True)
class ReleaseCell:
    """One cell A may release: its labels and the groups whose records it adds up."""

    key: Label
    groups: tuple[int, ...]


@dataclass(frozen=True)
class ReleasePlan:
    """The cells A proposes to release, and the names of those it withholds."""

    released: tuple[ReleaseCell, ...]
    withheld: tuple[Label, ...] = ()


Planner = Callable[[Sequence[int], Mapping[Label, str]], ReleasePlan]
"""A's release rule: (matched count per group, cells B refused → why) → the plan."""


@dataclass(frozen=True)
class Candidate:
    """What B sees of A's proposal: cells, their counts, withheld names, and (if asked)
    per cell and right column the matched values, sorted (their order carries nothing)."""

    round: int
    keys: tuple[Label, ...]
    counts: tuple[int, ...]
    withheld: tuple[Label, ...]
    contributions: tuple[tuple[tuple[int, ...], ...], ...] | None = None


Approver = Callable[[Candidate], Mapping[Label, str]]
"""B's release rule: a candidate → the proposed cells B withholds, with reasons."""


def per_group(choose: Callable[[Sequence[int]], Iterable[int]]) -> Planner:
    """A planner releasing the single groups ``choose(counts)`` picks, each keyed
    ``(str(g),)``, without margins; cells B refuses are dropped (no secondary suppression:
    for tests and callers that apply their own rule)."""

    def plan(counts: Sequence[int], refused: Mapping[Label, str]) -> ReleasePlan:
        chosen = sorted(set(choose(counts)))
        cells = [ReleaseCell((str(g),), (g,)) for g in chosen]
        released = tuple(cell for cell in cells if cell.key not in refused)
        kept = {cell.key for cell in released}
        withheld = tuple((str(g),) for g in range(len(counts)) if (str(g),) not in kept)
        return ReleasePlan(released, withheld)

    return plan


def _checked_plan(plan: ReleasePlan, n_groups: int, refused: Mapping[Label, str]) -> ReleasePlan:
    """Refuse a plan with a repeated or refused cell or a group index out of range."""
    keys = [cell.key for cell in plan.released]
    if len(set(keys)) != len(keys):
        raise ParameterError("the release plan names a cell twice", parameter="release")
    for cell in plan.released:
        if cell.key in refused:
            raise ParameterError(
                f"the release plan releases cell {cell.key}, which the right party withholds",
                parameter="release",
            )
        if not cell.groups or any(not 0 <= g < n_groups for g in cell.groups):
            raise ParameterError(
                f"cell {cell.key} names no group or a group outside 0..{n_groups - 1}",
                parameter="release",
            )
    return plan


def propose(
    channel: Channel,
    peer: str,
    counts: Sequence[int],
    plan: Planner,
    contributions: Callable[[ReleaseCell, int], bytes] | None,
    right_key: bytes,
    n_right: int,
) -> tuple[ReleasePlan, dict[Label, str]]:
    """A's side: propose, send contributions if B asked, read B's verdict; repeat until B
    withholds nothing more. Returns the agreed plan and B's refusals."""
    refused: dict[Label, str] = {}
    for round_ in range(MAX_ROUNDS):
        current = _checked_plan(plan(counts, dict(refused)), len(counts), refused)
        cells = current.released
        channel.send(
            peer,
            ReleaseCandidate(
                round_,
                [list(cell.key) for cell in cells],
                [sum(counts[g] for g in cell.groups) for cell in cells],
                [list(key) for key in current.withheld],
            ),
        )
        if contributions is not None:
            for i, cell in enumerate(cells):
                for c in range(n_right):
                    _send_contributions(channel, peer, i, c, contributions(cell, c), right_key)
        verdict = channel.recv(peer, ReleaseVerdict)
        if len(verdict.refused) != len(verdict.reasons):
            raise ProtocolError("release: malformed verdict", peer=peer, step="release")
        new = {
            tuple(key): reason for key, reason in zip(verdict.refused, verdict.reasons, strict=True)
        }
        proposed = {cell.key for cell in cells}
        if any(key not in proposed for key in new):
            raise ProtocolError(
                "release: the right party withheld a cell that was not proposed",
                peer=peer,
                step="release",
            )
        if not new:
            return current, refused
        refused.update(new)
    raise ProtocolError("release: no agreement after many rounds", peer=peer, step="release")


def _send_contributions(
    channel: Channel, peer: str, cell: int, column: int, ciphertexts: bytes, right_key: bytes
) -> None:
    """One cell's matched value ciphertexts of one column, rerandomised and shuffled, in
    parts below the message limit (one empty part for an empty cell)."""
    count = len(ciphertexts) // CIPHERTEXT_BYTES
    if count:
        fresh = elgamal.rerandomise(ciphertexts, right_key)
        ciphertexts = reordered(fresh, CIPHERTEXT_BYTES, secure_permutation(count))
    for start in range(0, max(count, 1), _PER_PART):
        part = ciphertexts[start * CIPHERTEXT_BYTES : (start + _PER_PART) * CIPHERTEXT_BYTES]
        channel.send(peer, CellContributions(cell, column, part))


def review(
    channel: Channel,
    peer: str,
    approve: Approver,
    *,
    max_count: int,
    values: Sequence[Mapping[bytes, int]] | None,
    open_values: Callable[[bytes], bytes],
) -> Candidate:
    """B's side: receive each proposal (and contributions, when ``values`` maps each right
    column's points ``v·G`` to B's values ``v``), ask ``approve``, answer; return the
    proposal B withheld nothing of. ``open_values`` decrypts B's ciphertexts to points."""
    for expected in range(MAX_ROUNDS):
        msg = channel.recv(peer, ReleaseCandidate)
        keys = tuple(tuple(key) for key in msg.keys)
        counts = tuple(msg.counts)
        if (
            msg.round != expected
            or len(keys) != len(counts)
            or len(set(keys)) != len(keys)
            or any(not 0 <= n <= max_count for n in counts)
        ):
            raise ProtocolError("release: malformed candidate", peer=peer, step="release")
        contributions = None
        if values is not None:
            contributions = tuple(
                tuple(
                    _receive_contributions(channel, peer, i, c, counts[i], table, open_values)
                    for c, table in enumerate(values)
                )
                for i in range(len(keys))
            )
        candidate = Candidate(
            expected, keys, counts, tuple(tuple(k) for k in msg.withheld), contributions
        )
        refused = {key: str(reason) for key, reason in approve(candidate).items()}
        if any(key not in keys for key in refused):
            raise ParameterError("the approver withheld a cell that was not proposed")
        channel.send(peer, ReleaseVerdict([list(k) for k in refused], list(refused.values())))
        if not refused:
            return candidate
    raise ProtocolError("release: no agreement after many rounds", peer=peer, step="release")


def _receive_contributions(
    channel: Channel,
    peer: str,
    cell: int,
    column: int,
    count: int,
    table: Mapping[bytes, int],
    open_values: Callable[[bytes], bytes],
) -> tuple[int, ...]:
    """One cell's matched values of one column, checked to be ``count`` of B's own values."""
    parts: list[bytes] = []
    got = 0
    while True:
        msg = channel.recv(peer, CellContributions)
        n, rest = divmod(len(msg.values), CIPHERTEXT_BYTES)
        if msg.cell != cell or msg.column != column or rest or got + n > count:
            raise ProtocolError("release: malformed contributions", peer=peer, step="release")
        parts.append(msg.values)
        got += n
        if got == count:
            break
    try:
        points = open_values(b"".join(parts))
    except CryptoError as exc:
        raise ProtocolError("release: invalid contribution", peer=peer, step="release") from exc
    out = []
    for k in range(count):
        value = table.get(points[k * POINT_BYTES : (k + 1) * POINT_BYTES])
        if value is None:
            raise ProtocolError(
                "release: a contribution is none of the right party's values",
                peer=peer,
                step="release",
            )
        out.append(value)
    return tuple(sorted(out))
