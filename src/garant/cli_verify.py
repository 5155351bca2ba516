"""`garant associate` and `garant verify`: the acoustic associator and the verification pipeline
on files, usable and checkable on their own; `garant pipeline`: the same on the store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def associate_command(
    stations: Annotated[Path, typer.Option(help="station_id,lon,lat[,elevation_m]", dir_okay=False)],
    detections: Annotated[
        Path,
        typer.Option(
            help="detection_id,station_id,time[,azimuth_deg] (time ISO 8601 with offset)", dir_okay=False
        ),
    ],
    out: Annotated[Path, typer.Option(help="folder for events.csv and assignments.csv")],
    speed: Annotated[float, typer.Option(help="speed of sound, m/s", min=200, max=450)] = 343.0,
    speed_by_hour: Annotated[
        str | None,
        typer.Option(help="24 comma-separated speeds (m/s) at 00:00 ... 23:00 UTC, instead of --speed"),
    ] = None,
    timing_sigma: Annotated[
        float, typer.Option(help="timing uncertainty of a detection, s", min=0.0001)
    ] = 0.025,
    azimuth_sigma: Annotated[
        float, typer.Option(help="azimuth uncertainty of an array, degrees", min=0.01)
    ] = 4.0,
    max_range: Annotated[float, typer.Option(help="farthest a blast is heard, m", min=100)] = 20_000.0,
    min_stations: Annotated[int, typer.Option(help="fewest sensors that make an event", min=3)] = 5,
) -> None:
    """Associate acoustic detections into located events with 95% error ellipses."""
    from garant.verify.acoustic import AssociationParams, Network, associate  # Numba, SciPy: when run
    from garant.verify.files import InputFileError, read_detections, read_stations, write_events

    try:
        st = read_stations(stations)
        det = read_detections(detections, st)
    except InputFileError as exc:
        for p in exc.problems:
            typer.echo(p, err=True)
        raise typer.Exit(2) from exc
    try:
        hourly = None if speed_by_hour is None else tuple(float(v) for v in speed_by_hour.split(","))
        params = AssociationParams(
            speed_ms=speed,
            speed_by_hour_utc=hourly,
            timing_sigma_s=timing_sigma,
            azimuth_sigma_deg=azimuth_sigma,
            max_range_m=max_range,
            min_stations=min_stations,
        )
    except ValueError as exc:
        typer.echo(f"--speed-by-hour: {exc}", err=True)
        raise typer.Exit(2) from exc
    began = time.perf_counter()
    network = Network.from_lonlat(st.lon, st.lat)
    events = associate(network, det.station, det.time_s, det.azimuth_deg, params)
    write_events(out, events, det)
    n_assoc = int((events.assignment >= 0).sum())
    console.print(
        f"{len(events)} events from {n_assoc} of {len(det.ids)} detections at {len(st.ids)} stations "
        f"in {time.perf_counter() - began:.1f} s -> {out / 'events.csv'}, {out / 'assignments.csv'}"
    )


def verify_command(
    observations: Annotated[
        Path, typer.Option(help="observations, Garant intake JSON lines", dir_okay=False)
    ],
    out: Annotated[Path, typer.Option(help="folder for events.csv, assignments.csv, violations.csv")],
    acoustic: Annotated[
        Path | None,
        typer.Option(
            help="folder with `garant associate` output (events.csv, assignments.csv)", file_okay=False
        ),
    ] = None,
    agreement: Annotated[
        list[str] | None,
        typer.Option(
            help="`demo` or an agreement YAML file; repeat it for the versions of an amended "
            "agreement, and each event is judged under the version in force at its time"
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(help="speed of sound, m/s, for bursts located from loose arrivals", min=200, max=450),
    ] = 343.0,
    timing_sigma: Annotated[
        float, typer.Option(help="timing uncertainty of a detection, s", min=0.0001)
    ] = 0.025,
) -> None:
    """Fuse, locate, attribute, classify and grade: the automatic bulletin from files."""
    import orjson

    from garant.evaluation.tables import EventFileError
    from garant.services.agreements import AgreementFileError, read_agreement
    from garant.verify.bulletin_files import read_acoustic, write_bulletin
    from garant.verify.bursts import BurstParams
    from garant.verify.evidence import AcousticEvents
    from garant.verify.files import detections_by_id
    from garant.verify.pipeline import run_pipeline

    began = time.perf_counter()
    try:
        versions = sorted(
            (read_agreement(a) for a in agreement or ["demo"]), key=lambda a: (a.entry_into_force, a.version)
        )
        terms = versions[0]
        blasts = read_acoustic(acoustic) if acoustic is not None else AcousticEvents.empty()
    except (AgreementFileError, EventFileError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    rows = []
    explained = {d for members in blasts.detections.values() for d in members}
    loose = []
    with observations.open("rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                typer.echo(f"{observations}:{line_no}: not JSON: {exc}", err=True)
                raise typer.Exit(2) from exc
            if row.get("kind") != "acoustic_detection":  # the acoustic engine's, via --acoustic
                rows.append(row)
            elif str(row.get("id") or row.get("client_id")) not in explained:
                loose.append(row)
    events = run_pipeline(
        rows,
        blasts,
        terms,
        progress=lambda s: console.print(s),
        loose_detections=loose,
        bursts=BurstParams(speed_ms=speed, timing_sigma_s=timing_sigma),
        detections_of=detections_by_id(observations),
        later_versions=versions[1:],
    )
    write_bulletin(out, events, tuple(p.code for p in terms.parties))
    n_viol = sum(len(e.breaches) for e in events)
    console.print(
        f"{len(events)} events, {n_viol} violations from {len(rows)} reports, {len(blasts)} located blasts "
        f"in {time.perf_counter() - began:.1f} s -> {out}"
    )


pipeline_app = typer.Typer(help="The automatic bulletin, built from the store.", no_args_is_help=True)


@pipeline_app.command("run")
def pipeline_run(
    batch: Annotated[int, typer.Option(help="detections taken in per transaction", min=1)] = 250_000,
) -> None:
    """Bring the automatic bulletin up to date with every observation accepted since the last
    run: the acoustic events, then the verified bulletin (fused, attributed, classified,
    graded events and their violations), each with a progress bar (detections taken in; the
    verified bulletin's steps: read, fuse and classify, write). The server does this by itself
    after each write; this is for loads done offline.
    Uses GARANT_ACOUSTIC_SPEED_MS and GARANT_ACOUSTIC_TIMING_SIGMA_S."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from garant.config import Settings
    from garant.services.bulletin import PIPELINE, update_acoustic
    from garant.services.verification import STEPS, update_verification
    from garant.store import events as ev_store
    from garant.store.db import migrate, open_database

    settings = Settings.from_env()
    db = open_database(settings.database_url)
    migrate(db)
    with db.read() as conn:
        pending = ev_store.pending_count(conn, ev_store.watermark(conn, PIPELINE))
    t0 = time.perf_counter()
    columns = (TextColumn("acoustic"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("acoustic", total=pending)
        report = update_acoustic(db, settings.acoustic_params(), batch, lambda n: bar.advance(task, n))
    console.print(
        f"{report.detections} acoustic detections taken in: {report.events_created} new events, "
        f"{report.events_updated} updated, {report.linked} detections linked "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    t1 = time.perf_counter()
    columns = (
        TextColumn("verified bulletin: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("reading the store", total=STEPS)
        fused = update_verification(
            db,
            progress=lambda s: bar.console.log(s),
            bursts=settings.burst_params(),
            steps=lambda done, total, what: bar.update(task, completed=done, total=total, description=what),
        )
    console.print(
        f"verified bulletin: {fused.events_created} new events, {fused.events_updated} revised, "
        f"{fused.events_closed} closed, {fused.violations} violations "
        f"in {time.perf_counter() - t1:.1f} s"
    )


@pipeline_app.command("export")
def pipeline_export(
    out: Annotated[Path, typer.Option(help="folder for events.csv, assignments.csv, violations.csv")],
    user: Annotated[str, typer.Option(help="the account whose view this is (what it may read)")],
    client_ids: Annotated[
        bool,
        typer.Option(help="name observations by their senders' client ids (as a simulator's truth does)"),
    ] = False,
    rejected: Annotated[bool, typer.Option(help="include rejected and merged-away events")] = False,
) -> None:
    """The verified bulletin in the store, in the files `garant verify` writes: for `garant eval`,
    for comparing the server's bulletin with a run on files, for spreadsheets. Read under `--user`
    through the need-to-know filter, like the API."""
    from garant.cli_review import _db, reader
    from garant.services.bulletin_export import export_bulletin

    db = _db()
    done = export_bulletin(db, out, reader(db, user), client_ids=client_ids, include_rejected=rejected)
    console.print(
        f"{done.events} events, {done.assignments} observations assigned, {done.violations} violations "
        f"-> {out / 'events.csv'}, {out / 'assignments.csv'}, {out / 'violations.csv'}"
    )


@pipeline_app.command("follow")
def pipeline_follow(
    interval: Annotated[
        float | None, typer.Option(help="seconds between polls of the log (default GARANT_BULLETIN_INTERVAL)")
    ] = None,
    nice: Annotated[int, typer.Option(help="lower this process's CPU priority by this much", min=0)] = 0,
    parent: Annotated[int | None, typer.Option(help="stop when this process is gone")] = None,
) -> None:
    """Keep the automatic bulletin up to date as the log grows, until stopped (SIGTERM, Ctrl-C)
    or the `--parent` process exits. `garant serve` runs one of these beside its workers."""
    import os
    import signal
    import threading

    from garant.config import Settings
    from garant.services.follower import follow, start_orphan_watch
    from garant.store.db import open_database

    if nice:
        os.nice(nice)
    stop = threading.Event()

    def terminate(*_: object) -> None:
        # at once, even mid-update: the update's transaction rolls back and the next run
        # takes its observations in again (the log is the watermark)
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if parent is not None:
        start_orphan_watch(parent, stop)
    settings = Settings.from_env()
    db = open_database(settings.database_url)

    def should_stop() -> bool:
        return stop.is_set() or (parent is not None and os.getppid() != parent)

    try:
        report = follow(
            db, settings, interval_s=interval or settings.bulletin_interval_s, should_stop=should_stop
        )
    except KeyboardInterrupt:
        return
    finally:
        db.dispose()
    console.print(f"bulletin follower stopped after {report.runs} updates ({report.failures} failed)")
