"""`garant review` (the analysts' queue and acts) and `garant stats` (the ceasefire's figures),
on the local database. Acts are recorded under a named analyst account (`--analyst`): the
operator's shell is not an analyst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

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


def reader(db: Database, username: str, option: str = "--user") -> Principal:
    """The named account's view (what it may read): the same need-to-know filter as the API."""
    return _account(db, username, option, Permission.READ_OBSERVATIONS, "read the bulletin")


def _analyst(db: Database, username: str) -> Principal:
    return _account(db, username, "--analyst", Permission.REVIEW_EVENTS, "review events")


def _account(db: Database, username: str, option: str, needs: Permission, to: str) -> Principal:
    """The active account `username`, if it holds `needs`; else exit 2 naming `option`."""
    from garant.services.identity import principal_of

    who = principal_of(db, username)
    if who is None:
        typer.echo(f"{option}: no active user {username!r}", err=True)
        raise typer.Exit(2)
    if not who.may(needs):
        typer.echo(f"{option}: {username!r} ({who.role.value}) may not {to}", err=True)
        raise typer.Exit(2)
    return who


@review_app.command("queue")
def queue(
    analyst: Annotated[str, typer.Option(help="the analyst account whose view this is")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json_out: JsonOut = None,
) -> None:
    """Events awaiting review, most severe first, then leads (`--json`: a GeoJSON FeatureCollection)."""
    from garant.services.bulletin_views import event_feature
    from garant.store import verified as vstore

    db = _db()
    who = _analyst(db, analyst)
    with db.read() as conn:
        rows = vstore.review_queue(conn, who, limit, None)
    features = [event_feature(r) for r in rows]
    for f, r in zip(features, rows, strict=True):
        if "lead" in r:  # an event resting on allegations alone, listed after the rest
            f["properties"]["lead"] = r["lead"]
    collection = {"type": "FeatureCollection", "features": features}
    if emit_json(json_out, collection):
        return
    t = Table(title="review queue, most severe first, then leads (allegations alone: task a check)")
    t.add_column("event", no_wrap=True)
    for name in ("kind", "time (UTC)", "level", "severity", "attribution"):
        t.add_column(name)
    for r in rows:
        probs = orjson.loads(r["attribution"]) if r["attribution"] else None
        att = ", ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items())) if probs else "undetermined"
        kind = f"{r['kind']} (lead)" if r["lead"] else r["kind"]
        t.add_row(r["id"], kind, f"{r['time']:%m-%d %H:%M}", r["level"], f"{r['severity'] or 0:.1f}", att)
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
    reason: Annotated[str, typer.Option(help="why (required; a task's instructions stand for it)")] = "",
    lon: Annotated[float | None, typer.Option(help="relocate, split: longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="relocate, split: latitude")] = None,
    party: Annotated[list[str] | None, typer.Option(help="reattribute: PARTY=PROBABILITY, repeated")] = None,
    undetermined: Annotated[bool, typer.Option(help="reattribute: no party can be named")] = False,
    event: Annotated[list[str] | None, typer.Option(help="merge: an event to fold in, repeated")] = None,
    observation: Annotated[
        list[str] | None,
        typer.Option(help="split: a report to move out; task_outcome: a patrol's report to join; repeated"),
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
    from garant.config import Settings
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
        done = apply(db, event_id, req, who, Settings.from_env().burst_params())
    except ReviewError as exc:
        typer.echo(f"{exc.field}: {exc.reason}", err=True)
        raise typer.Exit(2 if exc.status != 404 else 1) from exc
    after = done["event"] or {}
    console.print(
        f"{done['act']} recorded as {done['id']} by {who.name}: event {event_id} is now "
        f"{after.get('status')} ({after.get('level')}), revision {after.get('revision')}"
    )


@review_app.command("acts")
def acts(
    event_id: Annotated[str, typer.Argument(help="the event's id")],
    user: Annotated[str, typer.Option(help="the account whose view this is")],
    json_out: JsonOut = None,
) -> None:
    """The review acts on one event, oldest first: who, when, what and why."""
    from garant.services.bulletin_views import act_json
    from garant.store import events as ev_store
    from garant.store import verified as vstore

    db = _db()
    who = reader(db, user)
    with db.read() as conn:
        if ev_store.get_event(conn, event_id, who) is None:  # absent or not released: alike
            typer.echo(f"no event with id {event_id!r}", err=True)
            raise typer.Exit(1)
        rows = [act_json(r) for r in vstore.acts_of(conn, event_id)]
    if emit_json(json_out, {"event_id": event_id, "acts": rows}):
        return
    t = Table(title=f"review acts on {event_id}, oldest first")
    for name in ("act", "id", "at (UTC)", "by", "reason"):
        t.add_column(name)
    for a in rows:
        t.add_row(a["act"], a["id"], a["at"], f"{a['actor']} ({a['actor_org']})", a["reason"] or "")
    console.print(t)


def stats_command(
    start: Annotated[
        datetime | None, typer.Option(help="from (ISO 8601 with offset); default end - 30 days")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="to, exclusive; default now")] = None,
    window: Annotated[
        int, typer.Option(help="days of the rolling means (days before --start included)", min=1, max=366)
    ] = 7,
    party_threshold: Annotated[
        float,
        typer.Option(help="an event counts to a party at this probability (> 0.5) or above", max=1.0),
    ] = 0.9,
    json_out: JsonOut = None,
) -> None:
    """Figures of the ceasefire from the reviewed bulletin: verified violations by day, party,
    provision, weapon class and sector (incidents = events, and violation rows), rolling means,
    and the credible-cessation indicator."""
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
    if t0 >= t1:
        typer.echo("--start: must be before --end", err=True)
        raise typer.Exit(2)
    if not 0.5 < party_threshold <= 1.0:
        typer.echo("--party-threshold: must be above 0.5 and at most 1", err=True)
        raise typer.Exit(2)
    fig = ceasefire_figures(
        db, SYSTEM, agreement, t0, t1, window_days=window, party_threshold=party_threshold
    )
    if emit_json(json_out, fig):
        return
    _print_figures(fig)
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


_TITLES = {
    "party": "by party (an event counts at p >= {threshold}; else undetermined)",
    "provision": "by provision",
    "weapon_class": "by weapon class",
    "sector": "by sector (50 km of contact line)",
}


def _print_figures(fig: dict[str, Any]) -> None:
    """The daily table, then one table per dimension: incidents (events) and violation rows."""
    w = fig["window_days"]
    t = Table(
        "date", "incidents", "violations", f"{w}-day mean incidents", f"{w}-day mean violations",
        title=f"verified violations ({fig['agreement']}): incidents are events, violations rows",
    )  # fmt: skip
    for d in fig["daily"]:
        if d["verified_violations"] or d is fig["daily"][0] or d is fig["daily"][-1]:
            t.add_row(
                d["date"], str(d["verified_incidents"]), str(d["verified_violations"]),
                f"{d['rolling']['incidents']:.2f}", f"{d['rolling']['violations']:.2f}",
            )  # fmt: skip
    console.print(t)
    last = fig["daily"][-1] if fig["daily"] else {}
    for dim, title in _TITLES.items():
        party = dim == "party"
        cols = ["", "incidents", "violations"]
        cols += ["expected incidents", "expected violations"] if party else []
        cols += [f"{w}-day mean incidents, {last.get('date', '')}"]
        d = Table(*cols, title=title.format(threshold=fig["party_threshold"]))
        for key, cell in fig["totals"][dim].items():
            mean = last.get(f"by_{dim}", {}).get(key, {}).get("rolling_incidents", 0.0)
            extra = [f"{cell.get('expected_incidents', 0):.2f}", f"{cell.get('expected_violations', 0):.2f}"]
            d.add_row(
                key, str(cell.get("incidents", 0)), str(cell.get("violations", 0)),
                *(extra if party else []), f"{mean:.2f}",
            )  # fmt: skip
        console.print(d)
