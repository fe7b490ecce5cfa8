"""Grid workers (网格员): roster, grids, duty, GPS tracks, staffing gaps and patrol coverage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, FiniteFloat

from api.deps import CRS, MAX_INT, PageDep, SessionDep, Text, json_response, run_in_session
from api.schemas.problem import COMMON, problems
from api.schemas.workers import Coverage, Staffing, TrackResult, WorkerPage, WorkerView
from gridmap import workers
from gridmap.vocabulary import Duty, WorkerRole

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


@router.get("/workers", summary="List workers / 网格员列表", response_model=WorkerPage)
def list_workers(
    session: SessionDep,
    page: PageDep,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    code: Annotated[str | None, Query(pattern=r"^\d{6,15}$", description="under this unit")] = None,
    on_duty: bool | None = None,
    role: WorkerRole | None = None,
) -> Response:
    """Workers with their grids, by id."""
    total, items = workers.search(
        session,
        county=county,
        code=code,
        on_duty=on_duty,
        role=role,
        limit=page.limit,
        offset=page.offset,
    )
    return json_response(
        {"total": total, "limit": page.limit, "offset": page.offset, "items": items}
    )


@router.post(
    "/workers",
    status_code=201,
    summary="Add a worker / 新增网格员",
    response_model=WorkerView,
    responses=problems(404, notes={404: "unknown county or grid code"}),
)
def add_worker(request: Request, body: WorkerIn) -> Response:
    """Add a worker; a primary grid that already has one passes to the new worker."""
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
        return workers.require(session, worker_id)

    created = run_in_session(request, work)
    return json_response(created, 201, {"Location": f"/api/v1/workers/{created['id']}"})


@router.get(
    "/workers/staffing",
    summary="Grids without a fulltime worker / 网格配备检查",
    response_model=Staffing,
    responses=problems(404),
)
def staffing(session: SessionDep, county: Annotated[str, Query(pattern=r"^\d{6}$")]) -> Response:
    """Every grid should have at least one fulltime worker; these have none."""
    gaps = workers.unstaffed(session, county)
    return json_response({"county": county, "unstaffed": len(gaps), "grids": gaps})


@router.get(
    "/workers/coverage",
    summary="Patrol coverage / 走遍率",
    response_model=Coverage,
    responses=problems(404),
)
def coverage(
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
    since: Annotated[AwareDatetime, Query(description="period start (with timezone)")],
    until: Annotated[AwareDatetime, Query(description="period end, exclusive")],
    code: Annotated[str | None, Query(pattern=r"^\d{9,15}$")] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> Response:
    """Per grid: how many of its H3 resolution-11 cells some patrol track passed through."""
    rows = workers.coverage(
        session, county=county, since=since, until=until, code=code, worker_id=worker_id
    )
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
def get_worker(session: SessionDep, worker_id: WorkerId) -> Response:
    """The worker with their grids and last known position."""
    return json_response(workers.require(session, worker_id))


@router.patch(
    "/workers/{worker_id}",
    summary="On or off duty / 在岗状态",
    response_model=WorkerView,
    responses=problems(404),
)
def set_duty(request: Request, body: DutyIn, worker_id: WorkerId) -> Response:
    """Off-duty workers' new incidents go to colleagues of the village, then the township."""
    return json_response(
        run_in_session(request, lambda s: workers.set_on_duty(s, worker_id, body.on_duty))
    )


@router.put(
    "/workers/{worker_id}/grids",
    summary="Attach to grids / 分配网格",
    response_model=WorkerView,
    responses=problems(404),
)
def set_grids(request: Request, body: GridsIn, worker_id: WorkerId) -> Response:
    """Attach the worker to grids; as primary, they replace the grid's current primary."""

    def work(session: Any) -> workers.WorkerView:
        workers.assign(session, worker_id, body.grids, duty=body.duty)
        return workers.require(session, worker_id)

    return json_response(run_in_session(request, work))


@router.post(
    "/workers/{worker_id}/positions",
    summary="Upload a track / 上传巡查轨迹",
    response_model=TrackResult,
    responses=problems(404, 413),
)
def add_positions(request: Request, body: TrackIn, worker_id: WorkerId) -> Response:
    """Store GPS fixes in any CRS; a resent batch stores nothing twice."""
    added = run_in_session(
        request,
        lambda session: workers.record_track(
            session,
            worker_id,
            [f.lon for f in body.fixes],
            [f.lat for f in body.fixes],
            [f.t for f in body.fixes],
            crs_name=body.crs,
            accuracy_m=[f.accuracy_m for f in body.fixes],
        ),
    )
    return json_response({"received": len(body.fixes), "added": added})
