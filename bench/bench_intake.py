"""Intake throughput: HTTP batch endpoint, `garant ingest`, and raw sqlite3 executemany.

Each path writes the same rows into the same schema (a fresh migrated SQLite file each, WAL,
synchronous=FULL). The raw path is the floor of what the database can do: rows prepared in
advance (with their Z-order spatial key), one `executemany` per 10,000 in one transaction, no
validation. The HTTP path runs a real `garant serve` on loopback, as shipped (its intake
processes behind the workers, its bulletin follower beside them, paced to hold back during a
burst), and posts batches of 10,000 with httpx, as a sensor network's service account; one more
2-worker run then waits for the follower to have the bulletin up to date, and reports how long
that took after the last batch. `garant ingest` and the two-worker HTTP path also run with the
transparency log off (GARANT_UNLOGGED_BENCHMARK=1, the same code otherwise) to show what the log
costs; the HTTP pair runs three times, alternating, and the medians are compared (on this 2-core
machine single runs vary by ±20 %).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.workload import observations
from garant.domain.access import OrgKind, Role
from garant.services import identity
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.intake import ingest
from garant.store.db import migrate, open_database

BATCH = 10_000
PAIRS = 3
LAG_LIMIT_S = 600.0


def _fresh_db(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    db = open_database(url)
    migrate(db)
    load_agreement_file(db, demo_files()[0])  # realistic: intake checks against an agreement
    db.dispose()
    return url


def _env(url: str, folder: Path, logged: bool = True) -> dict[str, str]:
    env = {**os.environ, "GARANT_DATABASE_URL": url, "GARANT_DATA_DIR": str(folder)}
    if not logged:
        env["GARANT_UNLOGGED_BENCHMARK"] = "1"  # the same code with the transparency log off
    return env


def _prepared_rows(items: list[dict[str, Any]], folder: Path) -> list[tuple[Any, ...]]:
    """Exactly the rows intake writes (driver parameters in `obs_store.COLUMNS` order),
    captured from a throw-away run of the real intake."""
    from garant.store import observations as obs_store

    captured: list[tuple[Any, ...]] = []
    original = obs_store.insert_new

    def capture(conn: Any, params: Any) -> int:
        captured.extend(params)
        return original(conn, params)

    obs_store.insert_new = capture  # type: ignore[assignment]
    try:
        db = open_database(_fresh_db(folder, "capture.db"))
        for i in range(0, len(items), BATCH):
            ingest(db, items[i : i + BATCH])
        db.dispose()
    finally:
        obs_store.insert_new = original
    return captured


def raw_sqlite(items: list[dict[str, Any]], folder: Path) -> float:
    from garant.store.observations import COLUMNS

    tuples = _prepared_rows(items, folder)
    url = _fresh_db(folder, "raw.db")
    sql = f"INSERT INTO observations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    t0 = time.perf_counter()
    for i in range(0, len(tuples), BATCH):
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, tuples[i : i + BATCH])
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    assert con.execute("SELECT count(*) FROM observations").fetchone()[0] == len(items)
    con.close()
    return len(items) / elapsed


def cli_ingest(items: list[dict[str, Any]], folder: Path, logged: bool = True) -> float:
    url = _fresh_db(folder, f"cli-{logged}.db")
    path = folder / "observations.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(o) for o in items) + b"\n")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "garant.cli", "ingest", str(path)],
        check=True,
        env=_env(url, folder, logged),
        capture_output=True,
    )
    return len(items) / (time.perf_counter() - t0)


def _sensor_token(url: str, nation: str) -> str:
    """A sensor network's service account and token: what pushes observations in production."""
    db = open_database(url)
    identity.add_user(db, "bench-sensor", Role.SENSOR, "BENCH", OrgKind.NATION, nation, None, kind="service")
    token = identity.create_token(db, "bench-sensor", None, "benchmark")[1]
    db.dispose()
    return token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _bulletin_lag(db_file: Path, limit_s: float) -> float | None:
    """Seconds until the bulletin follower has taken in the whole log (None: not within limit)."""
    t0 = time.perf_counter()
    con = sqlite3.connect(db_file)
    try:
        while time.perf_counter() - t0 < limit_s:
            (size,) = con.execute("SELECT tree_size FROM log_head").fetchone()
            done = dict(con.execute("SELECT name, last_leaf FROM pipeline_state").fetchall())
            if all(done.get(name, -1) >= size - 1 for name in ("acoustic", "fusion")):
                return time.perf_counter() - t0
            time.sleep(0.25)
    finally:
        con.close()
    return None


def _tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by a process and all its descendants (Linux `/proc`)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def _settle(pid: int, quiet_s: float = 1.0, limit_s: float = 60.0) -> None:
    """Wait until a started server has finished starting: its workers, their intake processes
    and the follower import and open the store for a few CPU seconds after the first worker
    answers, and a run started then measures the start-up, not intake (a server runs for days).
    Settled: the whole process tree used under 5 % of a core over `quiet_s`."""
    if not os.path.isdir("/proc"):  # pragma: no cover - not Linux
        time.sleep(5.0)
        return
    deadline = time.monotonic() + limit_s
    last = _tree_cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = _tree_cpu_s(pid)
        if now - last < 0.05 * quiet_s:
            return
        last = now
    print(f"server {pid} still busy after {limit_s:.0f} s: the run includes its start-up", file=sys.stderr)


def http_batch(
    items: list[dict[str, Any]],
    folder: Path,
    workers: int = 1,
    clients: int = 1,
    logged: bool = True,
    tag: str = "",
    lag: dict[str, float | None] | None = None,
) -> float:
    """Batches of 10,000 posted by `clients` concurrent connections to `garant serve --workers`
    (as shipped: with its bulletin follower). With `lag`, also how long after the last batch
    the follower had the bulletin up to date (`lag["bulletin_s"]`)."""
    url = _fresh_db(folder, f"http-{workers}-{clients}-{logged}{tag}.db")
    token = _sensor_token(url, items[0]["nation"])
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "garant.cli",
            "serve",
            "--no-demo",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=_env(url, folder, logged),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    bodies = [orjson.dumps({"observations": items[i : i + BATCH]}) for i in range(0, len(items), BATCH)]
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def post_all() -> None:
        with httpx.Client(base_url=base, timeout=300) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                r = client.post(
                    "/api/v1/observations",
                    content=body,
                    headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
                )
                if r.status_code != 201:
                    failures.append(f"{r.status_code} {r.text[:300]}")

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        _settle(server.pid)
        threads = [threading.Thread(target=post_all) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"batches failed: {failures[:3]}")
        if lag is not None:
            lag["bulletin_s"] = _bulletin_lag(Path(url.removeprefix("sqlite:///")), LAG_LIMIT_S)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return len(items) / elapsed


def run(n: int = 100_000) -> dict[str, Any]:
    items = observations(n)
    with tempfile.TemporaryDirectory(prefix="garant-bench-") as tmp:
        folder = Path(tmp)
        raw = raw_sqlite(items, folder)
        cli = cli_ingest(items, folder)
        cli_unlogged = cli_ingest(items, folder, logged=False)
        http1 = http_batch(items, folder, workers=1, clients=1)
        lag: dict[str, float | None] = {}
        http2_lag = http_batch(items, folder, workers=2, clients=2, tag="-lag", lag=lag)
        # the log's cost on the noisiest path: three alternating pairs, medians compared
        logged_runs, unlogged_runs = [], []
        for i in range(PAIRS):
            logged_runs.append(http_batch(items, folder, workers=2, clients=2, tag=f"-{i}"))
            unlogged_runs.append(http_batch(items, folder, workers=2, clients=2, logged=False, tag=f"-{i}"))
        http2, http2_unlogged = statistics.median(logged_runs), statistics.median(unlogged_runs)
    return {
        "observations": n,
        "raw_sqlite_per_s": round(raw),
        "cli_ingest_per_s": round(cli),
        "cli_ingest_without_log_per_s": round(cli_unlogged),
        "cli_log_over_no_log": round(cli / cli_unlogged, 3),
        "http_batch_1_worker_per_s": round(http1),
        "http_batch_2_workers_per_s": round(http2),
        "http_batch_2_workers_without_log_per_s": round(http2_unlogged),
        "http_log_over_no_log": round(http2 / http2_unlogged, 3),
        "http_2_workers_runs": [round(x) for x in logged_runs],
        "http_2_workers_without_log_runs": [round(x) for x in unlogged_runs],
        "http_2_workers_over_raw": round(http2 / raw, 3),
        "http_2_workers_lag_run_per_s": round(http2_lag),
        "bulletin_up_to_date_after_last_batch_s": None
        if lag["bulletin_s"] is None
        else round(lag["bulletin_s"], 1),
    }


if __name__ == "__main__":
    print(
        orjson.dumps(
            run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), option=orjson.OPT_INDENT_2
        ).decode()
    )
