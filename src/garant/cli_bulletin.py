"""`garant events list` and `garant violations list`: the bulletin on the local database, read
under a named account (`--user`) through the same need-to-know filter as the API, with its
filters; `--json` gives the API's GeoJSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from garant.cli_json import JsonOut, emit_json

console = Console()
ID_WIDTH = 36  # a UUID, shown whole so it can be copied into `garant review act`
events_app = typer.Typer(
    help="The bulletin's events (located blasts and fused events).", no_args_is_help=True
)
violations_app = typer.Typer(help="Violations of the agreement's provisions.", no_args_is_help=True)

User = Annotated[str, typer.Option(help="the account whose view this is (what it may read)")]
Start = Annotated[datetime | None, typer.Option(help="event time >= start (ISO 8601 with offset)")]
End = Annotated[datetime | None, typer.Option(help="event time < end (ISO 8601 with offset)")]
Limit = Annotated[int, typer.Option(help="at most this many rows, oldest first", min=1, max=1_000_000)]


def _aware(option: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        typer.echo(f"{option}: give a UTC offset (e.g. Z)", err=True)
        raise typer.Exit(2)
    return value


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}


@events_app.command("list")
def list_events(
    user: User,
    start: Start = None,
    end: End = None,
    kind: Annotated[list[str] | None, typer.Option(help="event kind, repeated")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="preliminary, confirmed, reviewed, rejected; repeated")
    ] = None,
    limit: Limit = 100,
    json_out: JsonOut = None,
) -> None:
    """Events of the bulletin, oldest first."""
    from garant.cli_review import _db, reader
    from garant.services.bulletin_views import event_feature
    from garant.store import events as ev_store

    db = _db()
    who = reader(db, user)
    chosen = ev_store.EventFilter(
        viewer=who, start=_aware("--start", start), end=_aware("--end", end),
        kinds=tuple(kind or ()), statuses=tuple(status or ()), limit=limit,
    )  # fmt: skip
    with db.read() as conn:
        rows = ev_store.list_events(conn, chosen)
    features = [event_feature(r) for r in rows]
    if emit_json(json_out, _collection(features)):
        return
    t = Table(title=f"events ({len(rows)}), oldest first")
    t.add_column("event", no_wrap=True, min_width=ID_WIDTH)
    for name in ("kind", "time (UTC)", "status", "level", "weapon class", "attribution"):
        t.add_column(name)
    for f in features:
        p = f["properties"]
        att = p.get("attribution")
        shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(att.items())) if att else "-"
        t.add_row(
            p["id"], p["kind"], p["time"], p["status"], p.get("level") or "-",
            p.get("weapon_class") or "-", shown,
        )  # fmt: skip
    console.print(t)


@violations_app.command("list")
def list_violations(
    user: User,
    start: Start = None,
    end: End = None,
    provision: Annotated[list[str] | None, typer.Option(help="provision id, repeated")] = None,
    party: Annotated[list[str] | None, typer.Option(help="attributed party code, repeated")] = None,
    level: Annotated[
        list[str] | None, typer.Option(help="reported, corroborated, verified, rejected; repeated")
    ] = None,
    withdrawn: Annotated[bool, typer.Option(help="include violations a later revision withdrew")] = False,
    limit: Limit = 100,
    json_out: JsonOut = None,
) -> None:
    """Violations (one per provision an event breaches), oldest first."""
    from garant.cli_review import _db, reader
    from garant.services.bulletin_views import violation_feature
    from garant.store import verified as vstore

    db = _db()
    who = reader(db, user)
    chosen = vstore.ViolationFilter(
        viewer=who, start=_aware("--start", start), end=_aware("--end", end),
        provisions=tuple(provision or ()), parties=tuple(party or ()), levels=tuple(level or ()),
        include_withdrawn=withdrawn, limit=limit,
    )  # fmt: skip
    with db.read() as conn:
        rows = vstore.list_violations(conn, chosen)
    features = [violation_feature(r) for r in rows]
    if emit_json(json_out, _collection(features)):
        return
    t = Table(title=f"violations ({len(rows)}), oldest first")
    t.add_column("event", no_wrap=True, min_width=ID_WIDTH)
    for name in ("time (UTC)", "provision", "party (p)", "level", "weapon class"):
        t.add_column(name)
    for f in features:
        p = f["properties"]
        who_p = f"{p['party']} ({p['party_probability']:.2f})" if p["party"] else "undetermined"
        t.add_row(
            p["event_id"], p["time"], p["provision"], who_p, p["level"],
            p["severity"]["weapon_class"] or "-",
        )  # fmt: skip
    console.print(t)
