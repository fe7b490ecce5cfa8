"""Grid workers (网格员): roster, grids, duty, GPS tracks, staffing gaps and patrol coverage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, FiniteFloat

from api.deps import (
    CRS,
    MAX_INT,
    PageDep,
    SessionDep,
    Text,
    audit_sensitive_read,
    json_response,
    now,
    run_in_session,
)
from api.schemas.problem import COMMON, problems
from api.schemas.workers import Coverage, Staffing, TrackResult, WorkerPage, WorkerView
from api.security import PrincipalDep
from gridmap import audit, workers
from gridmap.auth.access import Principal
from gridmap.errors import NotFoundError
from gridmap.vocabulary import AuditAction, Duty, Permission, Role, WorkerRole

router = APIRouter(tags=["workers 网格员"], responses=COMMON)
WorkerId = Annotated[int, Path(ge=1, le=MAX_INT)]


class WorkerIn(BaseModel):
    """A new worker and the grids they look after."""

    county_code: str = Field(pattern=r"^\d{6}$")
    name: Text = Field(min_length=1, max_length=100, description="姓名")
    role: WorkerRole = Field(
        WorkerRole.FULLTIME, description="fulltime 专职 | parttime 兼职 | cadre 包联干部"
    )
    phone: Text = Field("", max_length=40)
    on_duty: bool = True
    primary_grids: list[str] = Field(default_factory=list, max_length=50)
    supporting_grids: list[str] = Field(default_factory=list, max_length=200)


class DutyIn(BaseModel):
    """On or off duty (在岗)."""

    on_duty: bool


class GridsIn(BaseModel):
    """Grids to attach a worker to, as primary (主责) or supporting (协助)."""

    grids: list[str] = Field(min_length=1, max_length=200)
    duty: Duty = Duty.PRIMARY


class Fix(BaseModel):
    """One GPS fix."""

    lon: FiniteFloat
    lat: FiniteFloat
    t: AwareDatetime = Field(description="time with timezone, e.g. 2026-11-23T08:00:00+08:00")
    accuracy_m: float | None = Field(None, ge=0, lt=100_000)


class TrackIn(BaseModel):
    """A batch of fixes in one CRS (phones send what their map app gives)."""

    crs: CRS = CRS.WGS84
    fixes: list[Fix] = Field(min_length=1, max_length=workers.MAX_FIXES)


def _check_grids(principal: Principal, grids: list[str]) -> None:
    """Grids outside the caller's area do not exist for them (404, like unknown codes)."""
    outside = [g for g in grids if not principal.scope.contains(g)]
    if outside:
        raise NotFoundError(f"no grid {outside[0]} in your area", code=outside[0])


def _own(session: Any, principal: Principal, worker_id: int) -> workers.WorkerView:
    """The worker if the caller may change them (404 otherwise, as if missing)."""
    return workers.require(session, worker_id, scope=principal.scope)


@router.get("/workers", summary="List workers / 网格员列表", response_model=WorkerPage)
def list_workers(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    code: Annotated[str | None, Query(pattern=r"^\d{6,15}$", description="under this unit")] = None,
    on_duty: bool | None = None,
    role: WorkerRole | None = None,
) -> Response:
    """Workers in the caller's area with their grids, by id."""
    principal.require(Permission.READ_WORKERS)
    total, items = workers.search(
        session,
        scope=principal.scope,
        county=county,
        code=code,
        on_duty=on_duty,
        role=role,
        limit=page.limit,
        offset=page.offset,
    )
    audit_sensitive_read(request, principal, "worker", [w["id"] for w in items])
    shown = [principal.redact("worker", w) for w in items]
    return json_response(
        {"total": total, "limit": page.limit, "offset": page.offset, "items": shown}
    )


@router.post(
    "/workers",
    status_code=201,
    summary="Add a worker / 新增网格员",
    response_model=WorkerView,
    responses=problems(404, notes={404: "unknown county or grid code"}),
)
def add_worker(request: Request, principal: PrincipalDep, body: WorkerIn) -> Response:
    """Add a worker; a primary grid that already has one passes to the new worker."""
    principal.require(Permission.EDIT_WORKERS)
    if not principal.scope.touches(body.county_code):
        raise NotFoundError(f"no county {body.county_code} in your area", code=body.county_code)
    _check_grids(principal, [*body.primary_grids, *body.supporting_grids])
    new = workers.NewWorker(
        county_code=body.county_code,
        name=body.name,
        role=body.role,
        phone=body.phone,
        on_duty=body.on_duty,
        primary_grids=tuple(body.primary_grids),
        supporting_grids=tuple(body.supporting_grids),
    )

    def work(session: Any) -> workers.WorkerView:
        (worker_id,) = workers.add(session, [new])
        made = workers.require(session, worker_id)
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.CREATE,
                "worker",
                worker_id,
                county=made["county_code"],
                after=made,
            ),
        )
        return made

    created = run_in_session(request, work)
    return json_response(created, 201, {"Location": f"/api/v1/workers/{created['id']}"})


@router.get(
    "/workers/staffing",
    summary="Grids without a fulltime worker / 网格配备检查",
    response_model=Staffing,
    responses=problems(404),
)
def staffing(
    principal: PrincipalDep,
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
) -> Response:
    """Every grid should have at least one fulltime worker; these (in the caller's area) have
    none.
    """
    principal.require(Permission.READ_WORKERS)
    if not principal.scope.touches(county):
        raise NotFoundError(f"no county {county} in your area", code=county)
    gaps = [g for g in workers.unstaffed(session, county) if principal.scope.contains(g["code"])]
    return json_response({"county": county, "unstaffed": len(gaps), "grids": gaps})


@router.get(
    "/workers/coverage",
    summary="Patrol coverage / 走遍率",
    response_model=Coverage,
    responses=problems(404),
)
def coverage(
    principal: PrincipalDep,
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
    since: Annotated[AwareDatetime, Query(description="period start (with timezone)")],
    until: Annotated[AwareDatetime, Query(description="period end, exclusive")],
    code: Annotated[str | None, Query(pattern=r"^\d{9,15}$")] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> Response:
    """Per grid: how many of its H3 resolution-11 cells some patrol track passed through."""
    principal.require(Permission.READ_WORKERS)
    if not principal.scope.touches(county):
        raise NotFoundError(f"no county {county} in your area", code=county)
    rows = [
        r
        for r in workers.coverage(
            session,
            county=county,
            since=since,
            until=until,
            code=code,
            worker_id=worker_id,
            scope=principal.scope,
        )
        if principal.scope.contains(r["grid"])
    ]
    cells = sum(r["cells"] for r in rows)
    visited = sum(r["visited"] for r in rows)
    return json_response(
        {
            "county": county,
            "since": since,
            "until": until,
            "resolution": workers.COVERAGE_RESOLUTION,
            "coverage": round(visited / cells, 4) if cells else 0.0,
            "grids": rows,
        }
    )


@router.get(
    "/workers/{worker_id}",
    summary="One worker / 网格员详情",
    response_model=WorkerView,
    responses=problems(404),
)
def get_worker(
    request: Request, principal: PrincipalDep, session: SessionDep, worker_id: WorkerId
) -> Response:
    """The worker with their grids and last known position (404 outside the caller's area)."""
    principal.require(Permission.READ_WORKERS)
    found = workers.require(session, worker_id, scope=principal.scope)
    audit_sensitive_read(request, principal, "worker", [worker_id])
    return json_response(principal.redact("worker", found))


@router.patch(
    "/workers/{worker_id}",
    summary="On or off duty / 在岗状态",
    response_model=WorkerView,
    responses=problems(404),
)
def set_duty(
    request: Request, principal: PrincipalDep, body: DutyIn, worker_id: WorkerId
) -> Response:
    """Off-duty workers' new incidents go to colleagues of the village, then the township."""
    principal.require(Permission.EDIT_WORKERS)

    def work(session: Any) -> workers.WorkerView:
        before = _own(session, principal, worker_id)
        after = workers.set_on_duty(session, worker_id, body.on_duty)
        _audit_change(session, principal, before, after)
        return after

    return json_response(principal.redact("worker", run_in_session(request, work)))


def _audit_change(
    session: Any, principal: Principal, before: workers.WorkerView, after: workers.WorkerView
) -> None:
    audit.record(
        session,
        audit.entry(
            principal,
            AuditAction.UPDATE,
            "worker",
            after["id"],
            county=after["county_code"],
            before=before,
            after=after,
        ),
    )


@router.put(
    "/workers/{worker_id}/grids",
    summary="Attach to grids / 分配网格",
    response_model=WorkerView,
    responses=problems(404),
)
def set_grids(
    request: Request, principal: PrincipalDep, body: GridsIn, worker_id: WorkerId
) -> Response:
    """Attach the worker to grids; as primary, they replace the grid's current primary."""
    principal.require(Permission.EDIT_WORKERS)
    _check_grids(principal, body.grids)

    def work(session: Any) -> workers.WorkerView:
        before = _own(session, principal, worker_id)
        workers.assign(session, worker_id, body.grids, duty=body.duty)
        after = workers.require(session, worker_id, scope=principal.scope)
        _audit_change(session, principal, before, after)
        return after

    return json_response(principal.redact("worker", run_in_session(request, work)))


@router.post(
    "/workers/{worker_id}/positions",
    summary="Upload a track / 上传巡查轨迹",
    response_model=TrackResult,
    responses=problems(404, 413),
)
def add_positions(
    request: Request, principal: PrincipalDep, body: TrackIn, worker_id: WorkerId
) -> Response:
    """Store GPS fixes in any CRS; a resent batch stores nothing twice. A grid worker records
    only their own track; another worker's id is not found.
    """
    principal.require(Permission.RECORD_POSITIONS)
    if principal.role is Role.GRID_WORKER and principal.worker_id != worker_id:
        raise NotFoundError(f"no worker {worker_id} of yours", worker_id=worker_id)

    def work(session: Any) -> int:
        worker = _own(session, principal, worker_id)
        added = workers.record_track(
            session,
            worker_id,
            [f.lon for f in body.fixes],
            [f.lat for f in body.fixes],
            [f.t for f in body.fixes],
            crs_name=body.crs,
            accuracy_m=[f.accuracy_m for f in body.fixes],
            now=now(request),
            bounds=request.app.state.time_bounds,
        )
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.CREATE,
                "position",
                worker_id,
                county=worker["county_code"],
                detail={"received": len(body.fixes), "added": added},
            ),
        )
        return added

    added = run_in_session(request, work)
    return json_response({"received": len(body.fixes), "added": added})
