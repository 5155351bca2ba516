"""The node's signing key and its signed checkpoints.

The Ed25519 signing key is a file outside the database (`<data dir>/keys/log.skey`, mode
0600 in a 0700 folder), created by `garant init`, never committed (`var/` is ignored). Every
public key the node has ever used is kept in `keys/trusted.vkeys` and recorded as a
`log_key` record in the log itself, so rotation (`garant log rotate-key`) leaves every old
checkpoint verifiable and is itself on the record. A rotated-out private key is deleted.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from garant.config import Settings
from garant.store import log as log_store
from garant.store.db import Database
from garant.transparency import merkle
from garant.transparency.leaves import key_leaf, key_record_id
from garant.transparency.note import Checkpoint, NoteError, Signer, Verifier

SIGNER_FILE = "log.skey"
TRUSTED_FILE = "trusted.vkeys"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def load_signer(settings: Settings) -> Signer | None:
    path = settings.key_dir / SIGNER_FILE
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise NoteError(f"{path} is readable by others (mode {mode:o}); it must be 0600")
    return Signer.parse(path.read_text())


def trusted_verifiers(settings: Settings) -> list[Verifier]:
    path = settings.key_dir / TRUSTED_FILE
    if not path.exists():
        return []
    return [Verifier.parse(line) for line in path.read_text().splitlines() if line.strip()]


def _trust(settings: Settings, verifier: Verifier) -> None:
    known = {v.encode() for v in trusted_verifiers(settings)}
    if verifier.encode() not in known:
        path = settings.key_dir / TRUSTED_FILE
        with path.open("a") as f:
            f.write(verifier.encode() + "\n")


def _record_key(db: Database, verifier: Verifier) -> None:
    now = datetime.now(UTC)
    with db.write() as conn:
        log = log_store.Appender.open(conn)
        vkey = verifier.encode()
        if log_store.add_key(conn, vkey, verifier.name, verifier.key_id.hex(), now):
            rid = key_record_id(verifier.name, verifier.key_id.hex())
            log.append([("log_key", rid, key_leaf(vkey, now))])


def ensure_signer(settings: Settings, db: Database) -> Signer:
    """The node's signing key, created on first use; its public key trusted and on the record."""
    signer = load_signer(settings)
    if signer is None:
        signer = Signer.generate(settings.log_origin)
        _write_private(settings.key_dir / SIGNER_FILE, signer.encode())
    _trust(settings, signer.verifier())
    _record_key(db, signer.verifier())
    return signer


def rotate_signer(settings: Settings, db: Database) -> tuple[Verifier | None, Signer]:
    """Replace the signing key; the old public key stays trusted, the old private key is deleted."""
    old = load_signer(settings)
    if old is not None:
        _trust(settings, old.verifier())
    signer = Signer.generate(settings.log_origin)
    _write_private(settings.key_dir / SIGNER_FILE, signer.encode())
    _trust(settings, signer.verifier())
    _record_key(db, signer.verifier())
    return (old.verifier() if old else None), signer


def sign_checkpoint(db: Database, signer: Signer, origin: str) -> log_store.StoredCheckpoint:
    """Sign the current tree head, unless this key already signed this size."""
    key_id = signer.verifier().key_id.hex()
    with db.read() as conn:  # the common case (nothing new) takes no write lock
        size = log_store.tree_size(conn)
        latest = log_store.latest_checkpoint(conn)
    if latest is not None and latest.covers(size, key_id):
        return latest
    with db.write() as conn:
        size = log_store.lock_head(conn)
        latest = log_store.latest_checkpoint(conn)
        if latest is not None and latest.covers(size, key_id):
            return latest
        root = merkle.root_hash(size, lambda nodes: log_store.read_nodes(conn, nodes))
        note = signer.sign(Checkpoint(origin, size, root).text())
        cp = log_store.StoredCheckpoint(0, size, root, signer.name, key_id, note, datetime.now(UTC))
        log_store.add_checkpoint(conn, cp)
        return cp


@dataclass
class Checkpointer:
    """Signs after writes, at most once per interval (0: after every write)."""

    db: Database
    signer: Signer
    origin: str
    interval_s: float
    # never signed: the first write signs (a monotonic clock starts near boot, so 0.0 made the
    # first hour after a machine started sign nothing until the interval had passed)
    _last: float = -math.inf

    def after_write(self) -> None:
        if self.interval_s <= 0 or time.monotonic() - self._last >= self.interval_s:
            self.sign_now()

    def sign_now(self) -> log_store.StoredCheckpoint:
        cp = sign_checkpoint(self.db, self.signer, self.origin)
        self._last = time.monotonic()
        return cp

    @classmethod
    def for_settings(cls, settings: Settings, db: Database) -> Checkpointer:
        return cls(db, ensure_signer(settings, db), settings.log_origin, settings.checkpoint_interval_s)
