"""Private join-and-aggregate over vertically split data: per-group count, sum and mean.

Two parties hold different attributes of overlapping populations. The *left* party A
(a statistical office) holds, per person, an identifier, a group index (its categories,
e.g. region) and optionally value columns; the *right* party B (a bank) holds identifiers
and value columns (e.g. income). A obtains, for every group of its own, over the persons
*both* hold: the number of persons and the sum of each value column — left columns summed
over A's own matched records, right columns over B's. A generalisation of Google's
private join-and-compute (intersection-sum) to group-by and several columns.

Keys (fresh per run): A has α (identifiers), λ (labels, public Λ = λG) and a (share of
the joint key); B has β and b (public bG). The joint public key is P = aG + bG. H hashes
an identifier to ristretto255 (with this protocol's context); Enc_K is exponential
ElGamal (:mod:`privstats.crypto.elgamal`)::

    A → B  LeftHello        |A|, Λ, aG, number of left value columns
    B → A  RightHello       |B|, bG, per right column: integer-valued?, decimal scale,
                            non-negative?; whether B refuses A's list (|A| below B's
                            floor ``min_peer_rows``), whether B wants contributions and
                            whether B adds DP noise to the sums
    A → B  LeftGo           whether A refuses B's list (|B| below A's floor)
    A → B  LeftEntries      in a random order, per record: H(x)^α, Enc_Λ(g), and Enc_P(v)
                            per left value column
    B → A  ShuffledEntries  per record: (H(x)^α)^β with every ciphertext rerandomised
                            (plus an encryption of 0), all in a fresh random order
    B → A  RightEntries     in a random order, per record: H(y)^β and Enc_bG(w) per right
                            value column
    A      computes (H(y)^β)^α as B's records stream in and looks each up among the
           shuffled entries; for a match it decrypts that entry's label g (only matched
           labels are decrypted) and adds, per group, the ciphertexts of the pair: left
           values from the shuffled entry, right values from B's record. It learns the
           matched count of every group.
    A ⇄ B  release rounds   A proposes the cells to release (groups and margins, each a
                            set of groups) with their matched counts; B answers with the
                            cells its own rules and release guard withhold; A plans
                            again (secondary suppression) until B withholds nothing
                            more (:mod:`~.release`, where the messages are drawn)
    A → B  DecryptRequest   C1 of each agreed cell's sum, after rerandomising the sum
    B → A  DecryptShares    b·C1 for each (b·C1 − η·G when B adds DP noise η); A computes
                            C2 − b·C1 (and − a·C1 for left columns) = S·G and finds S by
                            a discrete logarithm (|S| ≤ 2^40 by default, see
                            :mod:`privstats.crypto.dlog`)

Why two keys for values: A's left values must stay hidden from B, which handles them, so
they are under the joint key; B's right values must stay hidden from A, and B's key alone
does that (B learns nothing from its own values), while it lets B encrypt with its
secret: two fixed-base multiplications per value instead of a variable-base one. A never
sends a ``C2``: B sees only the rerandomised first components, uniformly random points.

Threat model: both parties semi-honest (they follow the protocol but study all they
receive); security rests on the decisional Diffie–Hellman assumption in ristretto255
with H as a random oracle. What each party receives and learns:

- A receives |B|, bG, B's column flags, pseudorandom points H(y)^β, ciphertexts under bG
  it cannot decrypt, its own records re-keyed, rerandomised and reshuffled (so it cannot
  tell which of its records came back where), and the decryption shares of the cells it
  asked for. It learns |B|, the matched count of *every* group (also of groups it then
  withholds), which of B's pseudonymous, randomly ordered records matched one of its
  shuffled entries, and the released sums — no individual value, and not which of its
  own persons matched.
- B receives |A|, Λ, aG, pseudorandom points H(x)^α, ciphertexts under Λ (the groups) and
  P (the left values) that it cannot decrypt, A's proposed cells with their matched
  counts, and random points to multiply by b. It learns |A|, the names and matched counts
  of the cells A proposes (released counts, and those of cells B then refuses) and the
  names of the cells A withholds — not which of its persons matched, no sum. With
  magnitude rules (dominance, p %) B also receives each proposed cell's matched values
  (under its own key, rerandomised and shuffled) and so learns their multiset per cell:
  with distinct values, *which* of its persons matched, and in which of A's cells (see
  :mod:`~.release`). This is opted into by the rules; without them B asks for nothing.
- A relay between them (the hub) sees sealed bytes, their sizes and timing only.

Leaks beyond the output: both sizes; to A the matched counts of withheld groups (also
under DP: A sees exact counts, the DP guarantee is towards everyone else); to B the
proposed cells' counts (and, with magnitude rules, their value multisets); to A B's
refusal reasons, column flags (integer-valued, non-negative) and decimal scales. Each
party's floors and rules bind the release, and B enforces its own (it refuses to decrypt
a cell it withholds) — against A's choice of input, not against a deviating A. Not
covered: malicious behaviour. A could, for example, propose honest counts but send B the
C1 of a single record's ciphertext and so decrypt that record's value (B checks the
number of requests against the agreed cells, and cannot check their content), or skip
secondary suppression; B could return wrong shares, drop records or add fake ones.
Messages stream in chunks below the channel's 16 MiB limit.

Modules: :mod:`~.messages` (the wire messages and their limits), :mod:`~.left` and
:mod:`~.right` (each party's steps, its state through a run held in a ``LeftParty`` or
``RightParty``), :mod:`~.matching` (A's matching of records and per-group sums),
:mod:`~.release` (the rounds in which both agree on the cells to release).
"""

from __future__ import annotations

from privstats.protocols.join_aggregate.left import LeftKeys, LeftResult, left
from privstats.protocols.join_aggregate.messages import (
    CONTEXT,
    DEFAULT_CHUNK_SIZE,
    MAX_COLUMNS,
    MAX_DECIMALS,
    MAX_GROUPS,
    MAX_RECORDS,
    CellContributions,
    DecryptRequest,
    DecryptShares,
    LeftEntries,
    LeftGo,
    LeftHello,
    ReleaseCandidate,
    ReleaseVerdict,
    RightEntries,
    RightHello,
    ShuffledEntries,
)
from privstats.protocols.join_aggregate.release import (
    Approver,
    Candidate,
    Label,
    Planner,
    ReleaseCell,
    ReleasePlan,
    per_group,
)
from privstats.protocols.join_aggregate.right import Noise, RightKeys, RightResult, right

__all__ = [
    "CONTEXT",
    "DEFAULT_CHUNK_SIZE",
    "MAX_COLUMNS",
    "MAX_DECIMALS",
    "MAX_GROUPS",
    "MAX_RECORDS",
    "Approver",
    "Candidate",
    "CellContributions",
    "DecryptRequest",
    "DecryptShares",
    "Label",
    "LeftEntries",
    "LeftGo",
    "LeftHello",
    "LeftKeys",
    "LeftResult",
    "Noise",
    "Planner",
    "ReleaseCandidate",
    "ReleaseCell",
    "ReleasePlan",
    "ReleaseVerdict",
    "RightEntries",
    "RightHello",
    "RightKeys",
    "RightResult",
    "ShuffledEntries",
    "left",
    "per_group",
    "right",
]
