"""Tests of the audit log's hash chain: a faithful chain verifies, every kind of change breaks
it at the first entry concerned, with a reason that says what is wrong."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from privstats.crypto.keys import NodeKeys
from privstats.service.audit import GENESIS, AuditEntry, entry_hash, verify_chain
from privstats.service.canonical import canonical_json, sha256_hex
from privstats.service.manifest import approval_payload
from privstats.service.signing import statement_bytes

NSO, TELCO = NodeKeys.generate(), NodeKeys.generate()
KEYS = {"nso": NSO, "telco": TELCO}


def chain(records: list[dict[str, Any]]) -> list[AuditEntry]:
    """Number, time-stamp and hash-chain ``records`` as the hub would."""
    entries: list[AuditEntry] = []
    prev = GENESIS
    for seq, record in enumerate(records, start=1):
        fields = {
            "seq": seq,
            "at": f"2025-01-01T00:00:{seq:02d}.000000Z",
            "job_id": None,
            "signer": None,
            "signature": None,
            **record,
            "prev_hash": prev,
        }
        entry = AuditEntry(**fields, hash=entry_hash(**fields))
        entries.append(entry)
        prev = entry.hash
    return entries


def rechain(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Recompute every hash, as someone rewriting the whole log would."""
    records = [
        {k: v for k, v in e.as_dict().items() if k not in ("seq", "prev_hash", "hash")}
        for e in entries
    ]
    return chain(records)


def signed(
    action: str, kind: str, payload: dict[str, Any], party: str, keys: NodeKeys | None = None
) -> dict[str, Any]:
    signature = (keys or KEYS[party]).sign(statement_bytes(kind, payload)).hex()
    return {
        "actor": f"node:{party}",
        "action": action,
        "payload": payload,
        "signer": party,
        "signature": signature,
    }


def enrolment(party: str, keys: NodeKeys | None = None) -> dict[str, Any]:
    keys = keys or KEYS[party]
    payload = {"name": party, **keys.public.as_hex()}
    return signed("party.enrolled", "enrol", payload, party, keys)


MANIFEST: dict[str, Any] = {
    "kind": "coverage",
    "parameters": {"key": "person_id"},
    "parties": {"register": "nso", "source": "telco"},
    "datasets": {},
    "recipients": ["a"],
    "disclosure": {},
    "code_version": "0",
}
MANIFEST_HASH = sha256_hex(canonical_json(MANIFEST))


def submission(job: str = "job1", manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = manifest or MANIFEST
    payload = {
        "job": job,
        "manifest": manifest,
        "manifest_hash": sha256_hex(canonical_json(manifest)),
    }
    return {"actor": "person:a", "action": "job.submitted", "job_id": job, "payload": payload}


def approval(
    party: str, job: str = "job1", keys: NodeKeys | None = None, digest: str = MANIFEST_HASH
) -> dict[str, Any]:
    payload = approval_payload(job, digest, "approve", "ok")
    return {**signed("node.approved", "approval", payload, party, keys), "job_id": job}


def log() -> list[AuditEntry]:
    """A short history: admin, two enrolments, a dataset, a job, two approvals."""
    dataset = {
        "party": "nso",
        "name": "population",
        "format": "csv",
        "rows": 10,
        "columns": [["person_id", "string"]],
        "key_columns": ["person_id"],
    }
    return chain(
        [
            {"actor": "hub", "action": "token.created", "payload": {"name": "admin"}},
            {"actor": "person:admin", "action": "party.added", "payload": {"name": "nso"}},
            {"actor": "person:admin", "action": "party.added", "payload": {"name": "telco"}},
            enrolment("nso"),
            enrolment("telco"),
            signed("dataset.registered", "dataset", dataset, "nso"),
            submission(),
            approval("nso"),
            approval("telco"),
            {"actor": "hub", "action": "job.approved", "job_id": "job1", "payload": {}},
        ]
    )


ENROLLED = {"nso": NSO.public.sign, "telco": TELCO.public.sign}


def broken(entries: list[AuditEntry], seq: int, reason: str, **kwargs: Any) -> None:
    result = verify_chain(entries, **kwargs)
    assert not result.ok
    position = next(i for i, e in enumerate(entries, start=1) if e.seq == seq)
    assert (result.broken_seq, result.entries) == (seq, position - 1), result
    assert result.reason is not None
    assert reason in result.reason, result.reason
    assert result.as_dict()["verified"] is False


# --------------------------------------------------------------------------- faithful


def test_a_faithful_chain_verifies_with_every_signature() -> None:
    result = verify_chain(log(), ENROLLED)
    assert result.ok, result
    assert (result.entries, result.signatures) == (10, 5)
    assert result.as_dict() == {
        "verified": True,
        "entries": 10,
        "signatures": 5,
        "broken_seq": None,
        "reason": None,
        "view": "full",
    }


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([]).ok


def test_entries_survive_the_round_trip_through_dicts() -> None:
    entries = [AuditEntry.from_dict(e.as_dict()) for e in log()]
    assert entries == log()
    assert verify_chain(entries, ENROLLED).ok


# --------------------------------------------------------------------------- changes


@pytest.mark.parametrize("seq", [1, 4, 8, 10])
def test_an_altered_payload_breaks_the_chain_at_that_entry(seq: int) -> None:
    entries = log()
    entries[seq - 1] = dataclasses.replace(
        entries[seq - 1], payload={**entries[seq - 1].payload, "forged": True}
    )
    broken(entries, seq, "was altered", enrolled=ENROLLED)


def test_an_altered_actor_breaks_the_chain_at_that_entry() -> None:
    entries = log()
    entries[6] = dataclasses.replace(entries[6], actor="person:someone-else")
    broken(entries, 7, "was altered")


def test_a_removed_entry_breaks_the_chain_at_the_entry_after_it() -> None:
    entries = log()
    del entries[4]
    broken(entries, 6, "entry 6 is where entry 5 should be")


def test_a_removed_last_entry_cannot_be_seen_but_shortens_the_count() -> None:
    # a chain carries no count of its own: truncation shows only against a known length
    assert verify_chain(log()[:-1]).entries == 9


def test_a_removed_entry_with_renumbered_successors_breaks_at_the_gap() -> None:
    entries = log()
    del entries[4]
    renumbered = [
        dataclasses.replace(e, seq=i) for i, e in enumerate(entries, start=1)
    ]  # seq fixed up, hashes not
    broken(renumbered, 5, "previous-hash does not match")


def test_reordered_entries_break_the_chain_at_the_first_out_of_place() -> None:
    entries = log()
    entries[2], entries[3] = entries[3], entries[2]
    broken(entries, 4, "entry 4 is where entry 3 should be")


def test_an_inserted_entry_breaks_the_chain() -> None:
    entries = log()
    extra = chain([{"actor": "hub", "action": "note", "payload": {}}])[0]
    entries.insert(3, dataclasses.replace(extra, seq=4))
    broken(entries, 4, "previous-hash does not match")


# --------------------------------------------------------------------------- signatures


def test_a_signature_by_another_key_breaks_the_chain_even_when_rehashed() -> None:
    entries = log()
    forged = approval("telco", keys=NodeKeys.generate())
    entries[8] = dataclasses.replace(entries[8], signature=forged["signature"])
    broken(rechain(entries), 9, "the signature of 'telco' does not verify", enrolled=ENROLLED)


def test_a_signature_that_is_not_hex_breaks_the_chain() -> None:
    entries = log()
    entries[7] = dataclasses.replace(entries[7], signature="zz")
    broken(rechain(entries), 8, "not hexadecimal")


def test_a_signed_action_without_a_signature_breaks_the_chain() -> None:
    entries = log()
    entries[5] = dataclasses.replace(entries[5], signature=None)
    broken(rechain(entries), 6, "must carry its node's signature")


def test_a_signature_by_a_party_never_enrolled_breaks_the_chain() -> None:
    ghost = NodeKeys.generate()
    entries = chain([enrolment("nso"), approval("ghost", keys=ghost)])
    broken(entries, 2, "party 'ghost' signed before it was enrolled")


def test_a_signature_before_the_enrolment_breaks_the_chain() -> None:
    entries = chain([approval("nso"), enrolment("nso")])
    broken(entries, 1, "signed before it was enrolled")


def test_an_enrolment_for_another_name_than_its_signer_breaks_the_chain() -> None:
    record = enrolment("nso")
    entries = chain([{**record, "signer": "telco"}])
    broken(entries, 1, "names another party than its signer")


def test_an_enrolled_key_differing_from_the_hubs_list_breaks_at_the_enrolment() -> None:
    hub_list = {**ENROLLED, "telco": NodeKeys.generate().public.sign}
    broken(log(), 5, "party 'telco' is enrolled at the hub with another key", enrolled=hub_list)


def test_a_party_missing_from_the_hubs_list_breaks_at_its_enrolment() -> None:
    broken(log(), 4, "party 'nso' is enrolled at the hub with another key", enrolled={})


def test_a_rewritten_history_with_a_swapped_key_is_caught_by_the_hubs_list() -> None:
    # whoever rewrites the log can re-enrol a party under a key of their own and re-sign
    # everything: the chain is then self-consistent, but not with the hub's list of keys
    mallory = NodeKeys.generate()
    entries = chain([enrolment("nso", keys=mallory), submission(), approval("nso", keys=mallory)])
    assert verify_chain(entries).ok
    broken(entries, 1, "with another key", enrolled=ENROLLED)


# --------------------------------------------------------------------------- manifests


def test_a_rewritten_manifest_with_its_hash_recomputed_breaks_at_the_first_signed_decision() -> (
    None
):
    entries = log()
    rewritten = {**MANIFEST, "recipients": ["mallory"]}
    entries[6] = dataclasses.replace(entries[6], **submission(manifest=rewritten))
    entries = rechain(entries)

    broken(entries, 8, "the job's manifest was rewritten", enrolled=ENROLLED)


def test_a_rewritten_manifest_under_its_old_hash_breaks_at_the_submission() -> None:
    entries = log()
    payload = {**entries[6].payload, "manifest": {**MANIFEST, "recipients": ["mallory"]}}
    entries[6] = dataclasses.replace(entries[6], payload=payload)
    entries = rechain(entries)

    broken(entries, 7, "does not hash to its manifest_hash", enrolled=ENROLLED)


def test_a_decision_on_a_job_never_submitted_breaks_a_full_view_only() -> None:
    entries = [e for e in log() if e.action != "job.submitted"]
    rechained = rechain(entries)

    broken(rechained, 7, "never submitted", enrolled=ENROLLED)
    # in a partial view (the submission hidden) the rest still verifies
    assert verify_chain(entries, ENROLLED, partial=True).ok


def test_a_partial_view_checks_each_entry_and_the_links_between_neighbours() -> None:
    entries = log()
    view = entries[:1] + entries[3:]  # entries 2 and 3 hidden from this caller

    result = verify_chain(view, ENROLLED, partial=True)
    altered = dataclasses.replace(view[5], payload={"forged": True})
    relinked = dataclasses.replace(view[5], prev_hash="00" * 32)

    assert (result.ok, result.partial, result.entries) == (True, True, 8)
    assert result.as_dict()["view"] == "partial"
    assert not verify_chain(view, ENROLLED).ok  # a full view must have every entry
    broken([*view[:5], altered, *view[6:]], 8, "was altered", enrolled=ENROLLED, partial=True)
    broken([*view[:5], relinked, *view[6:]], 8, "previous-hash", enrolled=ENROLLED, partial=True)
