"""The bulletin follower: `garant serve`'s one process that keeps the automatic bulletin up to date.

Its pace (update as soon as the log grows, hold back in a burst, never beyond the lag bound),
the real loop on a real store, and the real `garant serve` with its follower: a blast posted
over HTTP becomes an event without any worker running the bulletin, and the follower stops
with the server.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import httpx

from garant.config import Settings
from garant.domain.access import SYSTEM, OrgKind, Role
from garant.services import identity
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.follower import Pace, follow, start_orphan_watch, update_bulletin
from garant.services.intake import ingest
from garant.store import events as ev_store
from garant.store.db import Database, migrate, open_database

from .factories import blast_detections
from .net import start_serve, wait_healthy
from .test_bulletin import parse_time


def test_pace_updates_at_once_when_quiet_and_holds_back_in_a_burst() -> None:
    pace = Pace(burst_leaves=1000, settle_s=3.0, max_lag_s=10.0)
    assert pace.due(7, now=0.0)  # at start: catch up what was logged while no follower ran
    pace.started(7)
    assert pace.due(12, now=1.0)  # a few records: at once
    pace.started(12)
    assert not pace.due(12, now=2.0)  # nothing new
    assert not pace.due(3_000, now=3.0)  # a burst arrives: hold back
    assert not pace.due(3_000, now=4.0)  # a lull between two batches is not the end of it
    assert not pace.due(9_000, now=8.0)  # growing fast again, within the lag bound
    assert pace.due(20_000, now=13.5)  # still in a burst, but 10 s behind: update now
    pace.started(20_000)
    assert not pace.due(40_000, now=14.0)  # the next burst waits again
    assert not pace.due(40_010, now=15.0)  # slowing, but not yet settled
    assert pace.due(40_010, now=17.5)  # no burst growth for 3 s: the burst is over


def test_a_failed_update_is_tried_again_at_the_next_poll() -> None:
    pace = Pace(burst_leaves=1000)
    pace.started(0)
    assert pace.due(10, now=0.0)  # the update fails: `started` is not called
    assert pace.due(10, now=1.0)


def _stored(tmp_path: Path) -> Database:
    db = open_database(f"sqlite:///{tmp_path / 'garant.db'}")
    migrate(db)
    load_agreement_file(db, demo_files()[0])
    return db


def test_the_follower_takes_in_what_is_logged_while_it_runs(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    settings = Settings(data_dir=tmp_path, database_url=db.url)
    stop = threading.Event()
    calls: list[int] = []

    def counted(database: Database, s: Settings) -> None:
        update_bulletin(database, s)
        calls.append(1)

    runner = threading.Thread(
        target=follow,
        args=(db, settings),
        kwargs={"interval_s": 0.05, "should_stop": stop.is_set, "update": counted},
    )
    runner.start()
    try:
        when = parse_time("2026-03-10T12:00:00Z")
        for k in range(3):  # three blasts, logged while the follower polls
            ingest(db, blast_detections(37.8, 48.1, when + 60 * k, "follow"))
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.read() as conn:
                found = ev_store.list_events(conn, ev_store.EventFilter(viewer=SYSTEM, limit=100))
            if len(found) == 3:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(30)
    assert len(found) == 3 and all(e["n_observations"] == 7 for e in found)
    assert 1 <= len(calls) <= 4  # one update per growth seen, none while the log stood still
    db.dispose()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_serve_keeps_the_bulletin_in_its_follower_process(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    identity.add_user(db, "sensor-net", Role.SENSOR, "NET", OrgKind.NATION, "US", None, kind="service")
    token = identity.create_token(db, "sensor-net", None, "test")[1]
    identity.add_user(db, "analyst", Role.ANALYST, "MECH", OrgKind.MECHANISM, "MECH", None)
    reader = identity.create_token(db, "analyst", None, "test")[1]
    db.dispose()
    proc, base = start_serve(tmp_path, "--no-demo", "--workers", "2", GARANT_BULLETIN_INTERVAL="0.2")
    try:
        wait_healthy(base)
        followers = [
            p for p in _children(proc.pid) if b"pipeline\x00follow" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert len(followers) == 1  # one follower, whatever the number of workers
        assert os.getpriority(os.PRIO_PROCESS, followers[0]) >= 10  # intake comes first
        when = parse_time("2026-03-10T12:00:00Z")
        r = httpx.post(
            base + "/api/v1/observations",
            json=blast_detections(37.8, 48.1, when, "served"),
            headers={"authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        deadline, feats = time.monotonic() + 60, []
        while time.monotonic() < deadline and not feats:
            page = httpx.get(
                base + "/api/v1/events",
                params={"start": "2026-03-10T11:59:00Z"},
                headers={"authorization": f"Bearer {reader}"},
            )
            feats = page.json()["features"]
            time.sleep(0.2)
        assert len(feats) == 1 and feats[0]["properties"]["n_observations"] == 7
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    time.sleep(0.5)
    assert not Path(f"/proc/{followers[0]}").exists(), "the follower outlived the server"


def _watched(parent: int, stop: threading.Event, grace_s: float = 60.0) -> threading.Event:
    exited = threading.Event()
    start_orphan_watch(parent, stop, poll_s=0.02, grace_s=grace_s, exit_now=lambda _code: exited.set())
    return exited


def test_the_follower_ends_itself_when_its_server_is_gone_even_mid_update() -> None:
    """uvicorn ends `garant serve` by re-raising the signal it caught, so the server's own
    cleanup never stops the follower; the follower watches its parent instead."""
    assert _watched(parent=os.getppid() + 1, stop=threading.Event()).wait(5)  # parent gone: ends
    assert not _watched(parent=os.getppid(), stop=threading.Event()).wait(0.3)  # parent alive: stays
    stop = threading.Event()
    stop.set()  # asked to stop, but the main thread is stuck in a long update
    assert _watched(parent=os.getppid(), stop=stop, grace_s=0.1).wait(5)
