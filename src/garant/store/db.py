"""Engines and migrations for both backends.

SQLite is the embedded default: WAL so readers never block the writer, `synchronous=FULL`
so an acknowledged write survives a power cut, foreign keys on. Writes go through a separate
engine whose transactions start with `BEGIN IMMEDIATE`, so the check-then-insert of
idempotent intake is serialised without retries; reads stay deferred and concurrent.

Writers of one SQLite file (API workers, the bulletin follower, the CLI) also queue on an
exclusive `flock` of a lock file beside it before `BEGIN IMMEDIATE`. SQLite's own busy
handler polls with sleeps of up to 100 ms, so a writer waiting behind a 10,000-observation
batch woke late: on the 2-worker intake benchmark the CPUs sat a third idle. The kernel wakes
a `flock` waiter the moment the lock is released. The busy timeout stays for writers that do
not take the lock (the `sqlite3` shell, an older Garant).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone queues writers
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def _exclusive(path: str | None) -> Iterator[None]:
    if path is None or fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # closing the descriptor releases it
        yield
    finally:
        os.close(fd)


@dataclass
class Database:
    """The reader and writer engines of one database (the same engine on PostgreSQL)."""

    url: str
    reader: Engine
    writer: Engine
    logged: bool = True  # False only in `make bench`'s run without the transparency log
    write_lock_path: str | None = None  # SQLite file: writers queue on a flock of this file

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with _exclusive(self.write_lock_path), self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()


def open_database(url: str, *, pool: bool = True) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lock = None
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            lock = f"{parsed.database}.write-lock"
        reader, writer = _sqlite_engine(url, immediate=False), _sqlite_engine(url, immediate=True)
        return Database(url, reader, writer, write_lock_path=lock)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pool:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)
    return Database(url, engine, engine)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent)."""
    cfg = alembic_config(db.url)
    with db.writer.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
