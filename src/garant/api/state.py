"""What a running API holds: settings, the database, and per-agreement-version caches."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from garant.api.ratelimit import RateLimiter
from garant.config import Settings
from garant.domain.agreement import Agreement
from garant.services.checkpoints import Checkpointer
from garant.services.identity import IdentityProvider, LocalIdentity
from garant.store.agreements import current_agreement
from garant.store.db import Database


@dataclass
class AppState:
    settings: Settings
    db: Database
    identity: IdentityProvider = field(init=False)
    login_limiter: RateLimiter = field(init=False)
    write_limiter: RateLimiter = field(init=False)
    _checkpointer: Checkpointer | None = None
    _geographies: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sign_lock: threading.Lock = field(default_factory=threading.Lock)
    _bulletin_pending: bool = False
    _bulletin_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.identity = LocalIdentity(self.db)
        self.login_limiter = RateLimiter(self.settings.logins_per_minute, 60)
        self.write_limiter = RateLimiter(self.settings.writes_per_minute, 60)

    @property
    def checkpointer(self) -> Checkpointer:
        """Made on first use: loading (or creating) the key touches the key folder and the log."""
        with self._lock:
            if self._checkpointer is None:
                self._checkpointer = Checkpointer.for_settings(self.settings, self.db)
            return self._checkpointer

    def sign_if_grown(self) -> None:
        """The server's periodic signing: only once this process has a signer (after its first
        write or proof); it never creates a key as a side effect."""
        if self._checkpointer is not None:
            self.after_write()

    def after_write(self) -> None:
        """Sign a checkpoint if the interval has passed (called after each accepted write)."""
        checkpointer = self.checkpointer
        with self._sign_lock:
            checkpointer.after_write()

    def bulletin_due(self) -> None:
        """Observations were accepted: bring the automatic bulletin up to date in the
        background, one run at a time (a run takes in everything accepted before it starts)."""
        if not self.settings.auto_bulletin:
            return
        with self._lock:
            self._bulletin_pending = True
            if self._bulletin_thread is None:
                self._bulletin_thread = threading.Thread(
                    target=self._bulletin_loop, name="garant-bulletin", daemon=True
                )
                self._bulletin_thread.start()

    def _bulletin_loop(self) -> None:
        from garant.services.bulletin import update_acoustic
        from garant.services.verification import update_verification

        while True:
            with self._lock:
                if not self._bulletin_pending:
                    self._bulletin_thread = None
                    return
                self._bulletin_pending = False
            try:
                update_acoustic(self.db, self.settings.acoustic_params())
                update_verification(self.db, bursts=self.settings.burst_params())
            except Exception:  # the next accepted write tries again; intake is never held up
                logging.getLogger("garant.bulletin").exception("automatic bulletin update failed")

    def bulletin_idle(self, timeout: float = 60.0) -> bool:
        """Wait for the background bulletin run (tests and shutdown); True when none is left."""
        with self._lock:
            thread = self._bulletin_thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            return self._bulletin_thread is None

    def current_agreement(self) -> Agreement | None:
        with self.db.read() as conn:
            return current_agreement(conn)

    def geography(self, agreement: Agreement) -> Any:
        """The geometry engine of one agreement version, built once (projection, zone polygons)."""
        from garant.geo import Geography

        with self._lock:
            geo = self._geographies.get(agreement.key)
            if geo is None:
                geo = Geography.from_agreement(agreement)
                self._geographies[agreement.key] = geo
            return geo


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.garant
    return state
