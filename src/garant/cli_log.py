"""`garant log ...` and `garant bundle ...`: the transparency log from the command line."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from garant.config import Settings
from garant.domain.access import SYSTEM
from garant.services.audit import audit
from garant.services.bundles import BundleExportError, export_bundle
from garant.services.checkpoints import Checkpointer, rotate_signer, trusted_verifiers
from garant.store.db import Database, migrate, open_database
from garant.store.observations import ObservationFilter, list_observations
from garant.transparency import merkle
from garant.transparency.bundle import format_report, load_verifiers, verify_bundle
from garant.transparency.note import Checkpoint, NoteError, open_checkpoint

log_app = typer.Typer(
    help="The transparency log: checkpoints, verification, audit, keys.", no_args_is_help=True
)
bundle_app = typer.Typer(help="Evidence bundles: export, and verify offline.", no_args_is_help=True)
err_console = Console(stderr=True)


def _open() -> tuple[Settings, Database]:
    settings = Settings.from_env()
    db = open_database(settings.database_url)
    migrate(db)
    return settings, db


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign a checkpoint of the log now and print it (a C2SP signed note)."""
    settings, db = _open()
    cp = Checkpointer.for_settings(settings, db).sign_now()
    typer.echo(cp.note, nl=False)


@log_app.command("rotate-key")
def log_rotate_key() -> None:
    """Replace the signing key; old checkpoints stay verifiable with the old public key."""
    settings, db = _open()
    old, signer = rotate_signer(settings, db)
    Checkpointer(db, signer, settings.log_origin, 0).sign_now()
    if old is not None:
        typer.echo(f"retired: {old.encode()}")
    typer.echo(f"signing with: {signer.verifier().encode()}")


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise typer.BadParameter(f"{url}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise typer.BadParameter(f"{url}: {exc}") from exc


def _state_file(settings: Settings, origin: str) -> Path:
    safe = urllib.parse.quote(origin, safe="")
    return settings.data_dir / "trusted-checkpoints" / f"{safe}.note"


@log_app.command("verify")
def log_verify(
    key: Annotated[list[str], typer.Option(help="pinned verifier key of the log (or a file of them)")],
    server: Annotated[str, typer.Option(help="the Garant server")] = "http://127.0.0.1:8000",
    origin: Annotated[str | None, typer.Option(help="expected origin (default: the key's name)")] = None,
    state: Annotated[Path | None, typer.Option(help="where the last trusted checkpoint is kept")] = None,
) -> None:
    """Check the server's checkpoint against a pinned key, and that it extends the last one trusted.

    The first run trusts the checkpoint on its signature alone; every later run also demands
    a consistency proof from the checkpoint it stored last, so a log that rewrote its past is
    caught. The new checkpoint is stored only when everything verifies.
    """
    settings = Settings.from_env()
    try:
        verifiers = load_verifiers(key)
    except (NoteError, OSError) as exc:
        typer.echo(f"bad key: {exc}", err=True)
        raise typer.Exit(2) from exc
    origin = origin or verifiers[0].name
    state = state or _state_file(settings, origin)
    body = _get_json(server.rstrip("/") + "/api/v1/log/checkpoint")
    try:
        new, _ = open_checkpoint(str(body.get("note", "")), verifiers, origin)
        old = open_checkpoint(state.read_text(), verifiers, origin)[0] if state.exists() else None
    except NoteError as exc:
        typer.echo(f"checkpoint REJECTED: {exc}", err=True)
        raise typer.Exit(1) from exc
    if old is not None:
        _check_consistency(server, old, new)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(body["note"])
    since = f"consistent with the trusted size {old.size}" if old else "first checkpoint trusted"
    typer.echo(f"checkpoint OK: {new.origin} size {new.size}; {since}")


def _check_consistency(server: str, old: Checkpoint, new: Checkpoint) -> None:
    if new.size < old.size:
        typer.echo(f"checkpoint REJECTED: size {new.size} is smaller than the trusted {old.size}", err=True)
        raise typer.Exit(1)
    query = urllib.parse.urlencode({"first": old.size, "second": new.size})
    body = _get_json(f"{server.rstrip('/')}/api/v1/log/proof/consistency?{query}")
    try:
        proof = [base64.b64decode(h, validate=True) for h in body.get("consistency_proof", [])]
        merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except ValueError as exc:
        typer.echo(f"checkpoint REJECTED: not consistent with the trusted size {old.size}: {exc}", err=True)
        raise typer.Exit(1) from exc


@log_app.command("audit")
def log_audit(
    key: Annotated[
        list[str] | None, typer.Option(help="more trusted verifier keys (default: keys/trusted.vkeys)")
    ] = None,
) -> None:
    """Recompute every leaf and the whole tree from the database; report any change made outside Garant."""
    settings, db = _open()
    verifiers = trusted_verifiers(settings) + (load_verifiers(key) if key else [])
    progress = Progress(
        TextColumn("[bold]audit"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
    )
    with progress:
        task = progress.add_task("records", total=None)
        report = audit(db, verifiers, settings.log_origin, lambda n: progress.advance(task, n))
    for f in report.findings[:500]:
        typer.echo(f"{f.kind.upper()}: {f.message}")
    if len(report.findings) > 500:
        typer.echo(f"... and {len(report.findings) - 500} more findings")
    typer.echo(
        f"{report.records} records, {report.tree_size} leaves, "
        f"{report.checkpoints_checked} checkpoints checked: "
        + ("log intact" if report.ok else f"{len(report.findings)} findings")
    )
    if not report.ok:
        raise typer.Exit(1)


def _aware_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise typer.BadParameter(f"{name} needs a UTC offset, e.g. 2026-03-01T00:00:00Z")
    return moment


@bundle_app.command("export")
def bundle_export(
    out: Annotated[Path, typer.Option(help="the bundle to write (.zip)")],
    record_id: Annotated[
        list[str] | None, typer.Option("--id", help="an observation id (repeatable)")
    ] = None,
    agreement: Annotated[
        list[str] | None, typer.Option(help="an agreement key id@version (repeatable)")
    ] = None,
    start: Annotated[str | None, typer.Option(help="observations observed at or after (ISO 8601)")] = None,
    end: Annotated[str | None, typer.Option(help="observations observed before (ISO 8601)")] = None,
    attachments: Annotated[
        Path | None, typer.Option(help="folder of attachment files named by SHA-256")
    ] = None,
) -> None:
    """Write the chosen records with inclusion proofs and a signed checkpoint into one archive."""
    settings, db = _open()
    chosen = [("observation", i) for i in record_id or []] + [("agreement", k) for k in agreement or []]
    if start or end:
        f = ObservationFilter(
            viewer=SYSTEM,
            start=_aware_time(start, "--start"),
            end=_aware_time(end, "--end"),
            include_superseded=True,
            limit=100_000,
        )
        with db.read() as conn:
            chosen += [("observation", r["id"]) for r in list_observations(conn, f)]
    try:
        summary = export_bundle(db, Checkpointer.for_settings(settings, db), out, chosen, attachments)
    except BundleExportError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"{out}: {summary.records} records, {summary.attachments_included} of {summary.attachments_named} "
        f"attachments included, checkpoint size {summary.tree_size}"
    )


@bundle_app.command("verify")
def bundle_verify(
    file: Annotated[Path, typer.Argument(help="the bundle", exists=True, dir_okay=False)],
    key: Annotated[list[str], typer.Option(help="trusted verifier key (or a file of them)")],
) -> None:
    """Verify a bundle offline (no database, no network) and say exactly what fails."""
    try:
        verifiers = load_verifiers(key)
    except (NoteError, OSError) as exc:
        typer.echo(f"bad key: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = verify_bundle(file, verifiers)
    typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(1)
