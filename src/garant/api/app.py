"""The FastAPI application: routers, one problem-details error shape, OpenAPI with real schemas."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import TypeAdapter

import garant
from garant.api import agreements, auth, events, observations, verified
from garant.api import log as log_api
from garant.api.intake_pool import start_pool
from garant.api.problems import document_problems, install_problem_handlers, problem_response
from garant.api.state import AppState
from garant.config import Settings
from garant.domain.agreement import Agreement
from garant.domain.observations import OBSERVATION_ADAPTER
from garant.runtime import tune_gc_for_throughput
from garant.store.db import Database, migrate, open_database
from garant.web.routes import mount_static
from garant.web.routes import router as web_router


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    for name, adapter in (("Observation", OBSERVATION_ADAPTER), ("Agreement", TypeAdapter(Agreement))):
        js = adapter.json_schema(ref_template=ref)
        components.update(js.pop("$defs", {}))
        components[name] = js
    document_problems(schema)
    app.openapi_schema = schema
    return schema


def _checkpoint_loop(state: AppState) -> Callable[[FastAPI], Any]:
    """Sign the tree head every interval while serving, so no accepted write waits unsigned;
    write the queued audit events at the same pace, and at shutdown. The intake processes,
    when the settings ask for them, start before the first request and stop with the app."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            interval = max(state.settings.checkpoint_interval_s, 0.5)
            while True:
                await asyncio.sleep(interval)
                for work, what in ((state.sign_if_grown, "checkpoint signing"), (state.flush_audit, "audit")):
                    try:
                        await asyncio.to_thread(work)
                    except Exception:  # must not stop the server; the next try may work
                        logging.getLogger("garant").exception("%s failed", what)

        state.intake_pool = await asyncio.to_thread(start_pool, state.settings)
        task = asyncio.create_task(loop())
        state.periodic_signing = True
        try:
            yield
        finally:
            task.cancel()
            state.periodic_signing = False
            if state.intake_pool is not None:
                pool, state.intake_pool = state.intake_pool, None
                await asyncio.to_thread(pool.close)
            state.flush_audit()
            state.sign_if_grown()

    return lifespan


def create_app(
    settings: Settings | None = None, db: Database | None = None, *, migrate_db: bool = True
) -> FastAPI:
    settings = settings or Settings.from_env()
    db = db or open_database(settings.database_url)
    if migrate_db:
        migrate(db)
    app = FastAPI(
        title="Garant",
        version=garant.__version__,
        description="Monitoring and verification of a ceasefire; the commission's evidence; the guarantees.",
    )
    db.logged = not settings.unlogged_benchmark
    if not db.logged:
        logging.getLogger("garant").warning(
            "TRANSPARENCY LOG OFF (GARANT_UNLOGGED_BENCHMARK=1): benchmarks only"
        )
    state = AppState(settings=settings, db=db)
    app.state.garant = state
    app.router.lifespan_context = _checkpoint_loop(state)
    install_problem_handlers(app)
    app.include_router(observations.router)
    app.include_router(events.router)
    app.include_router(verified.router)
    app.include_router(agreements.router)
    app.include_router(log_api.router)
    app.include_router(auth.router)

    @app.get("/api/v1/health", tags=["meta"], summary="Liveness and database reachability")
    def health() -> dict[str, str]:
        with db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": garant.__version__, "database": db.dialect}

    @app.middleware("http")
    async def _no_nul(request: Any, call_next: Any) -> Response:
        """No identifier or filter contains NUL; PostgreSQL text cannot hold one either."""
        if "\x00" in request.url.path or any(
            "\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()
        ):
            return problem_response(
                422, "NUL characters are not allowed", errors=[{"field": "(url)", "reason": "contains NUL"}]
            )
        response: Response = await call_next(request)
        return response

    @app.middleware("http")
    async def _security_headers(request: Any, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
        )
        return response

    app.include_router(web_router)
    mount_static(app)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes (`garant serve --workers N`)."""
    app = create_app(Settings.from_env(), migrate_db=False)
    tune_gc_for_throughput()
    return app
