"""Incidents (事件): intake with idempotency, the workflow applied atomically, overdue escalation,
listings and monthly hotspots (每月一题).

Intake locates the point through the in-memory H3 index, then one SQL statement assigns the
grid's worker (the on-duty primary, else the fallback that :func:`gridmap.workers.choose` also
runs) and writes the incident with its deadlines and first audit row. Keys follow the IETF
Idempotency-Key draft: a retry returns the same incident, the same key with another body is
refused, and a key still in flight gets a "try again" error.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NotRequired, cast

import numpy as np
import orjson
from psycopg_pool import AsyncConnectionPool
from pydantic import ConfigDict, with_config
from sqlalchemy.orm import Session
from typing_extensions import (  # pydantic reads typing.TypedDict only from 3.12
    TypedDict,
)

from gridmap import crs, db, h3cells, lookup, times, workers, workflow
from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import (
    ConcurrentUpdateError,
    GridmapError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    OutsideCoverageError,
)
from gridmap.vocabulary import OPEN_STAGES, Action, CaseType, InputCRS, Stage, Tier

logger = logging.getLogger(__name__)
CHINA_TZ = timezone(timedelta(hours=8), "CST")  # no daylight saving since 1991
HOTSPOT_RESOLUTION = 11  # ≈ 25 m cells: one street corner, one courtyard
MAX_KEY_LENGTH = 255
MAX_DESCRIPTION = 4000
MAX_PHOTOS = 9


@dataclass(frozen=True, slots=True)
class Actor:
    """Who reports: the account's name and role (for the trails) and where they may report."""

    name: str
    role: str
    area: Scope = EVERYTHING


@with_config(ConfigDict(extra="forbid"))
class IncidentView(TypedDict):
    """An incident as gridmap shows it: where, what, which stage and tier, who has it, its
    deadlines, Chinese labels and what may be done next. The API sends exactly this, less the
    fields the caller's role may not see (``NotRequired``: ``gridmap.auth.access.FIELDS``).
    """

    id: int
    county_code: str
    township_code: str | None
    village_code: str | None
    grid_code: str | None
    near_boundary: bool
    lon: float
    lat: float
    input_crs: InputCRS
    category_code: str
    case_type: CaseType
    description: str
    reporter: NotRequired[str]
    source: str
    device_time: datetime | None
    gps_accuracy_m: float | None
    photo_urls: NotRequired[list[str]]
    stage: Stage
    tier: Tier
    worker_id: NotRequired[int | None]
    department: NotRequired[str | None]
    handler: NotRequired[str | None]
    dispatcher: NotRequired[str | None]
    reported_at: datetime
    stage_at: datetime
    stage_due: datetime | None
    due_at: datetime
    closed_at: datetime | None
    rating: int | None
    version: int
    idempotency_key: str | None
    stage_zh: str
    tier_zh: str
    case_type_zh: str
    open: bool
    overdue: bool
    allowed_actions: list[Action]


@with_config(ConfigDict(extra="forbid"))
class IncidentEvent(TypedDict):
    """One row of a case's audit trail: who did what, when, from which stage and tier."""

    at: datetime
    actor: str
    action: Action
    from_stage: Stage | None
    to_stage: Stage
    from_tier: Tier | None
    to_tier: Tier
    note: str
    action_zh: str


@with_config(ConfigDict(extra="forbid"))
class IncidentDetail(IncidentView):
    """An incident with its full audit trail."""

    events: NotRequired[list[IncidentEvent]]


# The intake statement, with the reported stage's deadline rendered from the workflow's rule.
INTAKE = db.incidents.intake_statement(
    reported_hours=workflow.stage_hours_sql(
        Stage.REPORTED, limit_hours="cat.limit_hours", stage_hours="cat.stage_hours"
    )
)


def now_utc() -> datetime:
    """The real clock; every function here takes ``now`` so tests can move time."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Report:
    """What a phone sends: where, what, who, when, how precise, which photos."""

    lon: float
    lat: float
    category: str
    crs: str = "wgs84"
    description: str = ""
    reporter: str = ""
    device_time: datetime | None = None
    gps_accuracy_m: float | None = None
    photo_urls: tuple[str, ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical body: the same key must come with the same report."""
        body = asdict(self)
        body["device_time"] = self.device_time.isoformat() if self.device_time else None
        body["photo_urls"] = list(self.photo_urls)
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Intake:
    """The stored incident and whether this call created it (False: an idempotent replay)."""

    incident: IncidentView
    created: bool


def check_report(report: Report, *, now: datetime, bounds: times.Bounds = times.DEFAULT) -> Report:
    """The report as it is stored (device time in UTC), or an error naming the bad field."""
    for name in ("description", "reporter", "category"):
        if "\x00" in getattr(report, name):
            raise InvalidInputError(f"{name} contains a NUL character", field=name)
    if len(report.description) > MAX_DESCRIPTION:
        raise InvalidInputError(
            f"description is {len(report.description)} characters; the limit is {MAX_DESCRIPTION}"
        )
    if len(report.photo_urls) > MAX_PHOTOS:
        raise InvalidInputError(f"at most {MAX_PHOTOS} photos per report")
    if report.gps_accuracy_m is not None and not 0 <= report.gps_accuracy_m < 100_000:
        raise InvalidInputError("gps_accuracy_m must be between 0 and 100000 metres")
    if report.device_time is None:
        return report
    device_time = times.check(report.device_time, now=now, field="device_time", bounds=bounds)
    return replace(report, device_time=device_time)


def _limits(row: Any) -> workflow.Limits:
    return workflow.Limits(float(row.limit_hours), dict(row.stage_hours or {}))


def _category_rules(session: Session, code: str) -> Any:
    """A case's category rules; an inactive category still governs the cases it already has."""
    category = db.categories.get(session, code)
    if category is None:
        raise NotFoundError(f"unknown category {code!r}", category=code)
    return category


def _intake_params(
    report: Report,
    where: lookup.Location,
    *,
    now: datetime,
    key: str | None,
    source: str,
    synthetic: bool,
    actor: Actor | None,
) -> dict[str, Any]:
    """Parameters of the one intake statement (:data:`INTAKE`)."""
    return {
        "county_code": where.county,
        "township_code": where.township,
        "village_code": where.village,
        "grid_code": where.grid,
        "near_boundary": where.near_boundary,
        "h3_cell": h3cells.lonlat_to_cell(where.lon, where.lat, HOTSPOT_RESOLUTION),
        "lon": where.lon,
        "lat": where.lat,
        "input_crs": report.crs,
        "category_code": report.category,
        "description": report.description,
        "reporter": report.reporter,
        "source": source,
        "device_time": report.device_time,
        "gps_accuracy_m": report.gps_accuracy_m,
        "photo_urls": orjson.dumps(list(report.photo_urls)).decode(),
        "now": now,
        "penalty_m": workers.OPEN_CASE_PENALTY_M,
        "synthetic": synthetic,
        "idempotency_key": key,
        "lock_id": db.incidents.key_lock_id(key) if key is not None else 0,
        "request_hash": report.fingerprint() if key else None,
        # The trail names accounts, never the reporter (a sensitive field of its own).
        "actor": actor.name if actor else f"{source}:anonymous",
        "actor_role": actor.role if actor else "system",
    }


def _prepare(
    index: lookup.Index,
    report: Report,
    *,
    key: str | None,
    now: datetime,
    near_boundary_m: float,
    source: str,
    synthetic: bool,
    actor: Actor | None = None,
    bounds: times.Bounds = times.DEFAULT,
) -> dict[str, Any]:
    """Check and locate a report (no database): the intake statement's parameters.

    A report outside the actor's area is refused as not found, like one outside every boundary.
    """
    report = check_report(report, now=now, bounds=bounds)
    _check_key(key)
    report = replace(report, crs=crs.check_crs(report.crs))  # stored by its canonical name
    where = lookup.locate_one(
        index, report.lon, report.lat, crs_name=report.crs, near_boundary_m=near_boundary_m
    )
    if actor is not None and not actor.area.contains(
        where.grid or where.village or where.township or where.county
    ):
        raise OutsideCoverageError(
            "the point lies outside the area of your account; report it to the grid it lies in",
            lon=report.lon,
            lat=report.lat,
        )
    return _intake_params(
        report, where, now=now, key=key, source=source, synthetic=synthetic, actor=actor
    )


def _created(found: dict[str, Any], params: dict[str, Any], key: str | None) -> Intake | None:
    """The new incident, or None when the key already has one (replay it); raise on refusal."""
    if not found["locked"]:
        raise IdempotencyKeyInProgressError(
            f"a request with Idempotency-Key {key!r} is still being processed; retry in a moment",
            key=key,
            retry_after_s=1,  # an intake takes milliseconds: a second is plenty
        )
    if found["existing_id"] is not None or (found["category_found"] and found["id"] is None):
        return None  # stored before, or by a racing request with the same key just now
    if not found["category_found"]:
        raise NotFoundError(
            f"unknown or inactive category {params['category_code']!r}; "
            "GET /api/v1/categories lists them",
            category=params["category_code"],
        )
    return Intake(stored_view(params, found), created=True)


def _check_key(key: str | None) -> None:
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} characters", key_length=len(key)
        )


def _replay(session: Session, key: str, params: dict[str, Any]) -> Intake:
    found = db.incidents.by_keys(session, [key])[key]
    if found.request_hash != params["request_hash"]:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key {key!r} was already used for a different report; use a new key "
            "for a new report",
            key=key,
        )
    return Intake(view(found, now=params["now"]), created=False)  # the caller's clock


def report_incident(
    session: Session,
    index: lookup.Index,
    report: Report,
    *,
    key: str | None = None,
    now: datetime | None = None,
    near_boundary_m: float = 30.0,
    source: str = "api",
    synthetic: bool = False,
    actor: Actor | None = None,
    bounds: times.Bounds = times.DEFAULT,
) -> Intake:
    """Locate, assign and store one report (the caller commits); replay it if ``key`` was seen.

    Raises OutsideCoverageError outside every boundary, NotFoundError for an unknown category,
    IdempotencyKeyReusedError / IdempotencyKeyInProgressError for key misuse.
    """
    params = _prepare(
        index,
        report,
        key=key,
        now=now or now_utc(),
        near_boundary_m=near_boundary_m,
        source=source,
        synthetic=synthetic,
        actor=actor,
        bounds=bounds,
    )
    made = _created(db.incidents.intake(session, INTAKE, params), params, key)
    if made is None:
        assert key is not None
        return _replay(session, key, params)
    return made


async def report_incident_fast(
    pool: AsyncConnectionPool,
    index: lookup.Index,
    report: Report,
    *,
    key: str | None = None,
    now: datetime | None = None,
    near_boundary_m: float = 30.0,
    actor: Actor | None = None,
    bounds: times.Bounds = times.DEFAULT,
) -> Intake | None:
    """The HTTP hot path: :func:`report_incident` as one autocommit statement on an async pool.

    Returns None when the key was seen before: the caller then replays through
    :func:`report_incident`, which compares the bodies and reads the stored incident.
    """
    params = _prepare(
        index,
        report,
        key=key,
        now=now or now_utc(),
        near_boundary_m=near_boundary_m,
        source="api",
        synthetic=False,
        actor=actor,
        bounds=bounds,
    )
    return _created(await db.incidents.intake_async(pool, INTAKE, params), params, key)


def report_many(
    session: Session,
    index: lookup.Index,
    items: Sequence[tuple[str, Report]],
    *,
    now: datetime | None = None,
    near_boundary_m: float = 30.0,
    source: str = "batch",
    actor: Actor | None = None,
    bounds: times.Bounds = times.DEFAULT,
) -> list[Intake]:
    """Store a phone's offline queue: (key, report) pairs, all or nothing.

    Every item is checked first (location, category, key reuse); one bad item refuses the
    batch naming its position, so nothing is half-synced. Items already stored come back as
    replays, so resending a batch after a lost response duplicates nothing.
    """
    now = now or now_utc()
    twice = [key for key, n in Counter(key for key, _ in items).items() if n > 1]
    if twice:
        raise IdempotencyKeyReusedError(
            f"key {twice[0]!r} appears twice in the batch", key=twice[0]
        )
    results: list[Intake] = []
    with session.begin_nested():  # a refused item rolls back the items before it
        for position, (key, report) in enumerate(items):
            results.append(
                _report_item(
                    session,
                    index,
                    position,
                    key,
                    report,
                    now,
                    near_boundary_m,
                    source,
                    actor,
                    bounds,
                )
            )
    return results


def _report_item(
    session: Session,
    index: lookup.Index,
    position: int,
    key: str,
    report: Report,
    now: datetime,
    near_boundary_m: float,
    source: str,
    actor: Actor | None,
    bounds: times.Bounds,
) -> Intake:
    """One item of :func:`report_many`; errors name the item's position."""
    try:
        return report_incident(
            session,
            index,
            report,
            key=key,
            now=now,
            near_boundary_m=near_boundary_m,
            source=source,
            actor=actor,
            bounds=bounds,
        )
    except GridmapError as error:
        error.context.setdefault("item", position)
        error.args = (f"item {position}: {error.args[0]}",)
        raise


def view(row: Any, *, now: datetime | None = None) -> IncidentView:
    """An incident row as the API shows it, with Chinese labels and an ``overdue`` flag."""
    now = now or now_utc()
    data = {
        name: getattr(row, name)
        for name in row._fields
        if name not in ("request_hash", "h3_cell", "synthetic")
    }
    return _labelled(data, now)


def stored_view(params: dict[str, Any], found: dict[str, Any]) -> IncidentView:
    """The view of a just-inserted incident, from the values written (no re-read)."""
    data = {
        name: params[name]
        for name in (
            "county_code",
            "township_code",
            "village_code",
            "grid_code",
            "near_boundary",
            "lon",
            "lat",
            "input_crs",
            "category_code",
            "description",
            "reporter",
            "source",
            "device_time",
            "gps_accuracy_m",
            "idempotency_key",
        )
    }
    if data["device_time"] is not None:  # stored as timestamptz: answer as a read would, in UTC
        data["device_time"] = data["device_time"].astimezone(UTC)
    data.update(
        id=found["id"],
        case_type=found["case_type"],
        photo_urls=orjson.loads(params["photo_urls"]),
        stage=Stage.REPORTED,
        tier=found["tier"],
        worker_id=found["worker_id"],
        department=None,
        handler=None,
        dispatcher=None,
        reported_at=params["now"],
        stage_at=params["now"],
        stage_due=found["stage_due"],
        due_at=found["due_at"],
        closed_at=None,
        rating=None,
        version=1,
    )
    return _labelled(data, params["now"])


def _labelled(data: dict[str, Any], now: datetime) -> IncidentView:
    stage = data["stage"]
    is_open = stage in OPEN_STAGES
    late = is_open and any(
        due is not None and due < now for due in (data.get("stage_due"), data.get("due_at"))
    )
    data.update(
        stage_zh=Stage(stage).zh,
        tier_zh=Tier(data["tier"]).zh,
        case_type_zh=CaseType(data["case_type"]).zh,
        open=is_open,
        overdue=late,
        allowed_actions=workflow.allowed(stage, data["tier"]),
    )
    return cast(IncidentView, data)


def get(
    session: Session, incident_id: int, *, scope: Scope = EVERYTHING, now: datetime | None = None
) -> IncidentDetail:
    """One incident with its audit trail; NotFoundError if missing or outside ``scope``."""
    row = db.incidents.get(session, incident_id, scope)
    if row is None:
        raise NotFoundError(f"no incident {incident_id}", incident=incident_id)
    events = [
        cast(IncidentEvent, {**event._asdict(), "action_zh": Action(event.action).zh})
        for event in db.incidents.events(session, incident_id)
    ]
    return IncidentDetail(**view(row, now=now), events=events)


def latest_notes(session: Session, incident_ids: Sequence[int]) -> dict[int, str]:
    """The note of each incident's newest audit row (Open311's ``status_notes``)."""
    return db.incidents.latest_notes(session, incident_ids)


def act(
    session: Session,
    incident_id: int,
    action: str,
    *,
    actor: str,
    note: str = "",
    rating: int | None = None,
    worker_id: int | None = None,
    department: str | None = None,
    expected_version: int | None = None,
    scope: Scope = EVERYTHING,
    now: datetime | None = None,
) -> IncidentDetail:
    """Apply one workflow action atomically (the caller commits) and return the new incident.

    The update names the version it read: of two staff acting at once exactly one wins, the
    other gets ConcurrentUpdateError. ``expected_version`` lets a client say which version it saw.
    """
    now = now or now_utc()
    row = db.incidents.get(session, incident_id, scope)
    if row is None:
        raise NotFoundError(f"no incident {incident_id}", incident=incident_id)
    if expected_version is not None and expected_version != row.version:
        raise ConcurrentUpdateError(
            f"incident {incident_id} is at version {row.version}, not {expected_version}; "
            "reload it",
            version=row.version,
            stage=row.stage,
        )
    if worker_id is not None and db.workers.get(session, worker_id, EVERYTHING) is None:
        raise NotFoundError(f"no worker {worker_id}", worker=worker_id)
    rules = _category_rules(session, row.category_code)
    case = workflow.Case(row.stage, row.tier, row.handler, row.dispatcher, row.reported_at)
    planned = workflow.plan(
        case,
        action,
        actor=actor,
        now=now,
        limits=_limits(rules),
        note=note,
        rating=rating,
        worker_id=worker_id,
        department=department,
    )
    if not db.incidents.update_versioned(
        session, incident_id, row.version, planned.changes, planned.event
    ):
        current = db.incidents.get(session, incident_id, scope)
        stage = current.stage if current is not None else row.stage
        raise ConcurrentUpdateError(
            f"incident {incident_id} was changed by someone else while you acted (now in stage "
            f"{stage}); reload it",
            stage=stage,
            allowed=workflow.allowed(stage, current.tier if current is not None else row.tier),
        )
    return get(session, incident_id, scope=scope, now=now)


def search(
    session: Session,
    *,
    scope: Scope = EVERYTHING,
    now: datetime | None = None,
    overdue: bool = False,
    **filters: Any,
) -> tuple[int, list[IncidentView]]:
    """Incidents matching ``filters`` (see :func:`gridmap.db.incidents.search`), newest first."""
    now = now or now_utc()
    total, rows = db.incidents.search(
        session, scope, overdue_at=now if overdue else None, **filters
    )
    return total, [view(row, now=now) for row in rows]


def escalate_overdue(
    session: Session, *, now: datetime | None = None, actor: str = "system:deadline"
) -> list[int]:
    """Escalate every case whose stage deadline has passed one tier (the caller commits).

    The stage clock restarts at the new tier, so a case climbs at most one tier per limit.
    Cases already at the county tier stay overdue and listed.
    """
    now = now or now_utc()
    escalated = []
    for incident_id in db.incidents.overdue_ids(session, now, below_tier=tuple(Tier)[:-1]):
        try:
            with session.begin_nested():
                act(
                    session,
                    incident_id,
                    "escalate",
                    actor=actor,
                    note="超时自动升级 (stage deadline passed)",
                    now=now,
                )
            escalated.append(incident_id)
        except ConcurrentUpdateError:
            continue  # someone acted on it meanwhile: their action wins
        except GridmapError:  # one case that cannot move must not stop the others
            logger.exception("could not escalate incident %s", incident_id)
    return escalated


def hotspots(
    session: Session,
    *,
    county: str,
    month: str,
    scope: Scope = EVERYTHING,
    top: int = 10,
    resolution: int = 9,
) -> dict[str, Any]:
    """每月一题: counts per H3 cell, grid and category for ``month`` (YYYY-MM, China time),
    growth over the previous month, and places where incidents recur month after month.

    Cells are reported at ``resolution`` (default 9, ≈ 0.1 km²: a block or a hamlet).
    """
    if not 5 <= resolution <= HOTSPOT_RESOLUTION:
        raise InvalidInputError(f"resolution must be 5–{HOTSPOT_RESOLUTION}, not {resolution}")
    month = _shift_month(month, 0)  # "2026-9" → "2026-09", as the database writes it
    window = _month_start(_shift_month(month, -2))
    until = _month_start(_shift_month(month, 1))
    rows = db.incidents.monthly_cells(session, scope, county=county, since=window, until=until)
    prev_month = _shift_month(month, -1)
    months = np.array([r.month for r in rows], dtype=object)
    cells = np.array([r.h3_cell for r in rows], dtype=np.uint64)
    parents = h3cells.cells_to_parents(cells, resolution)

    def table(keys: Sequence[Any], key_name: str) -> list[dict[str, Any]]:
        keys_arr = np.array(keys, dtype=object)
        now_counts = _count(keys_arr[months == month]) if len(rows) else {}
        before = _count(keys_arr[months == prev_month]) if len(rows) else {}
        out = [
            {
                key_name: key,
                "count": n,
                "previous": before.get(key, 0),
                "growth": None if not before.get(key) else round(n / before[key] - 1, 3),
            }
            for key, n in now_counts.items()
        ]
        out.sort(key=lambda item: (-item["count"], str(item[key_name])))
        return out[:top]

    by_cell = table([h3cells.cell_to_str(int(c)) for c in parents], "h3_cell")
    for item in by_cell:
        lon, lat = h3cells.cell_to_lonlat(h3cells.str_to_cell(item["h3_cell"]))
        item.update(lon=round(lon, 6), lat=round(lat, 6))
    recurring = _recurring(rows, parents, months, top=top)
    return {
        "county": county,
        "month": month,
        "previous_month": prev_month,
        "resolution": resolution,
        "total": int(np.sum(months == month)),
        "previous_total": int(np.sum(months == prev_month)),
        "cells": by_cell,
        "grids": table([r.grid_code for r in rows], "grid"),
        "categories": table([r.category_code for r in rows], "category"),
        "recurring": recurring,
    }


def _recurring(
    rows: Sequence[Any], parents: np.ndarray, months: np.ndarray, *, top: int
) -> list[dict[str, Any]]:
    """Cell × category pairs seen in two or more of the three months: the problems that return."""
    seen: dict[tuple[int, str], set[str]] = {}
    counts: dict[tuple[int, str], int] = {}
    for row, cell, month in zip(rows, parents, months, strict=True):
        pair = (int(cell), row.category_code)
        seen.setdefault(pair, set()).add(month)
        counts[pair] = counts.get(pair, 0) + 1
    found: list[dict[str, Any]] = [
        {
            "h3_cell": h3cells.cell_to_str(cell),
            "category": category,
            "months": sorted(in_months),
            "count": counts[(cell, category)],
        }
        for (cell, category), in_months in seen.items()
        if len(in_months) >= 2
    ]
    found.sort(key=lambda item: (-len(item["months"]), -item["count"], item["h3_cell"]))
    return found[:top]


def _count(keys: np.ndarray) -> dict[Any, int]:
    values, counts = np.unique(keys.astype(str), return_counts=True)
    return {v: int(n) for v, n in zip(values, counts, strict=True) if v != "None"}


def _month_start(month: str) -> datetime:
    try:
        year, mon = (int(part) for part in month.split("-"))
        return datetime(year, mon, 1, tzinfo=CHINA_TZ)
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidInputError(f"month must look like 2026-11, not {month!r}") from error


def _shift_month(month: str, delta: int) -> str:
    start = _month_start(month)
    index = start.year * 12 + start.month - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
