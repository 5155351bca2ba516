"""The automatic bulletin's acoustic part: detections in the store -> located events in the store.

Runs the same engine as `garant associate` (`garant.verify.acoustic.IncrementalAssociator`),
fed from the database instead of files. Each run takes the acoustic detections accepted since
the last run (a watermark on the transparency log: `garant.store.events.watermark`), restores
from the store only what they can touch (the live events whose origin time is within a travel
time of them, with their detections, and the detections no event has taken nearby), adds the
new ones, and writes back:
events that gained detections are relocated and keep their id (revision + 1), new events get a
new id, and each detection is linked to the event it explains. History outside that window is
not read again. Two runs at once cannot both write: the watermark moves only from the value a
run started from, so the second rolls back and starts over from the first one's result.

A sensor is a sensor id of a nation where it stood: its reported position may jitter by a few
metres, but a sensor reported more than `MOVED_M` away was moved and becomes another station
for the engine, as it is physically. The engine runs outside any write transaction (intake never
waits on it); the write then checks that no other run moved the watermark meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from garant.domain.ids import new_ids
from garant.store import events as ev_store
from garant.store.db import Database
from garant.verify.acoustic import AssociationParams, IncrementalAssociator, Network

PIPELINE = "acoustic"
MOVED_M = 100.0  # a sensor reported farther than this from where it was has been moved
SEPARABLE_S = 0.05  # arrivals at one sensor closer than this are not two arrivals


@dataclass
class RunReport:
    detections: int = 0
    events_created: int = 0
    events_updated: int = 0
    linked: int = 0
    batches: int = 0
    created_ids: list[str] = field(default_factory=list)


class StaleWatermark(RuntimeError):
    """Another run advanced the bulletin while this one worked; its writes were rolled back."""


def _epoch(t: datetime) -> float:
    return t.timestamp()


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def update_acoustic(
    db: Database,
    params: AssociationParams | None = None,
    batch: int = 250_000,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Take in every acoustic detection accepted since the last run; returns what changed.
    `progress` is called with the number of detections taken in after each batch."""
    p = params or AssociationParams()
    report = RunReport()
    while True:
        for _attempt in range(5):
            try:
                done = _one_batch(db, p, batch, report)
                break
            except StaleWatermark:
                continue
        else:
            raise StaleWatermark("the bulletin kept moving under this run; try again")
        if done is None:
            return report
        report.batches += 1
        if progress is not None:
            progress(done)


def _stations(dets: list[ev_store.Detection]) -> tuple[list[int], list[float], list[float]]:
    """The engine's station of each detection, and the stations' positions. A sensor is a
    sensor id of a nation; its reported position jitters (GPS), so a detection joins the first
    station of that sensor within `MOVED_M`; farther, the sensor was moved: a new station."""
    index: list[int] = []
    lon: list[float] = []
    lat: list[float] = []
    by_sensor: dict[tuple[str, str], list[int]] = {}
    for d in dets:
        nation, sensor, x, y = d.sensor
        known = by_sensor.setdefault((nation, sensor), [])
        coslat = math.cos(math.radians(y))
        near = next(
            (k for k in known if math.hypot((lon[k] - x) * coslat, lat[k] - y) * 111_195.0 <= MOVED_M), None
        )
        if near is None:
            near = len(lon)
            lon.append(x)
            lat.append(y)
            known.append(near)
        index.append(near)
    return index, lon, lat


def _separable(
    station: npt.NDArray[np.int64], times: npt.NDArray[np.float64], kept: int
) -> npt.NDArray[np.bool_]:
    """Which detections the engine gets: a sensor cannot tell apart arrivals closer than its
    dead time, so of detections at one station within `SEPARABLE_S` of each other only the
    first is associated (the others stay in the store, unassociated). The first `kept` rows
    (detections of stored events) are always kept. Without this a flood of co-timed reports
    from one sensor would make every seed test every pair of them."""
    ok = np.ones(len(times), dtype=bool)
    order = np.lexsort((times, station))
    last_station, last_time = -1, -np.inf
    for i in order:
        if station[i] == last_station and times[i] - last_time < SEPARABLE_S and i >= kept:
            ok[i] = False
            continue
        last_station, last_time = int(station[i]), float(times[i])
    return ok


def _one_batch(db: Database, p: AssociationParams, batch: int, report: RunReport) -> int | None:
    # read what the new detections can touch, and run the engine, outside any write lock: intake
    # never waits on the engine; the write below checks that no other run moved the bulletin
    with db.read() as conn:
        seen = ev_store.watermark(conn, PIPELINE)
        new, upto = ev_store.new_detections(conn, seen, batch)
        if new:
            reach = p.max_range_m / float(p.speeds().min())
            tol = 4.0 * p.timing_sigma_s
            t_new = np.array([_epoch(d.time) for d in new])
            lo, hi = float(t_new.min()), float(t_new.max())
            stored, free = ev_store.context(
                conn,
                _when(lo - reach - tol),
                _when(hi + tol),
                _when(lo - 2.0 * reach),
                _when(hi + 2.0 * reach),
                seen,
            )
    if not new:
        if upto > seen:
            with db.write() as conn:
                if not ev_store.advance_watermark(conn, PIPELINE, seen, upto, datetime.now(UTC)):
                    raise StaleWatermark
        return None
    new_ids_set = {d.id for d in new}
    free = [d for d in free if d.id not in new_ids_set]
    members = [d for e in stored for d in e.members]
    membership_all = [i for i, e in enumerate(stored) for _ in e.members] + [-1] * (len(free) + len(new))
    everyone = members + free + new
    station_all, s_lon, s_lat = _stations(everyone)
    times = np.array([_epoch(d.time) for d in everyone])
    used = np.flatnonzero(_separable(np.asarray(station_all), times, len(members)))
    n_old = int(np.searchsorted(used, len(members) + len(free)))  # used rows before the new ones
    station = np.asarray(station_all)[used]
    azimuth = np.array([np.nan if everyone[i].azimuth_deg is None else everyone[i].azimuth_deg for i in used])
    network = Network.from_lonlat(s_lon, s_lat)
    assoc = IncrementalAssociator(network, p)
    assoc.restore(
        station[:n_old],
        times[used[:n_old]],
        azimuth[:n_old],
        np.asarray(membership_all)[used[:n_old]],
        [e.lon for e in stored],
        [e.lat for e in stored],
        [_epoch(e.time) for e in stored],
    )
    gained, created = assoc.add(station[n_old:], times[used[n_old:]], azimuth[n_old:])
    _, located = assoc.events()
    now = datetime.now(UTC)
    fresh = dict(zip(created, new_ids(len(created)), strict=True))
    ids = [e.id for e in stored]

    def row(k: int) -> dict[str, object]:
        return {
            "time": _when(float(located.time[k])),
            "lon": float(located.lon[k]),
            "lat": float(located.lat[k]),
            "semi_major_m": float(located.semi_major_m[k]),
            "semi_minor_m": float(located.semi_minor_m[k]),
            "azimuth_deg": float(located.azimuth_deg[k]),
            "rms_s": float(located.rms_s[k]),
            "n_observations": int(located.n_detections[k]),
            "updated_at": now,
        }

    pairs = []
    for j in range(int(np.searchsorted(used, len(members))), len(used)):  # free and new ones
        k = int(located.assignment[j])
        if k >= 0:
            pairs.append((everyone[int(used[j])].id, fresh.get(k) or ids[k]))
    with db.write() as conn:
        if not ev_store.advance_watermark(conn, PIPELINE, seen, upto, now):
            raise StaleWatermark
        ev_store.insert_events(
            conn,
            [
                {
                    **row(k),
                    "id": fresh[k],
                    "kind": "acoustic",
                    "evaluation_mode": "automatic",
                    "status": "preliminary",
                    "revision": 1,
                    "created_at": now,
                }
                for k in created
            ],
        )
        ev_store.update_events(conn, [{**row(k), "id": ids[k]} for k in gained])
        ev_store.link(conn, pairs)
    report.detections += len(new)
    report.events_created += len(created)
    report.events_updated += len(gained)
    report.linked += len(pairs)
    report.created_ids += [fresh[k] for k in created]
    return len(new)
