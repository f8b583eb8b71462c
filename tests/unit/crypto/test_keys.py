"""Tests of a node's long-term keys: signatures, sealed envelopes, key files, secrecy."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from privstats.crypto.keys import KEY_BYTES, NodeKeys, PublicKeys, seal, verify
from privstats.errors import CryptoError, DatasetError

# --------------------------------------------------------------------------- signatures


def test_a_signature_verifies_with_the_signers_public_key() -> None:
    keys = NodeKeys.generate()
    signature = keys.sign(b"job 42 approved")
    assert len(signature) == 64
    assert verify(keys.public.sign, b"job 42 approved", signature)


def test_a_signature_does_not_verify_altered_data() -> None:
    keys = NodeKeys.generate()
    signature = keys.sign(b"job 42 approved")
    assert not verify(keys.public.sign, b"job 43 approved", signature)
    assert not verify(keys.public.sign, b"", signature)


def test_a_signature_does_not_verify_under_another_key() -> None:
    keys, other = NodeKeys.generate(), NodeKeys.generate()
    assert not verify(other.public.sign, b"data", keys.sign(b"data"))


def test_a_flipped_signature_bit_does_not_verify() -> None:
    keys = NodeKeys.generate()
    signature = bytearray(keys.sign(b"data"))
    signature[0] ^= 1
    assert not verify(keys.public.sign, b"data", bytes(signature))


@pytest.mark.parametrize(("key_len", "sig_len"), [(31, 64), (33, 64), (32, 63), (32, 0)])
def test_verify_returns_false_for_keys_or_signatures_of_the_wrong_length(
    key_len: int, sig_len: int
) -> None:
    assert not verify(b"\x01" * key_len, b"data", b"\x02" * sig_len)


# --------------------------------------------------------------------------- sealed boxes


def test_a_sealed_envelope_opens_with_the_recipients_key() -> None:
    keys = NodeKeys.generate()
    sealed = seal(keys.public.box, b"a secret share")
    assert b"a secret share" not in sealed
    assert keys.open(sealed) == b"a secret share"


def test_sealing_twice_gives_different_envelopes() -> None:
    keys = NodeKeys.generate()
    assert seal(keys.public.box, b"x") != seal(keys.public.box, b"x")


def test_an_envelope_does_not_open_with_another_key() -> None:
    keys, other = NodeKeys.generate(), NodeKeys.generate()
    sealed = seal(keys.public.box, b"a secret share")
    with pytest.raises(CryptoError, match="does not open with this node's key"):
        other.open(sealed)


def test_a_tampered_envelope_does_not_open() -> None:
    keys = NodeKeys.generate()
    sealed = bytearray(seal(keys.public.box, b"a secret share"))
    sealed[-1] ^= 1
    with pytest.raises(CryptoError):
        keys.open(bytes(sealed))


def test_sealing_to_a_box_key_of_the_wrong_length_names_the_length() -> None:
    with pytest.raises(CryptoError, match="got 31"):
        seal(b"\x00" * 31, b"data")


# --------------------------------------------------------------------------- public keys


def test_public_keys_round_trip_through_hex() -> None:
    public = NodeKeys.generate().public
    assert PublicKeys.from_hex(**public.as_hex()) == public


def test_public_keys_must_be_32_bytes_each() -> None:
    with pytest.raises(CryptoError, match=f"{KEY_BYTES} bytes"):
        PublicKeys(b"\x00" * 32, b"\x00" * 31)


def test_public_keys_that_are_not_hex_are_refused() -> None:
    with pytest.raises(CryptoError, match="not hexadecimal"):
        PublicKeys.from_hex("zz" * 32, "00" * 32)


# --------------------------------------------------------------------------- key files


def test_saved_keys_load_as_the_same_keys(tmp_path: Path) -> None:
    keys = NodeKeys.generate()
    keys.save(tmp_path / "keys")

    loaded = NodeKeys.load(tmp_path / "keys")

    assert loaded.public == keys.public
    assert verify(keys.public.sign, b"m", loaded.sign(b"m"))
    assert loaded.open(seal(keys.public.box, b"m")) == b"m"


def test_key_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    NodeKeys.generate().save(tmp_path / "keys")
    files = sorted((tmp_path / "keys").iterdir())
    assert [f.name for f in files] == ["box.key", "signing.key"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) & 0o077 == 0


def test_saving_refuses_to_overwrite_existing_keys(tmp_path: Path) -> None:
    first = NodeKeys.generate()
    first.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    with pytest.raises(DatasetError, match="refusing to overwrite") as caught:
        NodeKeys.generate().save(tmp_path)

    assert caught.value.path == str(tmp_path / "signing.key")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert NodeKeys.load(tmp_path).public == first.public


def test_loading_from_a_folder_without_keys_says_how_to_create_them(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="privstats node init"):
        NodeKeys.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"), [("not hex\n", "not a key file"), ("00" * 31, "32 bytes")]
)
def test_loading_a_damaged_key_file_names_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    NodeKeys.generate().save(tmp_path)
    (tmp_path / "box.key").write_text(content, encoding="ascii")
    with pytest.raises(DatasetError, match=message) as caught:
        NodeKeys.load(tmp_path)
    assert caught.value.path == str(tmp_path / "box.key")


def test_repr_shows_no_secret_key(tmp_path: Path) -> None:
    keys = NodeKeys.generate()
    keys.save(tmp_path)
    secrets = [(tmp_path / name).read_text().strip() for name in ("signing.key", "box.key")]

    shown = repr(keys) + str(keys) + f"{keys!r}"

    assert "hidden" in shown
    for secret in secrets:
        assert len(secret) == 2 * KEY_BYTES
        assert secret not in shown
        assert secret[:16] not in shown
