"""Private probabilistic linkage through a linker: Bloom-filter encodings, counts by domain.

Three roles over one :class:`~privstats.transport.channel.Channel`:

1. **register → source: the key.** The register draws a 32-byte encoding key from
   :mod:`secrets` and sends it to the source only (through the hub's relay the message is
   sealed end to end, so the hub cannot read it; the linker is never sent it).
2. **register, source → linker: encodings.** Each data owner encodes its records as CLKs
   (:mod:`privstats.linkage.bloom`: keyed HMAC-SHA256 q-gram hashing, the hardening both
   agreed), puts them in an order drawn from :mod:`secrets`, and sends them in chunks. The
   register adds to each of its encodings an **opaque label** of its domain: the domains'
   numbers under a permutation drawn from :mod:`secrets`, which only the register can map
   back. The source sends encodings only.
3. **linker → register: counts.** The linker blocks (LSH bit sampling), scores candidate
   pairs by Dice, chooses the threshold (the job's, or from a two-component mixture of the
   scores), assigns one-to-one (greedy) and sends the register the matched count of every
   opaque label, the numbers of records and candidate pairs, the threshold, and two
   histograms (100 bins of [0, 1]) of the scores: each register record's best candidate
   score, and the accepted pairs' scores, from which the register estimates the linkage
   errors. The source gets
   nothing from the linker; it learns what the register releases (the kind's release step).
4. **register ↔ linker: the review (optional).** When the register has a clerical-review
   sample (persons it has labelled as truly in the source or not), it announces the
   sample's size in its hello and, after the counts, sends the positions of those records
   in the order it sent them; the linker answers, for each, whether it was linked. The
   linker refuses more than ``max_review`` positions, a number the job's spec fixes and the
   source approves.

A party that announces more records than its dataset declares at the hub is refused by
the linker before anything is allocated (``declared_rows``).

Threat model: semi-honest parties, and the linker colludes with neither data owner (a
colluding owner would hand it the key, and the linker could then run a dictionary attack
on every encoding). The **linker** learns both files' sizes, the number of register
records per opaque label (the domains' sizes, without their names), the encodings, and
so the similarity structure of the two files — which pairs are alike, how many records
are near-duplicates. It does not learn the key nor any clear value; what remains is the
cryptanalysis of Bloom-filter encodings (frequency and pattern-mining attacks, Christen
et al. 2017–2019), against which the hardening options act (see
docs/computations/linkage.md). The **register** learns the matched count per
domain (before any disclosure rule, as in PSI-based coverage), the source's size, the
threshold and the score histograms, and for each reviewed record whether it was linked.
An honest register already knows (from its review) whether those persons are in the
source, so it learns only where the linkage erred; a register that labels persons it
never reviewed learns, for up to ``max_review`` persons of its choosing, whether each is
(probably) in the source — a membership disclosure the source accepts by approving the
job's ``max_review``. The linker learns which of the register's positions were reviewed,
positions it cannot map to persons. The **source** learns the register's key (it must,
to encode alike) and the released figures. The **hub** relays sealed envelopes and learns
none of these.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError, ProtocolError
from privstats.linkage.blocking import BlockingSpec
from privstats.linkage.bloom import KEY_BYTES, EncodingSpec, encode_records, new_key
from privstats.linkage.linker import Linkage, counts_by_label, link, score_histogram
from privstats.progress import Progress
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "EncodingKey",
    "Encodings",
    "Hello",
    "LinkCounts",
    "RegisterView",
    "ReviewAnswer",
    "ReviewQuery",
    "linker",
    "register",
    "source",
]

MAX_CHUNK_BYTES = 8 * 1024 * 1024
_LABEL = np.dtype("<u4")
_POSITION = np.dtype("<u4")


@message("linkage.key", 1)
class EncodingKey(Message):
    key: bytes


@message("linkage.hello", 2)
class Hello(Message):
    rows: int
    row_bytes: int
    labels: int
    chunks: int
    review: int


@message("linkage.review_query", 1)
class ReviewQuery(Message):
    positions: bytes  # little-endian uint32, the reviewed records' positions as sent


@message("linkage.review_answer", 1)
class ReviewAnswer(Message):
    linked: bytes  # one byte per queried position: 1 linked, 0 not


@message("linkage.encodings", 1)
class Encodings(Message):
    encodings: bytes
    labels: bytes


@message("linkage.counts", 1)
class LinkCounts(Message):
    matched: list[int]
    register_rows: int
    source_rows: int
    candidates: int
    threshold: float
    threshold_source: str
    histogram: list[int]
    matched_histogram: list[int]
    skipped_buckets: int


@dataclass(frozen=True)
class RegisterView:
    """What the register learns: matched records per domain (in its domain order), the
    linker's summary, and whether each reviewed record (in the order given) was linked."""

    matched: list[int]
    counts: LinkCounts
    reviewed_linked: list[bool]


def _shuffled(count: int) -> npt.NDArray[np.intp]:
    order = list(range(count))
    secrets.SystemRandom().shuffle(order)
    return np.array(order, dtype=np.intp)


def _send_encodings(
    channel: Channel,
    linker_party: str,
    encoded: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.uint32] | None,
    n_labels: int,
    progress: Progress | None,
    review: int = 0,
) -> npt.NDArray[np.intp]:
    """Encodings (and labels) in an order from :mod:`secrets`, in chunks; returns the
    order (position i carried record ``order[i]``)."""
    order = _shuffled(len(encoded))
    rows = max(1, MAX_CHUNK_BYTES // max(encoded.shape[1], 1))
    chunks = max(1, -(-len(encoded) // rows))
    channel.send(linker_party, Hello(len(encoded), encoded.shape[1], n_labels, chunks, review))
    for index in range(chunks):
        part = order[index * rows : (index + 1) * rows]
        tags = b"" if labels is None else labels[part].astype(_LABEL).tobytes()
        channel.send(linker_party, Encodings(encoded[part].tobytes(), tags))
        if progress:
            progress("encodings", index + 1, chunks)
    return order


def _review_positions(
    review: Sequence[int], order: npt.NDArray[np.intp], rows: int
) -> npt.NDArray[np.uint32]:
    """The positions at which the reviewed records were sent."""
    wanted = np.asarray(review, dtype=np.int64)
    if len(set(wanted.tolist())) != len(wanted) or ((wanted < 0) | (wanted >= rows)).any():
        raise ParameterError(
            "the review names a register record twice or one the register does not have",
            parameter="review",
        )
    position = np.empty(rows, dtype=np.int64)
    position[order] = np.arange(rows)
    return position[wanted].astype(_POSITION)


def register(
    channel: Channel,
    source_party: str,
    linker_party: str,
    records: Sequence[Sequence[str]],
    domains: npt.NDArray[np.intp],
    n_domains: int,
    spec: EncodingSpec,
    progress: Progress | None = None,
    review: Sequence[int] = (),
) -> RegisterView:
    """The register's side: draw and share the key, send encodings with opaque domain
    labels, map the linker's counts back to its domains; with ``review`` (indices of
    reviewed records), ask the linker whether each of them was linked."""
    if len(domains) != len(records):
        raise ParameterError("every register record needs its domain")
    key = new_key()
    channel.send(source_party, EncodingKey(key))
    encoded = encode_records(records, key, spec)
    del key
    relabel = _shuffled(n_domains).astype(np.uint32)  # domain d travels as relabel[d]
    order = _send_encodings(
        channel, linker_party, encoded, relabel[domains], n_domains, progress, len(review)
    )
    counts = channel.recv(linker_party, LinkCounts)
    if len(counts.matched) != n_domains or counts.register_rows != len(records):
        raise ProtocolError("the linker's counts do not fit this register", peer=linker_party)
    if any(m < 0 for m in counts.matched) or sum(counts.matched) > min(
        len(records), counts.source_rows
    ):
        raise ProtocolError("the linker's counts are impossible", peer=linker_party)
    matched = [counts.matched[int(relabel[d])] for d in range(n_domains)]
    linked: list[bool] = []
    if len(review):
        positions = _review_positions(review, order, len(records))
        channel.send(linker_party, ReviewQuery(positions.tobytes()))
        answer = channel.recv(linker_party, ReviewAnswer).linked
        if len(answer) != len(review) or set(answer) - {0, 1}:
            raise ProtocolError(
                "the linker's review answer does not fit the query", peer=linker_party
            )
        linked = [bool(b) for b in answer]
    return RegisterView(matched, counts, linked)


def source(
    channel: Channel,
    register_party: str,
    linker_party: str,
    records: Sequence[Sequence[str]],
    spec: EncodingSpec,
    progress: Progress | None = None,
) -> None:
    """The source's side: receive the key, send its encodings (no labels)."""
    key = channel.recv(register_party, EncodingKey).key
    if len(key) != KEY_BYTES:
        raise ProtocolError("the register's encoding key has the wrong size", peer=register_party)
    encoded = encode_records(records, key, spec)
    del key
    _send_encodings(channel, linker_party, encoded, None, 0, progress)


def _receive(
    channel: Channel, party: str, labelled: bool, max_review: int = 0, max_rows: int | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], Hello]:
    hello = channel.recv(party, Hello)
    if max_rows is not None and hello.rows > max_rows:
        raise ProtocolError(
            f"hello: {hello.rows} records announced; the dataset the hub lists holds {max_rows}",
            peer=party,
            step="encodings",
        )
    if hello.rows < 1 or hello.row_bytes < 8 or hello.row_bytes % 8 or hello.chunks < 1:
        raise ProtocolError("hello: no records or an impossible encoding size", peer=party)
    if labelled != (hello.labels > 0) or hello.labels > hello.rows:
        raise ProtocolError("hello: labels where none are due, or more than records", peer=party)
    if hello.review < 0 or hello.review > min(max_review, hello.rows):
        raise ProtocolError(
            f"hello: a review of {hello.review} records; the job allows at most {max_review} "
            "(max_review)",
            peer=party,
            step="review",
        )
    encoded = np.empty((hello.rows, hello.row_bytes), dtype=np.uint8)
    labels = np.zeros(hello.rows, dtype=np.int64)
    filled = 0
    for _ in range(hello.chunks):
        chunk = channel.recv(party, Encodings)
        count, rest = divmod(len(chunk.encodings), hello.row_bytes)
        if rest or filled + count > hello.rows:
            raise ProtocolError("encodings: more rows than announced", peer=party)
        encoded[filled : filled + count] = np.frombuffer(chunk.encodings, np.uint8).reshape(
            count, hello.row_bytes
        )
        if labelled:
            tags = np.frombuffer(chunk.labels, dtype=_LABEL)
            if len(tags) != count or (tags >= hello.labels).any():
                raise ProtocolError("encodings: a label for every row, below the count", peer=party)
            labels[filled : filled + count] = tags
        filled += count
    if filled != hello.rows:
        raise ProtocolError(f"encodings: {filled} rows, {hello.rows} announced", peer=party)
    return encoded, labels, hello


def _answer_review(
    channel: Channel, register_party: str, found: Linkage, rows: int, expected: int
) -> None:
    """Whether each queried register position was linked, after checking the query."""
    positions = np.frombuffer(channel.recv(register_party, ReviewQuery).positions, _POSITION)
    if len(positions) != expected or len(np.unique(positions)) != expected:
        raise ProtocolError(
            f"review query: {len(positions)} positions ({expected} announced, each once)",
            peer=register_party,
            step="review",
        )
    if expected and int(positions.max()) >= rows:
        raise ProtocolError("review query: a position beyond the records", peer=register_party)
    linked = np.zeros(rows, dtype=np.uint8)
    linked[found.rows] = 1
    channel.send(register_party, ReviewAnswer(linked[positions.astype(np.intp)].tobytes()))


def linker(
    channel: Channel,
    register_party: str,
    source_party: str,
    *,
    threshold: float | None = None,
    blocking: BlockingSpec = BlockingSpec(),
    progress: Progress | None = None,
    max_review: int = 0,
    declared_rows: Mapping[str, int] | None = None,
) -> Linkage:
    """The linker's side: receive both files' encodings, link, send the register the
    counts per opaque label and answer its review query (at most ``max_review``
    positions). ``declared_rows`` (party → rows its dataset declares) bounds what each
    may announce before anything is allocated. Returns its own view (for tests)."""
    bound = declared_rows or {}
    left, labels, hello = _receive(
        channel, register_party, True, max_review, bound.get(register_party)
    )
    n_labels = hello.labels
    right, _, _ = _receive(channel, source_party, False, 0, bound.get(source_party))
    if left.shape[1] != right.shape[1]:
        raise ProtocolError(
            "the register's and the source's encodings differ in length: they did not "
            "agree on the encoding",
            peer=source_party,
        )
    if progress:
        progress("link", 0, 1)
    found = link(left, right, threshold=threshold, blocking=blocking)
    if progress:
        progress("link", 1, 1)
    channel.send(
        register_party,
        LinkCounts(
            counts_by_label(found.rows, labels, n_labels),
            len(left),
            len(right),
            len(found.candidate_scores),
            found.threshold,
            found.threshold_source,
            score_histogram(found.best_scores),
            score_histogram(found.scores),
            found.skipped_buckets,
        ),
    )
    if hello.review:
        _answer_review(channel, register_party, found, len(left), hello.review)
    return found
