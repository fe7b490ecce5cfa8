"""Incidents (事件): intake (single, idempotent; batch for offline phones), the workflow,
listings with ``overdue``, hotspots, and the category catalogue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, Field, FiniteFloat

from api.deps import (
    CRS,
    MAX_BIGINT,
    MAX_INT,
    PageDep,
    SessionDep,
    Text,
    json_response,
    now,
    parse_bbox,
    run_in_session,
)
from api.schemas.incidents import (
    BatchResult,
    CategoryView,
    Hotspots,
    IncidentDetail,
    IncidentPage,
    IncidentView,
)
from api.schemas.problem import COMMON, problems
from gridmap import categories, incidents
from gridmap.errors import PayloadTooLargeError
from gridmap.vocabulary import CaseType, Stage, Tier

router = APIRouter(tags=["incidents 事件"], responses=COMMON)

MAX_BATCH = 1000


class IncidentIn(BaseModel):
    """A report from a phone. ``crs``: gcj02 for 高德/腾讯 maps, bd09 for 百度."""

    lon: FiniteFloat = Field(description="longitude / 经度")
    lat: FiniteFloat = Field(description="latitude / 纬度")
    crs: CRS = CRS.WGS84
    category: Text = Field(min_length=2, max_length=8, description="category code / 事件分类编码")
    description: Text = Field("", max_length=incidents.MAX_DESCRIPTION, description="描述")
    reporter: Text = Field("", max_length=200, description="reporter / 上报人")
    device_time: datetime | None = Field(None, description="time on the phone / 设备时间")
    gps_accuracy_m: float | None = Field(None, ge=0, lt=100_000, description="GPS 精度 (米)")
    photo_urls: list[AnyHttpUrl] = Field(default_factory=list, max_length=incidents.MAX_PHOTOS)

    def to_report(self) -> incidents.Report:
        """The library's value object."""
        return incidents.Report(
            lon=self.lon,
            lat=self.lat,
            crs=self.crs,
            category=self.category,
            description=self.description,
            reporter=self.reporter,
            device_time=self.device_time,
            gps_accuracy_m=self.gps_accuracy_m,
            photo_urls=tuple(str(u) for u in self.photo_urls),
        )


class BatchItem(IncidentIn):
    """One queued report; ``key`` is generated on the phone once per report (a UUID)."""

    key: Text = Field(min_length=1, max_length=incidents.MAX_KEY_LENGTH)


class BatchIn(BaseModel):
    """A phone's offline queue."""

    items: list[BatchItem] = Field(min_length=1)


class ActionIn(BaseModel):
    """Who acts, why, and the action's own fields."""

    actor: Text = Field(min_length=1, max_length=200, description="who acts / 操作人")
    note: Text = Field("", max_length=4000, description="reason or feedback / 意见")
    rating: int | None = Field(None, ge=1, le=5, description="rate: 1–5 / 满意度")
    worker_id: int | None = Field(
        None, ge=1, le=MAX_INT, description="dispatch: to this worker / 派遣给网格员"
    )
    department: Text | None = Field(None, max_length=200, description="dispatch: 部门")
    version: int | None = Field(None, ge=1, description="the version you saw / 乐观锁版本")


class CategoryIn(BaseModel):
    """A category's rules; ``parent_code`` empty for a 大类."""

    parent_code: str | None = None
    name_zh: Text = Field(min_length=1, max_length=100)
    name_en: Text = Field(min_length=1, max_length=100)
    tier: Tier
    case_type: CaseType
    limit_hours: FiniteFloat = Field(gt=0, le=24 * 365)
    stage_hours: dict[str, Annotated[FiniteFloat, Field(gt=0, le=24 * 365)]] = Field(
        default_factory=dict
    )
    active: bool = True


@router.post(
    "/incidents",
    status_code=201,
    summary="Report an incident / 上报事件",
    response_model=IncidentView,
    responses={
        201: {"description": "created, or replayed (header Idempotent-Replayed: true)"},
        **problems(
            404,
            409,
            413,
            422,
            notes={
                404: "outside every boundary, or unknown category",
                409: "a request with this Idempotency-Key is still in progress (see Retry-After)",
                422: "bad input, or the key was used for a different report",
            },
        ),
    },
)
async def report(
    body: IncidentIn,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="IETF Idempotency-Key: one per report, reused on retries / 幂等键",
            max_length=incidents.MAX_KEY_LENGTH,
        ),
    ] = None,
) -> Response:
    """Locate the report to county, township, village and grid, assign the grid's worker, store
    it with its first audit row. Send an ``Idempotency-Key`` so retries never duplicate.
    """
    incident, headers = await intake(request.app.state, body, idempotency_key)
    return json_response(incident, 201, headers)


async def intake(
    state: Any, body: IncidentIn, key: str | None
) -> tuple[incidents.IncidentView, dict[str, str]]:
    """Store one report (or replay it) and return the incident with the response headers;
    shared by the route above and the raw ASGI hot path in ``api/hotpath.py``.
    """
    report = body.to_report()
    at = state.clock()
    near_m = state.settings.near_boundary_m
    found = await incidents.report_incident_fast(
        state.pool, state.index, report, key=key, now=at, near_boundary_m=near_m
    )
    if found is None:  # a retry: compare with the stored report and replay it

        def replay() -> incidents.Intake:
            with state.sessions() as session, session.begin():
                return incidents.report_incident(
                    session, state.index, report, key=key, now=at, near_boundary_m=near_m
                )

        found = await run_in_threadpool(replay)
    headers = {"Location": f"/api/v1/incidents/{found.incident['id']}"}
    if not found.created:
        headers["Idempotent-Replayed"] = "true"
    return found.incident, headers


@router.post(
    "/incidents/batch",
    summary="Sync queued reports / 离线批量上报",
    response_model=BatchResult,
    responses=problems(404, 413, notes={404: "an item lies outside every boundary"}),
)
def report_batch(body: BatchIn, request: Request) -> Response:
    """Store a phone's queued reports, all or nothing: resending a batch creates nothing twice,
    and one bad item refuses the batch naming its position.
    """
    if len(body.items) > MAX_BATCH:
        raise PayloadTooLargeError(
            f"{len(body.items)} reports exceed the limit of {MAX_BATCH} per batch; split it",
            limit=MAX_BATCH,
        )
    state = request.app.state
    items = [(item.key, item.to_report()) for item in body.items]
    results = run_in_session(
        request,
        lambda session: incidents.report_many(
            session,
            state.index,
            items,
            now=now(request),
            near_boundary_m=state.settings.near_boundary_m,
        ),
    )
    summary = {
        "count": len(results),
        "created": sum(r.created for r in results),
        "existing": sum(not r.created for r in results),
        "items": [
            {
                "key": key,
                "id": r.incident["id"],
                "created": r.created,
                "grid_code": r.incident["grid_code"],
                "stage": r.incident["stage"],
            }
            for (key, _), r in zip(items, results, strict=True)
        ],
    }
    return json_response(summary)


@router.get("/incidents", summary="List incidents / 事件列表", response_model=IncidentPage)
def list_incidents(
    request: Request,
    session: SessionDep,
    page: PageDep,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    code: Annotated[
        str | None, Query(pattern=r"^\d{9,15}$", description="township, village or grid code")
    ] = None,
    stage: Annotated[
        list[Stage] | None,
        Query(description="one or more stages"),
    ] = None,
    category: Annotated[str | None, Query(pattern=r"^\d{2,4}$")] = None,
    overdue: Annotated[bool, Query(description="only late open cases / 仅超时")] = False,
    since: Annotated[
        AwareDatetime | None, Query(description="reported at or after (with timezone)")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="reported before")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> Response:
    """Incidents matching every filter, newest first, paged."""
    total, items = incidents.search(
        session,
        now=now(request),
        overdue=overdue,
        county=county,
        code=code,
        stages=stage,
        category=category,
        since=since,
        until=until,
        bbox=parse_bbox(bbox),
        worker_id=worker_id,
        limit=page.limit,
        offset=page.offset,
    )
    return json_response(
        {"total": total, "limit": page.limit, "offset": page.offset, "items": items}
    )


@router.get(
    "/incidents/hotspots",
    summary="Monthly hotspots / 每月一题",
    response_model=Hotspots,
    responses=problems(404),
)
def hotspots(
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (China time)")],
    resolution: Annotated[int, Query(ge=5, le=11, description="H3 resolution of places")] = 9,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Counts per H3 cell, grid and category for the month, growth over the month before, and
    the places where the same kind of incident keeps coming back.
    """
    return json_response(
        incidents.hotspots(session, county=county, month=month, resolution=resolution, top=top)
    )


@router.get(
    "/incidents/{incident_id}",
    summary="One incident / 事件详情",
    response_model=IncidentDetail,
    responses=problems(404),
)
def get_incident(
    request: Request, session: SessionDep, incident_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)]
) -> Response:
    """The incident with its full audit trail (who, when, from, to, note)."""
    return json_response(incidents.get(session, incident_id, now=now(request)))


@router.post(
    "/incidents/{incident_id}/actions/{action}",
    summary="Act on an incident / 办理",
    response_model=IncidentDetail,
    responses=problems(
        403,
        404,
        409,
        notes={
            403: "the actor handled or dispatched this case and cannot close it",
            409: "not allowed from this stage (allowed actions listed), or changed meanwhile",
        },
    ),
)
def act(
    request: Request,
    body: ActionIn,
    incident_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    action: Annotated[
        str,
        Path(
            description="accept 立案 | reject 不予立案 | dispatch 派遣 | start 处置 | "
            "resolve 反馈 | close 核查结案 | rate 评价 | return 退回 | escalate 升级 | "
            "reopen 重办"
        ),
    ],
) -> Response:
    """Move the case along the workflow; 409 lists the allowed actions when this one is not."""
    return json_response(
        run_in_session(
            request,
            lambda session: incidents.act(
                session,
                incident_id,
                action,
                actor=body.actor,
                note=body.note,
                rating=body.rating,
                worker_id=body.worker_id,
                department=body.department,
                expected_version=body.version,
                now=now(request),
            ),
        )
    )


@router.get(
    "/categories",
    summary="Category catalogue / 事件分类",
    response_model=list[CategoryView],
)
def list_categories(session: SessionDep) -> Response:
    """Every category with its tier, case type and time limits per stage."""
    return json_response(categories.catalogue(session))


@router.put(
    "/categories/{code}",
    summary="Add or change a category / 配置事件分类",
    response_model=CategoryView,
)
def put_category(
    request: Request,
    body: CategoryIn,
    code: Annotated[str, Path(pattern=r"^\d{2}(\d{2})?$")],
) -> Response:
    """Create or replace one category's rules (2 digits: 大类; 4 digits: 小类 under it)."""
    row = {"code": code, **body.model_dump()}
    run_in_session(request, lambda session: categories.put(session, [row]))
    with request.app.state.sessions() as session:
        return json_response(categories.get(session, code))
