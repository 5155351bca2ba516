"""`garant` command line: database, agreements, intake, demo, server, simulation."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from garant.cli_bulletin import events_app, violations_app
from garant.cli_identity import group_app, token_app, user_app
from garant.cli_log import bundle_app, log_app
from garant.cli_review import review_app, stats_command
from garant.cli_sim import eval_command, sim
from garant.cli_verify import associate_command, pipeline_app, verify_command
from garant.config import Settings
from garant.runtime import throughput_gc, tune_gc_for_throughput
from garant.services.agreements import AgreementFileError, load_agreement_file
from garant.services.bulk import FileIngestResult, ingest_file
from garant.services.checkpoints import SIGNER_FILE, Checkpointer, ensure_signer
from garant.services.formats import FORMATS, detect_format
from garant.store.agreements import AgreementVersionConflict, current_agreement, list_agreements
from garant.store.db import Database, migrate, open_database

app = typer.Typer(help="Garant: monitoring and verification of a ceasefire.", no_args_is_help=True)
agreement_app = typer.Typer(help="Agreement versions.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo data.", no_args_is_help=True)
app.add_typer(agreement_app, name="agreement")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(log_app, name="log")
app.add_typer(bundle_app, name="bundle")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(group_app, name="group")
app.command("sim")(sim)
app.command("eval")(eval_command)
app.command("associate")(associate_command)
app.command("verify")(verify_command)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(review_app, name="review")
app.add_typer(events_app, name="events")
app.add_typer(violations_app, name="violations")
app.command("stats")(stats_command)

console = Console()
err_console = Console(stderr=True)


def _db() -> Database:
    settings = Settings.from_env()
    db = open_database(settings.database_url)
    db.logged = not settings.unlogged_benchmark
    migrate(db)
    return db


def _sign(db: Database) -> None:
    """Sign a checkpoint over what this command wrote (with the node's key, made if missing)."""
    settings = Settings.from_env()
    if settings.unlogged_benchmark:
        return
    cp = Checkpointer.for_settings(settings, db).sign_now()
    err_console.print(f"checkpoint signed: {settings.log_origin} size {cp.tree_size}")


@app.command()
def init() -> None:
    """Create the data folder and bring the database schema up to date."""
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database_url)
    migrate(db)
    signer = ensure_signer(settings, db)
    console.print(f"database ready: {db.url}")
    console.print(f"log signing key: {settings.key_dir / SIGNER_FILE} (public: {signer.verifier().encode()})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (idempotent)."""
    _db()
    console.print("schema up to date")


@agreement_app.command("load")
def agreement_load(file: Annotated[Path, typer.Argument(help="agreement YAML file")]) -> None:
    """Validate an agreement file and store it as a new version."""
    db = _db()
    try:
        stored = load_agreement_file(db, file)
    except AgreementFileError as exc:
        for p in exc.problems:
            typer.echo(p.format(exc.file), err=True)
        raise typer.Exit(2) from exc
    except AgreementVersionConflict as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(3) from exc
    if stored.created:
        _sign(db)
    verb = "stored" if stored.created else "already stored (identical)"
    console.print(f"{stored.agreement.key} {verb}, sha256 {stored.content_sha256}")


@agreement_app.command("list")
def agreement_list() -> None:
    """List the stored agreement versions."""
    db = _db()
    with db.read() as conn:
        rows = list_agreements(conn)
        current = current_agreement(conn)
    table = Table("key", "entry into force", "loaded at", "in force")
    for r in rows:
        table.add_row(
            str(r["key"]),
            str(r["entry_into_force"]),
            str(r["loaded_at"]),
            "yes" if current and current.key == r["key"] else "",
        )
    console.print(table)


def _ingest_with_progress(db: Database, path: Path, fmt: str, chunk: int) -> FileIngestResult:
    progress = Progress(
        TextColumn("[bold]ingest"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=err_console
    )
    with progress:
        task = progress.add_task("ingest", total=path.stat().st_size)
        return ingest_file(
            db,
            path,
            fmt,
            chunk=chunk,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )


@app.command()
def ingest(
    file: Annotated[
        Path,
        typer.Argument(
            help="observations: .jsonl, .json, .csv or .geojson", exists=True, dir_okay=False, readable=True
        ),
    ],
    fmt: Annotated[str | None, typer.Option("--format", help=f"one of {', '.join(FORMATS)}")] = None,
    chunk: Annotated[int, typer.Option(help="observations per transaction", min=1, max=10_000)] = 5000,
) -> None:
    """Ingest a file of observations; prints accepted, duplicates and rejected (with reasons)."""
    # plain echo, not Rich, for messages that carry file names or reasons: no markup, no wrapping
    if fmt is not None and fmt not in FORMATS:
        typer.echo(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        fmt = fmt or detect_format(file)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    db = _db()
    with throughput_gc():
        result = _ingest_with_progress(db, file, fmt, chunk)
    if result.accepted:
        _sign(db)
    for where, reason in result.refused[:200]:
        typer.echo(f"{file}:{where}: {reason}", err=True)
    if len(result.refused) > 200:
        typer.echo(f"... and {len(result.refused) - 200} more refused", err=True)
    console.print(f"accepted {result.accepted}, duplicates {result.duplicates}, rejected {result.rejected}")
    if result.rejected:
        raise typer.Exit(1)


@demo_app.command("load")
def demo_load() -> None:
    """Load the demo agreement and observations (only into an empty database)."""
    db = _db()
    from garant.services.demo import load_demo  # the pipeline and SciPy: imported when run

    console.print(load_demo(db))
    _sign(db)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    demo: Annotated[bool, typer.Option(help="load the demo into an empty database first")] = True,
    workers: Annotated[int, typer.Option(help="API worker processes", min=1)] = 1,
    intake_processes: Annotated[
        int | None,
        typer.Option(
            help="processes behind each worker that take in observation batches "
            "(default: one per core; 0: in the worker)",
            min=0,
        ),
    ] = None,
) -> None:
    """Serve the API and the web UI."""
    import uvicorn

    from garant.api.app import create_app

    settings = Settings.from_env()
    db = open_database(settings.database_url)
    migrate(db)
    if demo:
        from garant.services.demo import load_demo

        console.print(load_demo(db))
    # before any worker starts: one key for all, and a checkpoint over what is already stored
    Checkpointer.for_settings(settings, db).sign_now()
    follower = _start_bulletin_follower() if settings.auto_bulletin else None
    # the workers leave the bulletin to the follower (services/follower.py says why)
    os.environ["GARANT_AUTO_BULLETIN"] = "0"
    if intake_processes is None:
        intake_processes = int(os.environ.get("GARANT_INTAKE_PROCESSES", os.cpu_count() or 1))
    os.environ["GARANT_INTAKE_PROCESSES"] = str(intake_processes)  # the workers read it
    settings = replace(settings, auto_bulletin=False, intake_processes=intake_processes)
    console.print(f"Garant on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    try:
        if workers > 1:
            db.dispose()
            uvicorn.run(
                "garant.api.app:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
            )
        else:
            served = create_app(settings, db, migrate_db=False)
            tune_gc_for_throughput()
            uvicorn.run(served, host=host, port=port, log_level="info")
    finally:
        if follower is not None:
            follower.terminate()
            try:
                follower.wait(timeout=30)
            except subprocess.TimeoutExpired:
                follower.kill()


def _start_bulletin_follower() -> subprocess.Popen[bytes]:
    """`garant pipeline follow` beside the workers, niced: intake comes first in a burst.

    On Linux the kernel kills it the moment this process ends (prctl PR_SET_PDEATHSIG, set in
    the child before exec; uvicorn ends by re-raising the signal it caught, so the `finally`
    of `serve` does not always run). A killed update's transaction rolls back. Elsewhere the
    follower's own watch of `--parent` ends it within a second or so."""
    import ctypes
    import signal

    command = [sys.executable, "-m", "garant.cli", "pipeline", "follow", "--nice", "10"]
    command += ["--parent", str(os.getpid())]
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(command)
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child may only call it
    return subprocess.Popen(command, preexec_fn=lambda: prctl(1, signal.SIGKILL))


if __name__ == "__main__":  # pragma: no cover
    app()
