"""C2SP signed notes with Ed25519 keys, and C2SP tlog checkpoints carried in them.

Formats (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint):
- a note is UTF-8 text ending in a newline, a blank line, then signature lines
  `— <key name> <base64(key id ‖ signature)>`; the signature covers the text;
- key id = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] for Ed25519 (type 0x01);
- verifier key `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, signer key
  `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>` (the Go sumdb/note encodings);
- a checkpoint's text is `<origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines]`.

Written by hand (about a hundred lines over `cryptography`) because no maintained Python
package implements signed notes; checked against the Go reference note of sumdb/note.
No dependency on the store: the offline bundle verifier uses it alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ED25519 = 0x01
_DASH = "— "  # U+2014 EM DASH and a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or whose signature does not verify."""


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]) or len(parts[1]) != 8:
            raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
        name, hex_id, b64 = parts
        raw = _b64decode(b64, "the verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
        try:
            kid = bytes.fromhex(hex_id)
        except ValueError:
            raise NoteError("the verifier key's id is not hexadecimal") from None
        if kid != key_id(name, raw[1:]):
            raise NoteError("the verifier key's id does not match its name and key")
        return cls(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))

    @property
    def raw_public_key(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def encode(self) -> str:
        blob = base64.b64encode(bytes([ED25519]) + self.raw_public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _valid_name(name):
            raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _valid_name(parts[2]):
            raise NoteError("a signer key reads PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
        raw = _b64decode(parts[4], "the signer key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the signer key is not an Ed25519 key (type 0x01, 32-byte seed)")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier().key_id.hex() != parts[3].lower():
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    def verifier(self) -> Verifier:
        pub = self.private_key.public_key()
        raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, key_id(self.name, raw), pub)

    def encode(self) -> str:
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        blob = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id.hex()}+{blob}"

    def sign(self, text: str) -> str:
        """The signed note of `text` (which must end in a newline and hold no blank line)."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("a note's text ends with a newline and has no blank line")
        sig = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier().key_id + sig).decode()
        return f"{text}\n{_DASH}{self.name} {blob}\n"


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[SignatureLine]]:
    """The text and the signature lines of a note, checking the syntax only."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("malformed note: no blank line before the signatures, or no final newline")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed note: too many signatures")
    sigs = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError(f"malformed signature line {line!r}")
        name, _, b64 = line[len(_DASH) :].rpartition(" ")
        if not _valid_name(name):
            raise NoteError(f"malformed signature line {line!r}")
        blob = _b64decode(b64, "a signature")
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        sigs.append(SignatureLine(name, blob[:4], blob[4:]))
    return text, sigs


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, Verifier]:
    """The text of a note signed by one of `verifiers`, and which; NoteError otherwise.

    A signature by a known key that does not verify rejects the note, as the spec requires.
    """
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    for sig in sigs:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        try:
            v.public_key.verify(sig.signature, text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of key {sig.name}+{sig.key_id.hex()} does not verify") from None
        return text, v
    names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in sigs)
    raise NoteError(f"the note is not signed by a trusted key (it is signed by {names})")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has an origin, a size and a root hash, one per line")
        origin, size_text, root_b64, *extensions = lines[:-1]
        if not origin:
            raise NoteError("the checkpoint's origin is empty")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError(f"the checkpoint's size {size_text!r} is not a decimal number")
        root = _b64decode(root_b64, "the checkpoint's root hash")
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(
    note: str, verifiers: list[Verifier], origin: str | None = None
) -> tuple[Checkpoint, Verifier]:
    """A checkpoint whose signature verifies (and whose origin is `origin`, if given)."""
    text, verifier = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint, verifier
