"""`garant review` (the analysts' queue and acts) and `garant stats` (the ceasefire's figures),
on the local database. Acts are recorded under a named analyst account (`--analyst`): the
operator's shell is not an analyst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from garant.cli_json import JsonOut, emit_json
from garant.domain.access import Permission, Principal
from garant.store.db import Database

console = Console()
review_app = typer.Typer(
    help="Review the verified bulletin: the queue and the analysts' acts.", no_args_is_help=True
)


def _db() -> Database:
    from garant.config import Settings
    from garant.store.db import migrate, open_database

    db = open_database(Settings.from_env().database_url)
    migrate(db)
    return db


def _analyst(db: Database, username: str) -> Principal:
    from garant.services.identity import principal_of

    who = principal_of(db, username)
    if who is None:
        typer.echo(f"--analyst: no active user {username!r}", err=True)
        raise typer.Exit(2)
    if not who.may(Permission.REVIEW_EVENTS):
        typer.echo(f"--analyst: {username!r} ({who.role.value}) may not review events", err=True)
        raise typer.Exit(2)
    return who


@review_app.command("queue")
def queue(
    analyst: Annotated[str, typer.Option(help="the analyst account whose view this is")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Events awaiting review, most severe first."""
    from garant.store import verified as vstore

    db = _db()
    who = _analyst(db, analyst)
    with db.read() as conn:
        rows = vstore.review_queue(conn, who, limit, None)
    t = Table(title="review queue, most severe first")
    t.add_column("event", no_wrap=True)
    for name in ("kind", "time (UTC)", "level", "severity", "attribution"):
        t.add_column(name)
    for r in rows:
        probs = orjson.loads(r["attribution"]) if r["attribution"] else None
        att = ", ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items())) if probs else "undetermined"
        t.add_row(r["id"], r["kind"], f"{r['time']:%m-%d %H:%M}", r["level"], f"{r['severity']:.1f}", att)
    console.print(t)


@review_app.command("act")
def act(
    event_id: Annotated[str, typer.Argument(help="the event's id")],
    name: Annotated[
        str,
        typer.Argument(
            help="confirm, reject, relocate, reattribute, annotate, merge, split, task, task_outcome"
        ),
    ],
    analyst: Annotated[str, typer.Option(help="the analyst account the act is recorded under")],
    reason: Annotated[str, typer.Option(help="why (required but for confirm and task)")] = "",
    lon: Annotated[float | None, typer.Option(help="relocate, split: longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="relocate, split: latitude")] = None,
    party: Annotated[list[str] | None, typer.Option(help="reattribute: PARTY=PROBABILITY, repeated")] = None,
    undetermined: Annotated[bool, typer.Option(help="reattribute: no party can be named")] = False,
    event: Annotated[list[str] | None, typer.Option(help="merge: an event to fold in, repeated")] = None,
    observation: Annotated[
        list[str] | None, typer.Option(help="split: a report to move out, repeated")
    ] = None,
    part: Annotated[
        list[str] | None, typer.Option(help="split: a located blast to move out, repeated")
    ] = None,
    assigned_to: Annotated[str | None, typer.Option(help="task: who checks")] = None,
    instructions: Annotated[str | None, typer.Option(help="task: what to check")] = None,
    task_id: Annotated[str | None, typer.Option(help="task_outcome: the task act's id")] = None,
    found: Annotated[bool | None, typer.Option("--found/--not-found", help="task_outcome")] = None,
) -> None:
    """One review act on an event: recorded, logged, and the event keeps its id."""
    from garant.services.review import ReviewAct, ReviewError, apply

    attribution = None
    for spec in party or []:
        code, _, value = spec.partition("=")
        try:
            attribution = {**(attribution or {}), code: float(value)}
        except ValueError:
            typer.echo(f"--party {spec!r}: expected PARTY=PROBABILITY", err=True)
            raise typer.Exit(2) from None
    db = _db()
    who = _analyst(db, analyst)
    req = ReviewAct(
        act=name, reason=reason, lon=lon, lat=lat, attribution=attribution, undetermined=undetermined,
        events=event or [], observations=observation or [], parts=part or [], assigned_to=assigned_to,
        instructions=instructions, task_id=task_id, found=found,
    )  # fmt: skip
    try:
        done = apply(db, event_id, req, who)
    except ReviewError as exc:
        typer.echo(f"{exc.field}: {exc.reason}", err=True)
        raise typer.Exit(2 if exc.status != 404 else 1) from exc
    after = done["event"] or {}
    console.print(
        f"{done['act']} recorded as {done['id']} by {who.name}: event {event_id} is now "
        f"{after.get('status')} ({after.get('level')}), revision {after.get('revision')}"
    )


def stats_command(
    start: Annotated[
        datetime | None, typer.Option(help="from (ISO 8601 with offset); default end - 30 days")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="to, exclusive; default now")] = None,
    json_out: JsonOut = None,
) -> None:
    """Figures of the ceasefire from the reviewed bulletin: verified violations by day, party,
    provision, weapon class and sector, and the credible-cessation indicator."""
    from garant.domain.access import SYSTEM
    from garant.services.stats import ceasefire_figures
    from garant.store.agreements import current_agreement

    t1 = (end or datetime.now(UTC)).astimezone(UTC) if (end is None or end.tzinfo) else None
    if t1 is None:
        typer.echo("--end: give a UTC offset (e.g. Z)", err=True)
        raise typer.Exit(2)
    if start is not None and start.tzinfo is None:
        typer.echo("--start: give a UTC offset (e.g. Z)", err=True)
        raise typer.Exit(2)
    t0 = start or t1 - timedelta(days=30)
    db = _db()
    with db.read() as conn:
        agreement = current_agreement(conn)
    if agreement is None:
        typer.echo("no agreement is loaded: the figures are measured against one", err=True)
        raise typer.Exit(2)
    fig = ceasefire_figures(db, SYSTEM, agreement, t0, t1)
    if emit_json(json_out, fig):
        return
    t = Table(
        "date",
        "verified",
        "7-day mean",
        "by party",
        "by provision",
        title=f"verified violations ({agreement.key})",
    )
    for d in fig["daily"]:
        if d["verified_violations"] or d is fig["daily"][-1]:
            t.add_row(
                d["date"], str(d["verified_violations"]), f"{d['rolling_mean_7d']:.2f}",
                ", ".join(f"{k} {v}" for k, v in d["by_party"].items()),
                ", ".join(f"{k} {v}" for k, v in d["by_provision"].items()),
            )  # fmt: skip
    console.print(t)
    cc = fig["credible_cessation"]
    c = Table(
        "measure", "value", "threshold", "met", title=f"credible cessation, last {cc['window_days']} days"
    )
    for k, m in cc["measures"].items():
        c.add_row(k, str(m["value"]), f"<= {m['max']}", "yes" if m["met"] else "no")
    console.print(c)
    console.print(
        f"pending review (automatic, not counted): {fig['pending_review']}; indicator met: {cc['met']}"
    )
