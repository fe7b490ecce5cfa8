"""Dependency aliases: routers name these, never SQLAlchemy or app.state directly.

Dependencies that only read app.state are ``async``: FastAPI runs plain ``def`` dependencies in
the thread pool, and three hops per request cost the locate endpoint 85 % of its throughput.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from sqlalchemy.orm import Session, sessionmaker

from api.security import PrincipalDep
from gridmap import audit, db
from gridmap.auth.access import FIELDS, Principal
from gridmap.db.scope import Scope
from gridmap.errors import CoordinateOutOfRangeError
from gridmap.lookup import Index
from gridmap.settings import Settings
from gridmap.vocabulary import AuditAction, InputCRS, Sensitivity

T = TypeVar("T")
CRS = InputCRS  # wgs84 | cgcs2000 | gcj02 | bd09
MAX_INT = 2**31 - 1  # PostgreSQL integer (worker ids): larger numbers are refused, not a 500
MAX_BIGINT = 2**63 - 1  # PostgreSQL bigint (incident ids, offsets)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Every free-text field: PostgreSQL text cannot hold NUL, so it is refused up front (422).
Text = Annotated[str, AfterValidator(_no_nul)]


def _session(request: Request, principal: PrincipalDep) -> Iterator[Session]:
    request.state.audit_reads = []
    with request.app.state.sessions() as session:  # closing without commit rolls back
        db.scope.enter(session, principal.scope)  # RLS: the caller's scope, as a second layer
        yield session
    _write_reads(request)  # after the read's session is closed: one connection at a time


async def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


async def _index(request: Request) -> Index:
    index: Index = request.app.state.index
    return index


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True, slots=True)
class Page:
    """Pagination parameters shared by list endpoints."""

    limit: int
    offset: int


async def _page(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="page size / 每页条数")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_BIGINT, description="rows to skip / 跳过条数")] = 0,
) -> Page:
    return Page(limit=min(limit, request.app.state.settings.max_page_size), offset=offset)


SessionDep = Annotated[Session, Depends(_session, scope="function")]  # closed before the response
SettingsDep = Annotated[Settings, Depends(_settings)]
IndexDep = Annotated[Index, Depends(_index)]
# For routes that need the database only on some paths: sessions are opened on demand.
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
PageDep = Annotated[Page, Depends(_page)]


def finite_param(params: Mapping[str, str], name: str) -> float:
    """A required finite number from the query string, or the same 422 FastAPI would give."""
    raw = params.get(name)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if raw is None or not math.isfinite(value):
        reason = "Field required" if raw is None else "Input should be a finite number"
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": reason, "type": "finite_number", "input": raw}]
        )
    return value


def positive_int_param(params: Mapping[str, str], name: str) -> int:
    """An optional integer ≥ 1 from the query string (422 otherwise)."""
    raw = params.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": "Input should be an integer >= 1",
                    "type": "int",
                    "input": raw,
                }
            ]
        )
    return int(raw)


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` as four floats, or a 422 naming the problem."""
    if bbox is None:
        return None
    try:
        values = tuple(float(v) for v in bbox.split(","))
    except ValueError as error:
        raise CoordinateOutOfRangeError(
            f"bbox {bbox!r} must be four numbers min_lon,min_lat,max_lon,max_lat", bbox=bbox
        ) from error
    if len(values) != 4:
        raise CoordinateOutOfRangeError(
            f"bbox {bbox!r} must be four numbers min_lon,min_lat,max_lon,max_lat", bbox=bbox
        )
    return values[0], values[1], values[2], values[3]


def now(request: Request) -> datetime:
    """The app's clock (``app.state.clock``): real time, or a test's controllable clock."""
    clock: datetime = request.app.state.clock()
    return clock


def principal_of(request: Request) -> Principal:
    """The principal the request's auth dependency found (every API route has one)."""
    principal: Principal = request.state.principal
    return principal


@contextmanager
def session_in(request: Request, scope: Scope) -> Iterator[Session]:
    """A session whose transaction runs inside ``scope`` (RLS too), for routes that pick the
    scope themselves (Open311: an API client's, or a report's area).
    """
    with request.app.state.sessions() as session:
        db.scope.enter(session, scope)
        yield session


def run_in_session(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction on a new session, inside the caller's scope (RLS too):
    commit if it returns, roll back if not.
    """
    with request.app.state.sessions() as session, session.begin():
        db.scope.enter(session, principal_of(request).scope)
        return work(session)


def run_as_owner(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction as the tables' owner, not the scoped role: for boundary
    changes, which take a generation number (the sequence the scoped role may not set). The
    route checks the caller's permission and that their scope holds the county first.
    """
    with request.app.state.sessions() as session, session.begin():
        return work(session)


def audit_read(request: Request, *rows: dict[str, Any]) -> None:
    """Record sensitive reads (rows from ``gridmap.audit.entry``) in a transaction of their own:
    at once, or, while the request's read session is open, as soon as it closes (before the
    response is sent; a failure to record fails the request).
    """
    pending: list[dict[str, Any]] | None = getattr(request.state, "audit_reads", None)
    if pending is not None:
        pending.extend(rows)
        return
    if rows:
        with request.app.state.sessions() as session:
            audit.record_read(session, *rows)


def audit_sensitive_read(
    request: Request, principal: Principal, resource: str, ids: list[int]
) -> None:
    """A read of ``resource`` rows that showed their sensitive fields (``access.FIELDS``)
    leaves one audit row naming the rows; roles that do not see them leave none.
    """
    if ids and principal.sees(Sensitivity.SENSITIVE):
        shown = [f for f, level in FIELDS[resource].items() if level is Sensitivity.SENSITIVE]
        audit_read(
            request,
            audit.entry(
                principal,
                AuditAction.READ,
                resource,
                ids[0] if len(ids) == 1 else None,
                detail={"ids": ids[:1000], "fields": shown},
            ),
        )


def _write_reads(request: Request) -> None:
    rows = request.state.audit_reads
    request.state.audit_reads = None
    if rows:
        with request.app.state.sessions() as session:
            audit.record_read(session, *rows)


def json_bytes(body: Any) -> bytes:
    """orjson-rendered JSON (datetimes as ISO 8601 with their offset)."""
    return orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response rendered by :func:`json_bytes`."""
    return Response(
        json_bytes(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
