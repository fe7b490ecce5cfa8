"""Incident rows and their audit trail: intake in few round trips, versioned updates, listings.

Reads of incidents go through :func:`gridmap.db.scope.scoped`. Updates are optimistic: they name
the version they read, so of two concurrent actions on one case exactly one succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Row, func, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.orm import Session

from gridmap.db.models import Incident, IncidentEvent
from gridmap.db.scope import Scope, scoped
from gridmap.db.workers import WORKER_FALLBACK
from gridmap.vocabulary import OPEN_STAGES

COLUMNS = (
    Incident.id,
    Incident.county_code,
    Incident.township_code,
    Incident.village_code,
    Incident.grid_code,
    Incident.near_boundary,
    Incident.h3_cell,
    func.ST_X(Incident.geom).label("lon"),
    func.ST_Y(Incident.geom).label("lat"),
    Incident.input_crs,
    Incident.category_code,
    Incident.case_type,
    Incident.description,
    Incident.reporter,
    Incident.source,
    Incident.device_time,
    Incident.gps_accuracy_m,
    Incident.photo_urls,
    Incident.stage,
    Incident.tier,
    Incident.worker_id,
    Incident.department,
    Incident.handler,
    Incident.dispatcher,
    Incident.reported_at,
    Incident.stage_at,
    Incident.stage_due,
    Incident.due_at,
    Incident.closed_at,
    Incident.rating,
    Incident.version,
    Incident.synthetic,
    Incident.idempotency_key,
    Incident.request_hash,
)


def key_lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for an idempotency key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


# One statement does the whole intake, so the HTTP hot path is one round trip in autocommit:
# take the key's advisory lock (False while another request holds it), look for an incident
# already made with the key, read the category, pick the worker (the grid's on-duty primary,
# else WORKER_FALLBACK), insert the incident with its deadlines, its first trail row and its
# audit-log row.
# Nothing is inserted when the lock is taken, the key exists or the category is unknown; a key
# committed by a racing request after this statement's snapshot hits ON CONFLICT instead.
# psycopg placeholders (%(name)s): it runs through psycopg directly and through SQLAlchemy's
# exec_driver_sql. ``{reported_hours}`` is the deadline rule's SQL form, which the domain
# renders (gridmap.workflow.stage_hours_sql) and hands over: storage does not own the rule.
INTAKE_TEMPLATE = (
    """
WITH lock AS (
  SELECT CASE WHEN CAST(%(idempotency_key)s AS text) IS NULL THEN true
              ELSE pg_try_advisory_xact_lock(%(lock_id)s) END AS got
), existing AS (
  SELECT id, request_hash FROM incident
  WHERE idempotency_key = CAST(%(idempotency_key)s AS text)
), cat AS (
  SELECT code, tier, case_type, limit_hours, stage_hours
  FROM category WHERE code = CAST(%(category_code)s AS text) AND active
), new AS (
  INSERT INTO incident (
    county_code, township_code, village_code, grid_code, near_boundary, h3_cell, geom,
    input_crs, category_code, case_type, description, reporter, source, device_time,
    gps_accuracy_m, photo_urls, stage, tier, worker_id, reported_at, stage_at, stage_due,
    due_at, version, synthetic, idempotency_key, request_hash)
  SELECT
    CAST(%(county_code)s AS text), CAST(%(township_code)s AS text),
    CAST(%(village_code)s AS text), CAST(%(grid_code)s AS text), %(near_boundary)s,
    %(h3_cell)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), CAST(%(input_crs)s AS text),
    cat.code, cat.case_type, CAST(%(description)s AS text), CAST(%(reporter)s AS text),
    CAST(%(source)s AS text), %(device_time)s,
    %(gps_accuracy_m)s, CAST(%(photo_urls)s AS jsonb), 'reported', cat.tier,
    COALESCE(
      (SELECT w.id FROM worker_grid wg JOIN worker w ON w.id = wg.worker_id
        WHERE wg.grid_code = CAST(%(grid_code)s AS text) AND wg.duty = 'primary'
          AND w.on_duty),
      ("""
    + WORKER_FALLBACK
    + """)),
    %(now)s, %(now)s,
    %(now)s + make_interval(secs => 3600 * {reported_hours}),
    %(now)s + make_interval(secs => 3600 * cat.limit_hours),
    1, %(synthetic)s, CAST(%(idempotency_key)s AS text), CAST(%(request_hash)s AS text)
  FROM cat, lock
  WHERE lock.got AND NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id, county_code, stage, tier, case_type, worker_id, reported_at, stage_due, due_at
), audit AS (
  INSERT INTO incident_event (incident_id, county_code, at, actor, action, from_stage,
                              to_stage, from_tier, to_tier, note)
  SELECT id, county_code, reported_at, CAST(%(actor)s AS text), 'report', NULL, stage,
         NULL, tier, ''
  FROM new
), logged AS (
  INSERT INTO audit_log (at, actor, role, action, resource, resource_id, county_code, after)
  SELECT reported_at, CAST(%(actor)s AS text), CAST(%(actor_role)s AS text), 'create',
         'incident', CAST(id AS text), county_code,
         jsonb_build_object('stage', stage, 'tier', tier, 'worker_id', worker_id,
                            'grid_code', CAST(%(grid_code)s AS text),
                            'category_code', CAST(%(category_code)s AS text))
  FROM new
)
SELECT (SELECT got FROM lock) AS locked,
       (SELECT id FROM existing) AS existing_id,
       (SELECT request_hash FROM existing) AS existing_hash,
       EXISTS (SELECT 1 FROM cat) AS category_found,
       new.id, new.tier, new.case_type, new.worker_id, new.stage_due, new.due_at
FROM (SELECT 1) AS one LEFT JOIN new ON true
"""
)


def intake_statement(*, reported_hours: str) -> str:
    """The intake statement with the reported stage's hours (a SQL expression over ``cat``)."""
    return INTAKE_TEMPLATE.replace("{reported_hours}", reported_hours)


def intake(session: Session, statement: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run the intake ``statement`` in the session's transaction (the caller commits)."""
    row = session.connection().exec_driver_sql(statement, params).one()
    return dict(row._mapping)


async def intake_async(
    pool: AsyncConnectionPool, statement: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Run the intake ``statement`` as its own transaction on an autocommit pool connection."""
    async with pool.connection() as connection:
        cursor = connection.cursor(row_factory=dict_row)
        await cursor.execute(statement, params, prepare=True)
        found = await cursor.fetchone()
    assert found is not None
    return found


def get(session: Session, incident_id: int, scope: Scope) -> Row[*tuple[Any, ...]] | None:
    """One incident as a row of :data:`COLUMNS`, or None when missing or outside ``scope``."""
    query = scoped(select(*COLUMNS).where(Incident.id == incident_id), Incident, scope)
    return session.execute(query).one_or_none()


def by_keys(session: Session, keys: Sequence[str]) -> dict[str, Row[*tuple[Any, ...]]]:
    """Incidents made with these idempotency keys, by key."""
    if not keys:
        return {}
    rows = session.execute(select(*COLUMNS).where(Incident.idempotency_key.in_(list(keys))))
    return {row.idempotency_key: row for row in rows}


def update_versioned(
    session: Session,
    incident_id: int,
    version: int,
    changes: dict[str, Any],
    event: dict[str, Any],
) -> bool:
    """Apply ``changes`` if the incident is still at ``version``; write the audit row with them."""
    done = session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.version == version)
        .values(**changes, version=Incident.version + 1)
        .returning(Incident.county_code)
    ).scalar_one_or_none()
    if done is None:
        return False
    session.execute(
        sql_insert(IncidentEvent).values(incident_id=incident_id, county_code=done, **event)
    )
    return True


def events(session: Session, incident_id: int) -> list[Row[*tuple[Any, ...]]]:
    """The audit trail of one incident, oldest first."""
    query = (
        select(
            IncidentEvent.at,
            IncidentEvent.actor,
            IncidentEvent.action,
            IncidentEvent.from_stage,
            IncidentEvent.to_stage,
            IncidentEvent.from_tier,
            IncidentEvent.to_tier,
            IncidentEvent.note,
        )
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.id)
    )
    return list(session.execute(query))


def latest_notes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The note of each incident's newest audit row, by incident id (for status notes)."""
    if not ids:
        return {}
    newest = (
        select(func.max(IncidentEvent.id))
        .where(IncidentEvent.incident_id.in_(list(ids)))
        .group_by(IncidentEvent.incident_id)
    )
    query = select(IncidentEvent.incident_id, IncidentEvent.note).where(
        IncidentEvent.id.in_(newest.scalar_subquery())
    )
    return {int(incident_id): note or "" for incident_id, note in session.execute(query)}


def search(
    session: Session,
    scope: Scope,
    *,
    county: str | None = None,
    code: str | None = None,
    stages: Sequence[str] | None = None,
    category: str | None = None,
    overdue_at: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    worker_id: int | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Row[*tuple[Any, ...]]]]:
    """Incidents matching every given filter, newest first, with the total count."""
    query = scoped(select(*COLUMNS), Incident, scope)
    if county is not None:
        query = query.where(Incident.county_code == county)
    if code is not None:
        deepest = func.coalesce(Incident.grid_code, Incident.village_code, Incident.township_code)
        query = query.where(deepest.startswith(code, autoescape=True))
    if stages:
        query = query.where(Incident.stage.in_(list(stages)))
    if category is not None:
        query = query.where(Incident.category_code.startswith(category, autoescape=True))
    if overdue_at is not None:
        query = query.where(
            Incident.stage.in_(OPEN_STAGES),
            (Incident.stage_due < overdue_at) | (Incident.due_at < overdue_at),
        )
    if since is not None:
        query = query.where(Incident.reported_at >= since)
    if until is not None:
        query = query.where(Incident.reported_at < until)
    if bbox is not None:
        query = query.where(Incident.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if worker_id is not None:
        query = query.where(Incident.worker_id == worker_id)
    if ids is not None:
        query = query.where(Incident.id.in_(list(ids)))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(rows)


def overdue_ids(session: Session, now: datetime, *, below_tier: Sequence[str]) -> list[int]:
    """Open incidents whose stage deadline has passed, at one of ``below_tier``."""
    query = (
        select(Incident.id)
        .where(
            Incident.stage.in_(OPEN_STAGES),
            Incident.stage_due < now,
            Incident.tier.in_(list(below_tier)),
        )
        .order_by(Incident.stage_due)
    )
    return list(session.execute(query).scalars())


def monthly_cells(
    session: Session, scope: Scope, *, county: str, since: datetime, until: datetime
) -> list[Row[*tuple[Any, ...]]]:
    """Incident rows (month, h3 cell, grid, category) in a period, for hotspot counting."""
    local = func.timezone("Asia/Shanghai", Incident.reported_at)  # months of China Standard Time
    query = scoped(
        select(
            func.to_char(local, "YYYY-MM").label("month"),
            Incident.h3_cell,
            Incident.grid_code,
            Incident.village_code,
            Incident.category_code,
        ).where(
            Incident.county_code == county,
            Incident.reported_at >= since,
            Incident.reported_at < until,
        ),
        Incident,
        scope,
    )
    return list(session.execute(query))
