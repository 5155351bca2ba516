"""A real, throw-away PostgreSQL server for the test session (Debian's packages, loopback only).

Set GARANT_TEST_POSTGRES_URL to use a server you run yourself instead. Without either, the
PostgreSQL half of the contract suite fails under CI and is skipped (with the reason) elsewhere.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .net import free_port


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    as_user: str | None

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries (initdb) not found; apt-get install postgresql"
            )
        as_user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
        data_dir = Path(tempfile.mkdtemp(prefix="garant-pg-"))
        if as_user:
            shutil.chown(data_dir, user=as_user)
        server = cls(bin_dir, data_dir / "data", free_port(), as_user)
        server._run("initdb", "-D", str(server.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        opts = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {data_dir} -c fsync=off"
        server._run(
            "pg_ctl",
            "-D",
            str(server.data_dir),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "-l",
            str(data_dir / "log"),
            "start",
        )
        return server

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)
