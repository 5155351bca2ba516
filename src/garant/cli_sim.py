"""`garant sim` and `garant eval`: generate a scenario with its truth, and score output against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from garant.cli_json import JsonOut, emit_json
from garant.services.agreements import AgreementFileError
from garant.sim.scenario import load_scenario, shipped_scenarios

console = Console()
err_console = Console(stderr=True)


def sim(
    out: Annotated[Path, typer.Option(help="folder to write (created; files in it are replaced)")],
    scenario: Annotated[
        str, typer.Option(help=f"scenario YAML file, or a shipped one: {', '.join(shipped_scenarios())}")
    ] = "quiet-day",
    seed: Annotated[int | None, typer.Option(help="random seed (default: the scenario's)", min=0)] = None,
    hours: Annotated[
        float | None, typer.Option(help="run this many hours instead of the scenario's", min=0.01)
    ] = None,
) -> None:
    """Simulate a scenario: observations in intake format, the acoustic network, and the truth."""
    from garant.sim.run import run_scenario  # here: with SciPy, 1 s of every command's start

    try:
        sc, path = load_scenario(scenario, seed)
    except AgreementFileError as exc:
        for p in exc.problems:
            typer.echo(p.format(exc.file), err=True)
        raise typer.Exit(2) from exc
    if hours is not None:
        sc = sc.model_copy(update={"hours": hours})
    progress = Progress(
        TextColumn("[bold]sim"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TimeElapsedColumn(),
        console=err_console,
    )
    with progress:
        task = progress.add_task("sim", total=None)
        try:
            summary = run_scenario(
                sc,
                out,
                scenario_file=path,
                on_window=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ValueError as exc:
            typer.echo(f"{path}: {exc}", err=True)
            raise typer.Exit(2) from exc
    table = Table("", "count", title=f"{sc.name}, seed {sc.seed}, {sc.hours:g} h -> {out}")
    counts = summary.as_dict()
    for kind, n in counts["incidents"].items():
        table.add_row(f"incidents: {kind}", str(n))
    table.add_row("rounds fired", str(counts["rounds"]))
    table.add_row("blasts (launches and impacts)", str(counts["blasts"]))
    for kind, n in counts["observations"].items():
        table.add_row(f"observations: {kind}", str(n))
    table.add_row("acoustic detections: false", str(counts["false_detections"]))
    table.add_row("acoustic sensors", str(counts["sensors"]))
    console.print(table)
    console.print(f"{summary.seconds:.1f} s, peak memory {summary.peak_rss_mb:.0f} MB")


def eval_command(
    truth: Annotated[Path, typer.Option(help="a `garant sim` output folder", exists=True, file_okay=False)],
    events: Annotated[Path, typer.Option(help="the events to score (CSV)", exists=True, dir_okay=False)],
    assignments: Annotated[
        Path | None,
        typer.Option(help="observation -> event (CSV), for false allegations", exists=True, dir_okay=False),
    ] = None,
    level: Annotated[
        str, typer.Option(help="incident (fused events) or blast (acoustic events)")
    ] = "incident",
    distance_m: Annotated[float | None, typer.Option(help="match tolerance in metres", min=0)] = None,
    time_s: Annotated[float | None, typer.Option(help="match tolerance in seconds", min=0)] = None,
    min_detections: Annotated[
        int, typer.Option(help="blast level: score blasts heard by this many", min=1)
    ] = 4,
    json_out: JsonOut = None,
) -> None:
    """Score events against a simulation's truth: F1, location error vs the Cramér–Rao bound,
    ellipse coverage, attribution calibration, classification by provision, false allegations."""
    from garant.evaluation.score import EvalOptions, evaluate  # SciPy: imported when run
    from garant.evaluation.tables import EventFileError

    if level not in ("incident", "blast"):
        typer.echo("--level must be incident or blast", err=True)
        raise typer.Exit(2)
    try:
        report = evaluate(truth, events, assignments, EvalOptions(level, distance_m, time_s, min_detections))
    except (EventFileError, FileNotFoundError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if not emit_json(json_out, report):
        print_report(report)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_report(r: dict[str, Any]) -> None:
    t = Table("measure", "value", title=f"garant eval ({r['level']} level)")
    tol = r["tolerance"]
    t.add_row("match tolerance", f"{tol['distance_m']:g} m, {tol['time_s']:g} s")
    t.add_row("true events (scored / all)", f"{r['true_events_scored']} / {r['true_events']}")
    t.add_row("found events", str(r["found_events"]))
    t.add_row("matched", str(r["matched_scored"]))
    for k in ("precision", "recall", "f1"):
        t.add_row(k, _fmt(r[k]))
    loc = r["location_error"]
    t.add_row("location error median / p90 (m)", f"{_fmt(loc['median_m'], 1)} / {_fmt(loc['p90_m'], 1)}")
    if "origin_error" in r:
        o = r["origin_error"]
        t.add_row("origin error median / p90 (m)", f"{_fmt(o['median_m'], 1)} / {_fmt(o['p90_m'], 1)}")
    if "cramer_rao" in r:
        c = r["cramer_rao"]
        t.add_row("Cramér–Rao bound, median (m)", _fmt(c["median_bound_matched_m"], 1))
        t.add_row("error / bound (median of ratios)", _fmt(c["median_error_over_bound"], 2))
        t.add_row("median error / median bound", _fmt(c["median_error_over_median_bound"], 2))
    t.add_row("95% ellipse coverage", f"{_fmt(r['ellipse_95']['coverage'])} (n={r['ellipse_95']['n']})")
    att = r.get("attribution") or {}
    if att.get("n_attributed"):
        t.add_row("attributed / undetermined", f"{att['n_attributed']} / {att['n_undetermined']}")
        t.add_row("attribution accuracy", _fmt(att["accuracy"]))
        t.add_row(
            "accuracy, origin >= 2 km from line",
            f"{_fmt(att['accuracy_origin_ge_2km'])} (n={att['n_origin_ge_2km']})",
        )
        t.add_row("Brier score", _fmt(att["brier"], 4))
    fa = r.get("false_allegations")
    if fa:
        t.add_row("false allegations verified", f"{_fmt(fa.get('verified'))} of {fa['false_total']}")
        if "blamed" in fa:
            t.add_row("false allegations blamed (corroborated+)", f"{fa['blamed']} of {fa['false_total']}")
    console.print(t)
    if att.get("reliability"):
        rel = Table("forecast", "n", "mean forecast", "observed", title="reliability (attribution)")
        for row in att["reliability"]:
            rel.add_row(row["bin"], str(row["n"]), _fmt(row["mean_forecast"]), _fmt(row["observed"]))
        console.print(rel)
    cls = r.get("classification") or {}
    if cls.get("by_provision"):
        console.print(_provision_table(cls["by_provision"], "classification by provision"))
        lead = cls.get("excluding_leads") or {}
        if lead.get("by_provision"):
            title = (
                "classification by provision, without the "
                f"{lead['incidents_excluded']} incidents revealed by allegations alone"
            )
            console.print(_provision_table(lead["by_provision"], title))


def _provision_table(by_provision: dict[str, dict[str, Any]], title: str) -> Table:
    pt = Table("provision", "tp", "fp", "fn", "precision", "recall", "f1", title=title)
    for p, v in by_provision.items():
        pt.add_row(
            p,
            str(v["tp"]),
            str(v["fp"]),
            str(v["fn"]),
            _fmt(v["precision"]),
            _fmt(v["recall"]),
            _fmt(v["f1"]),
        )
    return pt
