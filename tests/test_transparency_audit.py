"""`garant log audit` against 1,000 random tamperings made behind Garant's back.

Each trial copies a signed database, then acts as someone with write access to the file:
drops the append-only triggers and edits a field, deletes a row, inserts one, swaps two,
renumbers a leaf, widens a record's REL TO rows, or even rewrites the log's own tables so they
agree with an edited record.
The audit must report every one; a clean copy must audit clean.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from garant.cli import app
from garant.config import Settings
from garant.services.agreements import load_agreement_file
from garant.services.audit import audit
from garant.services.checkpoints import Checkpointer, trusted_verifiers
from garant.services.demo import demo_files, demo_observations
from garant.services.intake import ingest
from garant.store.db import Database, migrate, open_database
from garant.transparency import merkle

from .factories import make

TRIALS = 1000
Tamper = Callable[[sqlite3.Connection, random.Random], str]


@pytest.fixture(scope="module")
def signed_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """The demo agreement, a sample of each kind of the demo's observations (a thousand audits of
    the whole demo would take minutes), corrections and attachments, under two signed checkpoints."""
    folder = tmp_path_factory.mktemp("signed")
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder / 'garant.db'}")
    db = open_database(settings.database_url)
    migrate(db)
    load_agreement_file(db, demo_files()[0])
    per_kind: dict[str, list[dict[str, object]]] = {}
    for line in demo_observations().read_text(encoding="utf-8").splitlines():
        doc = orjson.loads(line)
        per_kind.setdefault(doc["kind"], []).append(doc)
    sample = [doc for docs in per_kind.values() for doc in docs[:6]]
    assert len(per_kind) >= 8 and ingest(db, sample).created == len(sample)
    cp = Checkpointer.for_settings(settings, db)
    cp.sign_now()
    extra = [
        make("osint", i, attachments=[{"sha256": f"{i:064x}", "media_type": "image/jpeg"}]) for i in range(6)
    ]
    outcome = ingest(db, extra)
    fix = make("osint", 100, supersedes=outcome.results[0].id)
    assert ingest(db, [fix]).created == 1
    cp.sign_now()
    db.dispose()
    return folder / "garant.db", settings


def _unprotect(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA foreign_keys=OFF")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def _pick(conn: sqlite3.Connection, rng: random.Random, sql: str) -> tuple[object, ...]:
    rows = conn.execute(sql).fetchall()
    return rows[rng.randrange(len(rows))]  # type: ignore[no-any-return]


def _edit_payload_field(conn: sqlite3.Connection, rng: random.Random) -> str:
    seq, payload = _pick(conn, rng, "SELECT seq, payload FROM observations")
    doc = orjson.loads(payload)  # type: ignore[arg-type]
    key = rng.choice(sorted(k for k in doc if k not in ("kind",)))
    value = doc[key]
    if isinstance(value, bool):
        doc[key] = not value
    elif isinstance(value, int | float):
        doc[key] = value + rng.choice([1, -1, 0.5e-5])
    elif isinstance(value, str):
        doc[key] = value + rng.choice(["x", " ", "0"])
    else:
        doc[key] = None if value else ["changed"]
    conn.execute("UPDATE observations SET payload = ? WHERE seq = ?", (orjson.dumps(doc).decode(), seq))
    return f"edited payload field {key}"


def _edit_column(conn: sqlite3.Connection, rng: random.Random) -> str:
    column = rng.choice(
        ["lon", "lat", "observed_at", "kind", "nation", "source_id", "credibility", "releasability",
         "received_at", "agreement_key", "content_sha256", "reliability", "location_uncertainty_m"]
    )  # fmt: skip
    seq, value = _pick(conn, rng, f"SELECT seq, {column} FROM observations")
    new: object
    if isinstance(value, float | int):
        new = value + rng.choice([1, 0.001, -2])
    elif column.endswith("_at"):
        new = "2025-01-01 00:00:00.000000"
    elif value is None:
        new = "paris-2026-demo@2"
    else:
        new = str(value)[:-1] + ("Z" if not str(value).endswith("Z") else "Y")
    conn.execute(f"UPDATE observations SET {column} = ? WHERE seq = ?", (new, seq))
    return f"edited column {column}"


def _delete_row(conn: sqlite3.Connection, rng: random.Random) -> str:
    table = rng.choice(["observations", "observations", "agreements", "log_keys"])
    (seq,) = _pick(conn, rng, f"SELECT seq FROM {table}")
    conn.execute(f"DELETE FROM {table} WHERE seq = ?", (seq,))
    return f"deleted a row of {table}"


def _insert_row(conn: sqlite3.Connection, rng: random.Random) -> str:
    cols = [r[1] for r in conn.execute("PRAGMA table_info(observations)") if r[1] != "seq"]
    row = list(_pick(conn, rng, f"SELECT {', '.join(cols)} FROM observations"))
    row[cols.index("id")] = f"forged-{rng.random()}"
    row[cols.index("client_id")] = f"forged-{rng.random()}"
    conn.execute(f"INSERT INTO observations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", row)
    return "inserted an observation"


def _swap_rows(conn: sqlite3.Connection, rng: random.Random) -> str:
    rows = conn.execute("SELECT seq, payload, id FROM observations").fetchall()
    (s1, p1, i1), (s2, p2, i2) = rng.sample(rows, 2)
    what = rng.choice(["payload", "seq", "id"])
    if what == "payload":
        conn.execute("UPDATE observations SET payload = ? WHERE seq = ?", (p2, s1))
        conn.execute("UPDATE observations SET payload = ? WHERE seq = ?", (p1, s2))
    elif what == "id":
        conn.execute("UPDATE observations SET id = ? WHERE seq = ?", ("tmp", s1))
        conn.execute("UPDATE observations SET id = ? WHERE seq = ?", (i1, s2))
        conn.execute("UPDATE observations SET id = ? WHERE seq = ?", (i2, s1))
    else:
        conn.execute("UPDATE observations SET seq = -1 WHERE seq = ?", (s1,))
        conn.execute("UPDATE observations SET seq = ? WHERE seq = ?", (s1, s2))
        conn.execute("UPDATE observations SET seq = ? WHERE seq = -1", (s2,))
    return f"swapped the {what} of two observations"


def _renumber_leaf(conn: sqlite3.Connection, rng: random.Random) -> str:
    (size,) = conn.execute("SELECT tree_size FROM log_head").fetchone()
    a, b = rng.sample(range(size), 2)
    how = rng.choice(["move", "swap", "delete"])
    if how == "move":
        conn.execute("UPDATE log_leaves SET idx = ? WHERE idx = ?", (size + rng.randrange(1, 5), a))
    elif how == "swap":
        conn.execute("UPDATE log_leaves SET idx = -1 WHERE idx = ?", (a,))
        conn.execute("UPDATE log_leaves SET idx = ? WHERE idx = ?", (a, b))
        conn.execute("UPDATE log_leaves SET idx = ? WHERE idx = -1", (b,))
    else:
        conn.execute("DELETE FROM log_leaves WHERE idx = ?", (a,))
    return f"{how} of leaf {a}"


def _xor(h: object, mask: bytes) -> bytes:
    assert isinstance(h, bytes)
    return bytes(x ^ y for x, y in zip(h, mask, strict=True))


def _edit_log_table(conn: sqlite3.Connection, rng: random.Random) -> str:
    target = rng.choice(["leaf_hash", "node", "head", "checkpoint_root", "checkpoint_note", "record_id"])
    flip = bytes([rng.randrange(1, 256)]) + bytes(31)
    if target == "leaf_hash":
        (idx, h) = _pick(conn, rng, "SELECT idx, leaf_hash FROM log_leaves")
        conn.execute("UPDATE log_leaves SET leaf_hash = ? WHERE idx = ?", (_xor(h, flip), idx))
    elif target == "node":
        (lvl, idx, h) = _pick(conn, rng, "SELECT level, idx, hash FROM log_nodes")
        conn.execute("UPDATE log_nodes SET hash = ? WHERE level = ? AND idx = ?", (_xor(h, flip), lvl, idx))
    elif target == "head":
        conn.execute("UPDATE log_head SET tree_size = tree_size - ?", (rng.randrange(1, 4),))
    elif target == "checkpoint_root":
        conn.execute(
            "UPDATE log_checkpoints SET root_hash = ? WHERE seq = (SELECT max(seq) FROM log_checkpoints)",
            (flip,),
        )
    elif target == "checkpoint_note":
        # the signed tree size, one more than it was
        (seq, note) = _pick(conn, rng, "SELECT seq, note FROM log_checkpoints")
        lines = str(note).split("\n")
        lines[1] = str(int(lines[1]) + 1)
        conn.execute("UPDATE log_checkpoints SET note = ? WHERE seq = ?", ("\n".join(lines), seq))
    else:
        (idx,) = _pick(conn, rng, "SELECT idx FROM log_leaves")
        conn.execute("UPDATE log_leaves SET record_id = record_id || 'x' WHERE idx = ?", (idx,))
    return f"edited the log's {target}"


def _widen_release(conn: sqlite3.Connection, rng: random.Random) -> str:
    """The access filter's REL TO rows: add a nation to an observation's, or rows for none."""
    (seq,) = _pick(conn, rng, "SELECT seq FROM observations")
    target = seq if rng.random() < 0.5 else 10_000_000
    conn.execute("INSERT INTO observation_rel_to (seq, nation) VALUES (?, ?)", (target, "RU"))
    return "REL TO row added" + ("" if target == seq else " for no observation")


def _rewrite_log_consistently(conn: sqlite3.Connection, rng: random.Random) -> str:
    """Edit a record and rebuild every leaf hash and node so the log tables agree with it:
    only the signed checkpoints can tell."""
    from garant.services.log_records import RECORD_SOURCES
    from garant.store.db import open_database as _open

    _edit_payload_field(conn, rng)
    conn.commit()
    (path,) = [r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"]
    db = _open(f"sqlite:///{path}")
    with db.read() as c:
        data = {(t, r.record_id): r.data for t, source in RECORD_SOURCES.items() for r in source(c)}
    db.dispose()
    leaves = conn.execute("SELECT idx, record_type, record_id FROM log_leaves ORDER BY idx").fetchall()
    tree = merkle.MemoryTree()
    for idx, rt, rid in leaves:
        h = merkle.leaf_hash(data[(rt, rid)])
        conn.execute("UPDATE log_leaves SET leaf_hash = ? WHERE idx = ?", (h, idx))
        tree.append(h)
    conn.execute("DELETE FROM log_nodes")
    for level, hashes in enumerate(tree.levels[1:], start=1):
        conn.executemany(
            "INSERT INTO log_nodes VALUES (?, ?, ?)", [(level, i, h) for i, h in enumerate(hashes)]
        )
    return "edited a record and rewrote the log tables to match"


TAMPERINGS: list[Tamper] = [
    _edit_payload_field,
    _edit_column,
    _delete_row,
    _insert_row,
    _swap_rows,
    _renumber_leaf,
    _edit_log_table,
    _widen_release,
    _rewrite_log_consistently,
]


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def _audit_ok(path: Path, settings: Settings) -> tuple[bool, list[str]]:
    db: Database = open_database(f"sqlite:///{path}")
    try:
        report = audit(db, trusted_verifiers(settings), settings.log_origin)
    finally:
        db.dispose()
    return report.ok, [f.message for f in report.findings]


def test_a_clean_copy_audits_clean(signed_db: tuple[Path, Settings], tmp_path: Path) -> None:
    path, settings = signed_db
    _copy(path, tmp_path / "copy.db")
    ok, findings = _audit_ok(tmp_path / "copy.db", settings)
    assert ok, findings


def test_audit_detects_every_one_of_1000_random_tamperings(
    signed_db: tuple[Path, Settings], tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    path, settings = signed_db
    rng = random.Random(20261124)
    detected: dict[str, int] = {}
    missed: list[str] = []
    work = tmp_path / "work.db"
    for trial in range(TRIALS):
        work.unlink(missing_ok=True)
        _copy(path, work)
        conn = sqlite3.connect(work)
        _unprotect(conn)
        tamper = TAMPERINGS[trial % len(TAMPERINGS)]
        what = tamper(conn, rng)
        conn.commit()
        conn.close()
        ok, _ = _audit_ok(work, settings)
        if ok:
            missed.append(what)
        else:
            detected[tamper.__name__] = detected.get(tamper.__name__, 0) + 1
    record_property("tamperings_detected", sum(detected.values()))
    print(f"audit: {sum(detected.values())} of {TRIALS} tamperings detected: {detected}")
    assert not missed, missed
    assert sum(detected.values()) == TRIALS


def test_the_cli_audit_exits_non_zero_and_names_the_record(
    signed_db: tuple[Path, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, settings = signed_db
    work = tmp_path / "garant.db"
    _copy(path, work)
    monkeypatch.setenv("GARANT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GARANT_DATABASE_URL", f"sqlite:///{work}")
    runner = CliRunner()
    clean = runner.invoke(app, ["log", "audit"])
    assert clean.exit_code == 0, clean.output
    assert "log intact" in clean.output
    conn = sqlite3.connect(work)
    _unprotect(conn)
    (obs_id,) = conn.execute("SELECT id FROM observations ORDER BY seq LIMIT 1 OFFSET 5").fetchone()
    conn.execute(
        'UPDATE observations SET payload = replace(payload, \'"nation":"\', \'"nation":"X\') WHERE id = ?',
        (obs_id,),
    )
    conn.commit()
    conn.close()
    dirty = runner.invoke(app, ["log", "audit"])
    assert dirty.exit_code == 1
    assert f"CHANGED: observation {obs_id}" in dirty.output
