"""Grid workers (网格员), their grids, and their GPS tracks; reads go through ``scoped``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from gridmap.db.models import Position, Unit, Worker, WorkerGrid
from gridmap.db.scope import Scope, scoped
from gridmap.vocabulary import OPEN_STAGES

COLUMNS = (
    Worker.id,
    Worker.county_code,
    Worker.name,
    Worker.phone,
    Worker.role,
    Worker.on_duty,
    Worker.synthetic,
    Worker.last_seen,
    func.ST_X(Worker.position).label("lon"),
    func.ST_Y(Worker.position).label("lat"),
)


def create(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert workers (county_code, name, phone, role, on_duty, synthetic); ids in order."""
    if not rows:
        return []
    result = session.execute(
        insert(Worker).returning(Worker.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in result.scalars()]


def assign(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Attach workers to grids (worker_id, grid_code, county_code, duty); a new primary of a
    grid demotes the old one to supporting, in the same transaction.
    """
    primaries = sorted({r["grid_code"] for r in rows if r["duty"] == "primary"})
    for grid in primaries:  # two staff naming primaries of one grid at once: one waits
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:g))"), {"g": grid})
    if primaries:
        session.execute(
            update(WorkerGrid)
            .where(WorkerGrid.grid_code.in_(primaries), WorkerGrid.duty == "primary")
            .values(duty="supporting")
        )
    statement = text(
        """
        INSERT INTO worker_grid (worker_id, grid_code, county_code, duty)
        VALUES (:worker_id, :grid_code, :county_code, :duty)
        ON CONFLICT (worker_id, grid_code) DO UPDATE SET duty = excluded.duty
        """
    )
    session.execute(statement, list(rows))


def unassign(session: Session, worker_id: int, grid_codes: Sequence[str]) -> int:
    """Detach a worker from grids; return how many links were removed."""
    result = session.execute(
        delete(WorkerGrid).where(
            WorkerGrid.worker_id == worker_id, WorkerGrid.grid_code.in_(list(grid_codes))
        )
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def get(session: Session, worker_id: int, scope: Scope) -> Row[*tuple[Any, ...]] | None:
    """One worker, or None when missing or outside ``scope``."""
    query = scoped(select(*COLUMNS).where(Worker.id == worker_id), Worker, scope)
    return session.execute(query).one_or_none()


def grids_of(session: Session, worker_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """(grid code, duty) pairs per worker."""
    rows = session.execute(
        select(WorkerGrid.worker_id, WorkerGrid.grid_code, WorkerGrid.duty)
        .where(WorkerGrid.worker_id.in_(list(worker_ids)))
        .order_by(WorkerGrid.worker_id, WorkerGrid.grid_code)
    )
    found: dict[int, list[tuple[str, str]]] = {int(w): [] for w in worker_ids}
    for worker_id, grid, duty in rows:
        found[int(worker_id)].append((grid, duty))
    return found


def search(
    session: Session,
    scope: Scope,
    *,
    county: str | None = None,
    code: str | None = None,
    on_duty: bool | None = None,
    role: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Row[*tuple[Any, ...]]]]:
    """Workers matching the filters (``code``: any of their grids lies under it), with a total."""
    query = scoped(select(*COLUMNS), Worker, scope)
    if county is not None:
        query = query.where(Worker.county_code == county)
    if code is not None:
        query = scoped(query, Worker, Scope((code,)))
    if on_duty is not None:
        query = query.where(Worker.on_duty == on_duty)
    if role is not None:
        query = query.where(Worker.role == role)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Worker.id).limit(limit).offset(offset))
    return int(total), list(rows)


def set_on_duty(session: Session, worker_id: int, on_duty: bool) -> bool:
    """Set the on-duty flag; False if no such worker."""
    result = session.execute(
        update(Worker).where(Worker.id == worker_id).values(on_duty=on_duty).returning(Worker.id)
    )
    return result.scalar_one_or_none() is not None


# The on-duty worker who takes an incident when its grid's primary is off duty: workers of the
# same village first, then of the township, by distance (last position, else their grid) plus
# a penalty per open case. A scalar subquery of INTAKE_SQL and of :func:`choose`.
WORKER_FALLBACK = """
SELECT w.id
FROM worker_grid wg
JOIN worker w ON w.id = wg.worker_id
JOIN unit u ON u.code = wg.grid_code AND u.generation_high IS NULL
WHERE w.on_duty AND wg.grid_code LIKE CAST(%(township_code)s AS text) || '%%'
GROUP BY w.id
ORDER BY bool_or(wg.grid_code LIKE CAST(%(village_code)s AS text) || '%%') DESC NULLS LAST,
  COALESCE(
    min(ST_Distance(COALESCE(w.position, ST_PointOnSurface(u.geom))::geography,
                    ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography))
      FILTER (WHERE wg.grid_code LIKE CAST(%(village_code)s AS text) || '%%'),
    min(ST_Distance(COALESCE(w.position, ST_PointOnSurface(u.geom))::geography,
                    ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)))
  + %(penalty_m)s * (SELECT count(*) FROM incident i WHERE i.worker_id = w.id
                     AND i.stage IN ({open_stages})),
  w.id
LIMIT 1
""".replace("{open_stages}", ", ".join(f"'{stage}'" for stage in OPEN_STAGES))


def choose(
    session: Session,
    *,
    village_code: str | None,
    township_code: str | None,
    lon: float,
    lat: float,
    penalty_m: float,
) -> int | None:
    """Run :data:`WORKER_FALLBACK`: the worker id, or None when nobody is on duty nearby."""
    params = {
        "village_code": village_code,
        "township_code": township_code,
        "lon": lon,
        "lat": lat,
        "penalty_m": penalty_m,
    }
    found = session.connection().exec_driver_sql(WORKER_FALLBACK, params).scalar_one_or_none()
    return None if found is None else int(found)


def unstaffed_grids(
    session: Session, county: str, *, role: str = "fulltime"
) -> list[Row[*tuple[Any, ...]]]:
    """Current grids of a county with no worker of ``role`` attached (any duty)."""
    staffed = (
        select(WorkerGrid.grid_code)
        .join(Worker, Worker.id == WorkerGrid.worker_id)
        .where(Worker.role == role, WorkerGrid.county_code == county)
    )
    query = (
        select(Unit.code, Unit.name, Unit.parent_code, Unit.households)
        .where(
            Unit.county_code == county,
            Unit.level == "grid",
            Unit.generation_high.is_(None),
            Unit.code.not_in(staffed),
        )
        .order_by(Unit.code)
    )
    return list(session.execute(query))


def outside_county(
    session: Session,
    county_code: str,
    lon: Sequence[float],
    lat: Sequence[float],
    tolerance_m: float,
) -> list[int]:
    """Positions (0-based) of the WGS84 points farther than ``tolerance_m`` from the county's
    current boundary: all of them when the county has none.
    """
    statement = text(
        """
        WITH county AS MATERIALIZED (  -- cast to geography once, not once per fix
            SELECT geom::geography AS g FROM unit
            WHERE level = 'county' AND code = :county AND generation_high IS NULL
        )
        SELECT p.n - 1
        FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(x, y, n)
        WHERE NOT EXISTS (
            SELECT 1 FROM county
            WHERE ST_DWithin(county.g, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)::geography,
                             :tolerance)
        )
        ORDER BY p.n
        """
    )
    params = {"lon": list(lon), "lat": list(lat), "county": county_code, "tolerance": tolerance_m}
    return [int(n) for n in session.execute(statement, params).scalars()]


def add_positions(
    session: Session,
    *,
    worker_id: int,
    county_code: str,
    recorded_at: Sequence[datetime],
    lon: Sequence[float],
    lat: Sequence[float],
    accuracy_m: Sequence[float | None],
    h3_cell: Sequence[int],
) -> int:
    """Store one worker's GPS fixes (columns, WGS84), skipping ones already stored (same
    time), and move the worker's last position forward. Return how many were new.
    """
    if not len(recorded_at):
        return 0
    statement = text(
        """
        INSERT INTO worker_position (worker_id, county_code, recorded_at, accuracy_m, h3_cell, geom)
        SELECT :worker_id, :county_code, t, a, h, ST_SetSRID(ST_MakePoint(x, y), 4326)
        FROM unnest(CAST(:recorded_at AS timestamptz[]), CAST(:accuracy_m AS float8[]),
                    CAST(:h3_cell AS bigint[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
             AS p(t, a, h, x, y)
        ON CONFLICT (worker_id, recorded_at) DO NOTHING
        RETURNING 1
        """
    )
    params = {
        "worker_id": worker_id,
        "county_code": county_code,
        "recorded_at": list(recorded_at),
        "accuracy_m": list(accuracy_m),
        "h3_cell": list(h3_cell),
        "lon": list(lon),
        "lat": list(lat),
    }
    added = len(session.execute(statement, params).all())
    session.execute(
        text(
            """
            UPDATE worker w SET position = p.geom, last_seen = p.recorded_at
            FROM (SELECT geom, recorded_at FROM worker_position WHERE worker_id = :id
                  ORDER BY recorded_at DESC LIMIT 1) p
            WHERE w.id = :id AND (w.last_seen IS NULL OR p.recorded_at > w.last_seen)
            """
        ),
        {"id": worker_id},
    )
    return added


def positions(
    session: Session,
    scope: Scope,
    *,
    county: str,
    since: datetime,
    until: datetime,
    worker_id: int | None = None,
) -> list[Row[*tuple[Any, ...]]]:
    """Fixes in a period, per worker in time order: worker_id, recorded_at, lon, lat."""
    query = scoped(
        select(
            Position.worker_id,
            Position.recorded_at,
            func.ST_X(Position.geom).label("lon"),
            func.ST_Y(Position.geom).label("lat"),
        ).where(
            Position.county_code == county,
            Position.recorded_at >= since,
            Position.recorded_at < until,
        ),
        Position,
        scope,
    )
    if worker_id is not None:
        query = query.where(Position.worker_id == worker_id)
    return list(session.execute(query.order_by(Position.worker_id, Position.recorded_at)))


def grid_workers(
    session: Session, grid_codes: Sequence[str]
) -> dict[str, list[Row[*tuple[Any, ...]]]]:
    """Workers of each grid (id, name, role, duty, on_duty), primary first."""
    rows = session.execute(
        select(WorkerGrid.grid_code, Worker.id, Worker.name, Worker.role, WorkerGrid.duty)
        .join(Worker, Worker.id == WorkerGrid.worker_id)
        .where(WorkerGrid.grid_code.in_(list(grid_codes)))
        .order_by(WorkerGrid.grid_code, WorkerGrid.duty, Worker.id)
    )
    found: dict[str, list[Row[*tuple[Any, ...]]]] = {}
    for row in rows:
        found.setdefault(row.grid_code, []).append(row)
    return found
