"""C2SP signed notes and checkpoints: the Go reference note, and every way a note can be wrong."""

from __future__ import annotations

import base64

import pytest

from garant.transparency.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint, open_note

# golang.org/x/mod/sumdb/note: the package documentation's example
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = GO_TEXT + "\n— PeterNeumann " + GO_SIGNATURE + "\n"
ORIGIN = "garant.test/log"


def test_the_go_reference_note_byte_for_byte() -> None:
    signer = Signer.parse(GO_SKEY)
    assert signer.encode() == GO_SKEY
    assert signer.verifier().encode() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    text, verifier = open_note(GO_NOTE, [Verifier.parse(GO_VKEY)])
    assert text == GO_TEXT and verifier.name == "PeterNeumann"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture(scope="module")
def note(signer: Signer) -> str:
    return signer.sign(Checkpoint(ORIGIN, 1234, bytes(range(32))).text())


def test_checkpoint_round_trip(signer: Signer, note: str) -> None:
    assert note.startswith(f"{ORIGIN}\n1234\n{base64.b64encode(bytes(range(32))).decode()}\n\n— {ORIGIN} ")
    cp, v = open_checkpoint(note, [signer.verifier()], ORIGIN)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 1234, bytes(range(32)))
    assert v.key_id == signer.verifier().key_id


def _resign_body(note: str, old: str, new: str) -> str:
    """The note with its text changed but the original signature kept."""
    text, sig = note.split("\n\n", 1)
    return text.replace(old, new, 1) + "\n\n" + sig


def test_every_kind_of_bad_note_is_rejected(signer: Signer, note: str) -> None:
    good = [signer.verifier()]
    other = Signer.generate(ORIGIN)  # same name, another key: a different key id
    impostor = Signer.generate("someone.else/log")
    cases = {
        "wrong key (same name)": (note, [other.verifier()]),
        "unknown key": (note, [impostor.verifier()]),
        "altered origin": (_resign_body(note, ORIGIN, "garant.evil/log"), good),
        "altered size": (_resign_body(note, "\n1234\n", "\n1235\n"), good),
        "altered root": (_resign_body(note, base64.b64encode(bytes(range(32))).decode()[:4], "AAAA"), good),
        "truncated signature": (note[:-10] + "\n", good),
        "truncated note (no signature)": (note.split("\n\n")[0] + "\n", good),
        "signature by another key under our name": (
            other.sign(Checkpoint(ORIGIN, 1, bytes(32)).text()),
            good,
        ),
        "no final newline": (note[:-1], good),
        "garbage signature line": (note.replace("— ", "-- "), good),
    }
    rejected = []
    for name, (candidate, verifiers) in cases.items():
        with pytest.raises(NoteError):
            open_checkpoint(candidate, verifiers, ORIGIN)
        rejected.append(name)
    assert len(rejected) == len(cases)


def test_a_checkpoint_from_another_origin_is_rejected(signer: Signer) -> None:
    foreign = signer.sign(Checkpoint("garant.other/log", 1, bytes(32)).text())
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(foreign, [signer.verifier()], ORIGIN)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "origin\n",
        "origin\n12\n",
        "origin\n012\nAAAA\n",
        "origin\n-1\n" + "A" * 44 + "\n",
        "\n1\n" + "A" * 44 + "\n",
    ],
)
def test_malformed_checkpoint_bodies(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # id does not match
        GO_VKEY.replace("+AR", "+AC"),  # not type 0x01
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        GO_VKEY[:-4],
    ],
)
def test_malformed_verifier_keys(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


def test_a_signer_key_with_a_wrong_id_is_refused() -> None:
    with pytest.raises(NoteError):
        Signer.parse(GO_SKEY.replace("c74f20a3", "00000000"))
