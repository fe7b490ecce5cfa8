"""Grid workers (网格员): roster, who gets a new incident, staffing gaps, tracks and 走遍率.

Assignment: an incident goes to its grid's primary worker when on duty; otherwise to the
on-duty worker of the same village, then of the same township, with the lowest
``distance_m + OPEN_CASE_PENALTY_M × open cases`` — near, but not piling cases on one person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, cast

import numpy as np
from numpy.typing import NDArray
from pydantic import ConfigDict, with_config
from sqlalchemy.orm import Session
from typing_extensions import (  # pydantic reads typing.TypedDict only from 3.12
    TypedDict,
)

import shapely

from gridmap import codes, crs, db, h3cells, hierarchy, lookup, times
from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import InvalidInputError, NotFoundError
from gridmap.vocabulary import Duty, WorkerRole

OPEN_CASE_PENALTY_M = 500.0  # one more open case weighs like half a kilometre more to walk
COVERAGE_RESOLUTION = 11  # ≈ 2,150 m² cells (≈ 25 m edge): a street front, a courtyard
TRACK_MAX_GAP_S = 600.0  # fixes further apart in time are not joined into a path
TRACK_MAX_JUMP_M = 2000.0  # nor are fixes further apart in space (a GPS jump, a bus ride)
TRACK_STEP_M = 5.0  # joined fixes are interpolated this densely before taking cells
MAX_FIXES = 100_000
# A fix this close outside the county still counts (GPS error, a road along the border).
COUNTY_TOLERANCE_M = 1000.0
MAX_COVERAGE_PERIOD = timedelta(days=31)


@with_config(ConfigDict(extra="forbid"))
class WorkerGridView(TypedDict):
    """One of a worker's grids and their duty there."""

    code: str
    duty: Duty
    duty_zh: str


@with_config(ConfigDict(extra="forbid"))
class WorkerView(TypedDict):
    """A worker as gridmap shows it: roster data, last known position, grids; less what the
    caller's role may not see (``NotRequired``: ``gridmap.auth.access.FIELDS``).
    """

    id: int
    county_code: str
    name: NotRequired[str]
    phone: NotRequired[str]
    role: WorkerRole
    on_duty: bool
    synthetic: bool
    last_seen: NotRequired[datetime | None]
    lon: NotRequired[float | None]
    lat: NotRequired[float | None]
    role_zh: str
    grids: list[WorkerGridView]


@with_config(ConfigDict(extra="forbid"))
class UnstaffedGrid(TypedDict):
    """A grid with no fulltime worker attached."""

    code: str
    name: str
    parent_code: str | None
    households: int


@with_config(ConfigDict(extra="forbid"))
class GridCoverage(TypedDict):
    """A grid's patrol coverage: its cells a track passed through, of all its cells."""

    grid: str
    cells: int
    visited: int
    coverage: float


@dataclass(frozen=True, slots=True)
class NewWorker:
    """A worker to add: name, role, and the grids they look after."""

    county_code: str
    name: str
    role: str = WorkerRole.FULLTIME
    phone: str = ""
    on_duty: bool = True
    primary_grids: tuple[str, ...] = ()
    supporting_grids: tuple[str, ...] = ()


def view(row: Any, grids: Sequence[tuple[str, str]]) -> WorkerView:
    """A worker row as the API shows it, with Chinese labels."""
    data: dict[str, Any] = row._asdict()
    data["role_zh"] = WorkerRole(data["role"]).zh
    data["grids"] = [WorkerGridView(code=g, duty=Duty(d), duty_zh=Duty(d).zh) for g, d in grids]
    return cast(WorkerView, data)


def get(session: Session, worker_id: int, *, scope: Scope = EVERYTHING) -> WorkerView | None:
    """One worker with their grids, or None."""
    row = db.workers.get(session, worker_id, scope)
    if row is None:
        return None
    return view(row, db.workers.grids_of(session, [worker_id])[worker_id])


def require(session: Session, worker_id: int, *, scope: Scope = EVERYTHING) -> WorkerView:
    """One worker with their grids; NotFoundError if missing or outside ``scope``."""
    found = get(session, worker_id, scope=scope)
    if found is None:
        raise NotFoundError(f"no worker {worker_id}", worker=worker_id)
    return found


def search(
    session: Session, *, scope: Scope = EVERYTHING, **filters: Any
) -> tuple[int, list[WorkerView]]:
    """Workers matching ``filters`` (county, code, on_duty, role, limit, offset)."""
    total, rows = db.workers.search(session, scope, **filters)
    grids = db.workers.grids_of(session, [row.id for row in rows])
    return total, [view(row, grids[row.id]) for row in rows]


def add(session: Session, new: Sequence[NewWorker]) -> list[int]:
    """Add workers and attach them to their grids (the caller commits); checks every code."""
    for worker in new:
        WorkerRole.parse(worker.role, what="role")
        if not worker.name.strip():
            raise InvalidInputError("a worker needs a name")
    for county in sorted({w.county_code for w in new}):
        hierarchy.get_unit(session, county, level="county")  # UnknownCodeError names it
    primaries = Counter(g for w in new for g in w.primary_grids)
    doubled = sorted(g for g, n in primaries.items() if n > 1)
    if doubled:
        raise InvalidInputError(
            f"grid {doubled[0]} is given two primary workers; a grid has one", grids=doubled
        )
    _check_grids(
        session,
        [(w.county_code, g) for w in new for g in (*w.primary_grids, *w.supporting_grids)],
    )
    ids = db.workers.create(
        session,
        [
            {
                "county_code": w.county_code,
                "name": w.name.strip(),
                "phone": w.phone,
                "role": w.role,
                "on_duty": w.on_duty,
            }
            for w in new
        ],
    )
    links = [
        {"worker_id": i, "grid_code": g, "county_code": w.county_code, "duty": duty}
        for i, w in zip(ids, new, strict=True)
        for duty, grids in ((Duty.PRIMARY, w.primary_grids), (Duty.SUPPORTING, w.supporting_grids))
        for g in grids
    ]
    if links:
        db.workers.assign(session, links)
    return ids


def assign(session: Session, worker_id: int, grid_codes: Sequence[str], *, duty: str) -> None:
    """Attach a worker to grids as ``primary`` (replacing the grid's primary) or ``supporting``."""
    Duty.parse(duty)
    worker = require(session, worker_id)
    _check_grids(session, [(worker["county_code"], g) for g in grid_codes])
    db.workers.assign(
        session,
        [
            {
                "worker_id": worker_id,
                "grid_code": g,
                "county_code": worker["county_code"],
                "duty": duty,
            }
            for g in grid_codes
        ],
    )


def _check_grids(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    """Every (county, grid) names a current grid of that county."""
    if not pairs:
        return
    for county, grid in pairs:
        codes.check_code(grid, "grid")
        if not grid.startswith(county):
            raise InvalidInputError(f"grid {grid} is not in county {county}", grid=grid)
    wanted = sorted({g for _, g in pairs})
    found = set(db.units.read(session, codes=wanted, level="grid")["code"])
    missing = [g for g in wanted if g not in found]
    if missing:
        raise NotFoundError(
            f"no current grid {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}",
            grids=missing[:20],
        )


def set_on_duty(session: Session, worker_id: int, on_duty: bool) -> WorkerView:
    """Set a worker on or off duty; return the worker."""
    if not db.workers.set_on_duty(session, worker_id, on_duty):
        raise NotFoundError(f"no worker {worker_id}", worker=worker_id)
    return require(session, worker_id)


def choose(session: Session, where: lookup.Location) -> int | None:
    """Who takes an incident when the grid's primary worker is off duty (or there is none):
    the best on-duty worker of the village, else of the township, else nobody (the township
    dispatches by hand). Intake runs the same SQL inside its one statement.
    """
    return db.workers.choose(
        session,
        village_code=where.village,
        township_code=where.township,
        lon=where.lon,
        lat=where.lat,
        penalty_m=OPEN_CASE_PENALTY_M,
    )


def unstaffed(session: Session, county: str) -> list[UnstaffedGrid]:
    """Grids of ``county`` without a fulltime worker (每个网格至少一名专职网格员)."""
    hierarchy.get_unit(session, county, level="county")
    return [
        cast(UnstaffedGrid, row._asdict()) for row in db.workers.unstaffed_grids(session, county)
    ]


def record_track(
    session: Session,
    worker_id: int,
    lon: Sequence[float] | NDArray[np.float64],
    lat: Sequence[float] | NDArray[np.float64],
    recorded_at: Sequence[datetime],
    *,
    crs_name: str = "wgs84",
    accuracy_m: Sequence[float | None] | None = None,
    now: datetime | None = None,
    bounds: times.Bounds = times.DEFAULT,
) -> int:
    """Store a batch of GPS fixes of one worker (any CRS); fixes already stored are skipped.

    Return how many were new. Times must carry a timezone and lie within ``bounds`` of ``now``
    (they are stored in UTC); every fix must lie in the worker's county or within
    :data:`COUNTY_TOLERANCE_M` of its boundary. One bad fix refuses the batch, naming it, so a
    phone can drop it and resend the rest: nothing is stored half.
    """
    count = len(lon)
    if not count == len(lat) == len(recorded_at):
        raise InvalidInputError("lon, lat and recorded_at must have the same length")
    if count > MAX_FIXES:
        raise InvalidInputError(f"{count} fixes exceed the limit of {MAX_FIXES} per call")
    recorded_at = times.check_all(
        recorded_at, now=now or datetime.now(UTC), field="recorded_at", bounds=bounds
    )
    worker = require(session, worker_id)
    crs_name = crs.check_crs(crs_name)
    lon_arr, lat_arr = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    crs.check_lonlat(lon_arr, lat_arr)
    wlon, wlat = crs.to_wgs84(lon_arr, lat_arr, crs_name)
    outside = db.workers.outside_county(
        session,
        worker["county_code"],
        np.asarray(wlon).tolist(),
        np.asarray(wlat).tolist(),
        COUNTY_TOLERANCE_M,
    )
    if outside:
        n = outside[0]
        raise InvalidInputError(
            f"fix {n} ({lon_arr[n]:.6f}, {lat_arr[n]:.6f} {crs_name}) lies outside county "
            f"{worker['county_code']}"
            + (f" ({len(outside)} fixes in all)" if len(outside) > 1 else "")
            + "; drop it and resend the rest",
            fix=n,
            fixes=outside[:100],
        )
    cells = h3cells.lonlat_to_cells(np.asarray(wlon), np.asarray(wlat), COVERAGE_RESOLUTION)
    return db.workers.add_positions(
        session,
        worker_id=worker_id,
        county_code=worker["county_code"],
        recorded_at=recorded_at,
        lon=np.asarray(wlon).tolist(),
        lat=np.asarray(wlat).tolist(),
        accuracy_m=list(accuracy_m) if accuracy_m is not None else [None] * count,
        h3_cell=cells.view(np.int64).tolist(),
    )


def visited_cells(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    seconds: NDArray[np.float64],
    track: NDArray[np.int64],
) -> NDArray[np.uint64]:
    """Resolution-11 cells a set of tracks passed through, sorted and unique.

    Consecutive fixes of one track (same ``track`` id, time-sorted) are joined when they are
    close in time and space, and the segment is sampled every TRACK_STEP_M metres, so a walk
    down a street counts the cells between two fixes. Vectorized over all segments.
    """
    if len(lon) == 0:
        return np.zeros(0, dtype=np.uint64)
    x, y = crs.to_metres(lon, lat, (float(np.mean(lon)), float(np.mean(lat)))).T
    dx, dy = np.diff(x), np.diff(y)
    length = np.hypot(dx, dy)
    joined = (
        (track[1:] == track[:-1])
        & (np.diff(seconds) <= TRACK_MAX_GAP_S)
        & (length <= TRACK_MAX_JUMP_M)
    )
    steps = np.where(joined, np.ceil(length / TRACK_STEP_M).astype(np.int64), 0)
    start = np.repeat(np.arange(len(steps)), steps)
    offset = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
    fraction = (offset + 1) / np.repeat(np.maximum(steps, 1), steps)
    sample_lon = lon[start] + (lon[start + 1] - lon[start]) * fraction
    sample_lat = lat[start] + (lat[start + 1] - lat[start]) * fraction
    cells = h3cells.lonlat_to_cells(
        np.concatenate((lon, sample_lon)), np.concatenate((lat, sample_lat)), COVERAGE_RESOLUTION
    )
    return np.unique(cells)


def grid_cells(geoms: NDArray[np.object_]) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """Resolution-11 cells of each grid (centre inside; a grid smaller than a cell gets the
    cell of a point inside it): (grid position, cell) pairs.
    """
    owner, cells = h3cells.polygons_to_cells(geoms, COVERAGE_RESOLUTION, "centroid")
    empty = np.setdiff1d(np.arange(len(geoms)), owner)
    if len(empty):
        inside = shapely.point_on_surface(geoms[empty])
        owner = np.concatenate((owner, empty))
        found = h3cells.lonlat_to_cells(
            shapely.get_x(inside), shapely.get_y(inside), COVERAGE_RESOLUTION
        )
        cells = np.concatenate((cells, found))
    return owner, cells


def coverage(
    session: Session,
    *,
    county: str,
    since: datetime,
    until: datetime,
    code: str | None = None,
    worker_id: int | None = None,
    scope: Scope = EVERYTHING,
) -> list[GridCoverage]:
    """走遍率 per grid in [since, until): the share of the grid's cells some track passed through
    (only ``worker_id``'s track if given). ``code`` narrows to grids under a township, village
    or grid code.
    """
    hierarchy.get_unit(session, county, level="county")
    if until <= since:
        raise InvalidInputError("the period is empty: 'until' must be after 'since'")
    if until - since > MAX_COVERAGE_PERIOD:
        raise InvalidInputError(
            f"the period is {until - since}; coverage is computed for at most "
            f"{MAX_COVERAGE_PERIOD.days} days at a time"
        )
    grids = db.units.read(session, county=county, level="grid")
    if code is not None:
        grids = grids[grids["code"].str.startswith(code)]
    if grids.empty:
        raise NotFoundError(f"no grids under {code or county}", code=code or county)
    fixes = db.workers.positions(
        session, scope, county=county, since=since, until=until, worker_id=worker_id
    )
    lon = np.array([f.lon for f in fixes], dtype=float)
    lat = np.array([f.lat for f in fixes], dtype=float)
    seconds = np.array([f.recorded_at.timestamp() for f in fixes], dtype=float)
    track = np.array([f.worker_id for f in fixes], dtype=np.int64)
    visited = visited_cells(lon, lat, seconds, track)
    owner, cells = grid_cells(np.asarray(grids.geometry.values, dtype=object))
    hit = np.isin(cells, visited)
    total = np.bincount(owner, minlength=len(grids))
    seen = np.bincount(owner, weights=hit, minlength=len(grids)).astype(int)
    return [
        GridCoverage(
            grid=grid,
            cells=int(n),
            visited=int(v),
            coverage=round(int(v) / int(n), 4) if n else 0.0,  # a float, not numpy
        )
        for grid, n, v in zip(grids["code"], total, seen, strict=True)
    ]
