"""Settings from the environment (`GARANT_*`), one place so every entry point agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from garant.verify.acoustic import AssociationParams
    from garant.verify.bursts import BurstParams


def _default_data_dir() -> Path:
    return Path(os.environ.get("GARANT_DATA_DIR", "var")).resolve()


@dataclass(frozen=True)
class Settings:
    """Where Garant keeps its data and how it serves.

    `database_url` defaults to an SQLite file in `data_dir`; set `GARANT_DATABASE_URL`
    (e.g. `postgresql+psycopg://user@127.0.0.1:5432/garant`) for the server path.
    `log_origin` names this node's transparency log in its checkpoints (and its signing key);
    a checkpoint is signed after a write when the last one is older than
    `checkpoint_interval_s` (0: after every write), and by a background task of the server
    every interval. `unlogged_benchmark` turns the log off: only `make bench` uses it, to
    measure what the log costs, and `garant log audit` reports every record written so.
    `auto_bulletin` keeps the automatic bulletin up to date as writes arrive: `garant serve`
    runs it in one follower process polling the log every `bulletin_interval_s`, an app
    embedded alone runs it in a background thread after each accepted write;
    `intake_processes` (> 0) has a served app's batches taken in by that many processes behind
    each API worker (`api/intake_pool.py` says why; `garant serve` sets one per core), 0 in
    the worker's own threads;
    the acoustic engine uses `acoustic_speed_ms` (or, when set, `acoustic_speed_by_hour`: 24
    speeds for 00:00 ... 23:00 UTC, as the air warms and cools through the day) and
    `acoustic_timing_sigma_s`.
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""
    max_batch: int = 10_000
    max_body_bytes: int = 64 * 1024 * 1024
    page_limit_max: int = 10_000
    log_origin: str = "localhost/garant"
    checkpoint_interval_s: float = 1.0
    unlogged_benchmark: bool = False
    logins_per_minute: int = 10
    writes_per_minute: int = 600
    auto_bulletin: bool = True
    bulletin_interval_s: float = 1.0
    intake_processes: int = 0
    acoustic_speed_ms: float = 343.0
    acoustic_timing_sigma_s: float = 0.025
    acoustic_speed_by_hour: tuple[float, ...] | None = None

    def acoustic_params(self) -> AssociationParams:
        from garant.verify.acoustic import AssociationParams

        return AssociationParams(
            speed_ms=self.acoustic_speed_ms,
            speed_by_hour_utc=self.acoustic_speed_by_hour,
            timing_sigma_s=self.acoustic_timing_sigma_s,
        )

    def burst_params(self) -> BurstParams:
        """The acoustic network's speed (the day's mean where it varies by hour) and timing, for
        bursts of fire located from the rhythm of their arrivals."""
        from garant.verify.bursts import BurstParams

        speeds = self.acoustic_speed_by_hour
        speed = sum(speeds) / len(speeds) if speeds else self.acoustic_speed_ms
        return BurstParams(speed_ms=speed, timing_sigma_s=self.acoustic_timing_sigma_s)

    @property
    def key_dir(self) -> Path:
        """Where the log's signing key lives: outside the database, never committed (mode 0700)."""
        return self.data_dir / "keys"

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'garant.db'}")

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=_default_data_dir(),
            database_url=os.environ.get("GARANT_DATABASE_URL", ""),
            max_batch=int(os.environ.get("GARANT_MAX_BATCH", "10000")),
            max_body_bytes=int(os.environ.get("GARANT_MAX_BODY_BYTES", str(64 * 1024 * 1024))),
            log_origin=os.environ.get("GARANT_LOG_ORIGIN", "localhost/garant"),
            checkpoint_interval_s=float(os.environ.get("GARANT_CHECKPOINT_INTERVAL", "1")),
            unlogged_benchmark=os.environ.get("GARANT_UNLOGGED_BENCHMARK", "") == "1",
            logins_per_minute=int(os.environ.get("GARANT_LOGINS_PER_MINUTE", "10")),
            writes_per_minute=int(os.environ.get("GARANT_WRITES_PER_MINUTE", "600")),
            auto_bulletin=os.environ.get("GARANT_AUTO_BULLETIN", "1") != "0",
            bulletin_interval_s=float(os.environ.get("GARANT_BULLETIN_INTERVAL", "1")),
            intake_processes=int(os.environ.get("GARANT_INTAKE_PROCESSES", "0")),
            acoustic_speed_ms=float(os.environ.get("GARANT_ACOUSTIC_SPEED_MS", "343")),
            acoustic_timing_sigma_s=float(os.environ.get("GARANT_ACOUSTIC_TIMING_SIGMA_S", "0.025")),
            acoustic_speed_by_hour=_hourly(os.environ.get("GARANT_ACOUSTIC_SPEED_BY_HOUR", "")),
        )


def _hourly(text: str) -> tuple[float, ...] | None:
    """`GARANT_ACOUSTIC_SPEED_BY_HOUR`: 24 comma-separated speeds (m/s), checked at start-up."""
    if not text.strip():
        return None
    from garant.verify.acoustic import AssociationParams

    try:
        speeds = tuple(float(v) for v in text.split(","))
        AssociationParams(speed_by_hour_utc=speeds)
    except ValueError as exc:
        raise ValueError(f"GARANT_ACOUSTIC_SPEED_BY_HOUR: {exc}") from exc
    return speeds
