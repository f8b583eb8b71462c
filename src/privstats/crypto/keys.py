"""A node's long-term keys: Ed25519 to sign, X25519 to receive sealed messages.

Thin wrappers of libsodium through PyNaCl: ``crypto_sign`` for signatures and
``crypto_box_seal`` (anonymous sealed boxes) for envelopes. Secret keys live in files
readable by their owner only and never appear in a ``repr``; public keys travel as raw
32-byte strings (hex in JSON and TOML).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.public
import nacl.signing

from privstats.errors import CryptoError, DatasetError

__all__ = ["KEY_BYTES", "SIGNATURE_BYTES", "NodeKeys", "PublicKeys", "seal", "verify"]

KEY_BYTES = 32
SIGNATURE_BYTES = 64
_SIGNING_FILE = "signing.key"
_BOX_FILE = "box.key"


@dataclass(frozen=True)
class PublicKeys:
    """What a hub and the other nodes know of a node: its two public keys."""

    sign: bytes
    box: bytes

    def __post_init__(self) -> None:
        if len(self.sign) != KEY_BYTES or len(self.box) != KEY_BYTES:
            raise CryptoError(f"public keys must be {KEY_BYTES} bytes each")

    def as_hex(self) -> dict[str, str]:
        return {"sign_key": self.sign.hex(), "box_key": self.box.hex()}

    @classmethod
    def from_hex(cls, sign_key: str, box_key: str) -> PublicKeys:
        try:
            return cls(bytes.fromhex(sign_key), bytes.fromhex(box_key))
        except ValueError as exc:
            raise CryptoError(f"public keys are not hexadecimal: {exc}") from exc


class NodeKeys:
    """A node's secret signing and box keys."""

    def __init__(self, signing: nacl.signing.SigningKey, box: nacl.public.PrivateKey) -> None:
        self._signing = signing
        self._box = box

    @classmethod
    def generate(cls) -> NodeKeys:
        """Fresh keys from libsodium's random generator."""
        return cls(nacl.signing.SigningKey.generate(), nacl.public.PrivateKey.generate())

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(bytes(self._signing.verify_key), bytes(self._box.public_key))

    def sign(self, data: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature of ``data``."""
        return self._signing.sign(data).signature

    def open(self, sealed: bytes) -> bytes:
        """Open an envelope sealed to this node's box key."""
        try:
            return nacl.public.SealedBox(self._box).decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise CryptoError("a sealed envelope does not open with this node's key") from exc

    def save(self, folder: str | Path) -> None:
        """Write both secret keys to ``folder`` (created, owner-only), refusing to overwrite."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, key in ((_SIGNING_FILE, bytes(self._signing)), (_BOX_FILE, bytes(self._box))):
            path = folder / name
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError as exc:
                raise DatasetError(
                    f"{path}: a key already exists; refusing to overwrite it", path=str(path)
                ) from exc
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(key.hex() + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> NodeKeys:
        """Read the keys written by :meth:`save`."""
        folder = Path(folder)
        raw: list[bytes] = []
        for name in (_SIGNING_FILE, _BOX_FILE):
            path = folder / name
            try:
                raw.append(bytes.fromhex(path.read_text(encoding="ascii").strip()))
            except FileNotFoundError as exc:
                raise DatasetError(
                    f"{path}: key file not found; create keys with 'privstats node init'",
                    path=str(path),
                ) from exc
            except ValueError as exc:
                raise DatasetError(f"{path}: not a key file", path=str(path)) from exc
            if len(raw[-1]) != KEY_BYTES:
                raise DatasetError(f"{path}: a key must be {KEY_BYTES} bytes", path=str(path))
        return cls(nacl.signing.SigningKey(raw[0]), nacl.public.PrivateKey(raw[1]))

    def __repr__(self) -> str:
        return f"NodeKeys(sign_key={self.public.sign.hex()[:16]}…, secret keys hidden)"


def verify(sign_key: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``sign_key``'s Ed25519 signature of ``data``."""
    if len(sign_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.signing.VerifyKey(sign_key).verify(data, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def seal(box_key: bytes, plaintext: bytes) -> bytes:
    """Seal ``plaintext`` so that only the holder of ``box_key``'s secret can open it."""
    if len(box_key) != KEY_BYTES:
        raise CryptoError(f"a box key must be {KEY_BYTES} bytes, got {len(box_key)}")
    return nacl.public.SealedBox(nacl.public.PublicKey(box_key)).encrypt(plaintext)
