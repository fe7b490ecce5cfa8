"""Incidents (事件): intake (single, idempotent; batch for offline phones), the workflow,
listings with ``overdue``, hotspots, and the category catalogue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat

from api.deps import (
    CRS,
    MAX_BIGINT,
    MAX_INT,
    PageDep,
    SessionDep,
    Text,
    audit_sensitive_read,
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
from api.security import PrincipalDep
from gridmap import audit, categories, incidents
from gridmap.auth.access import ACTION_NEEDS, Principal
from gridmap.errors import NotFoundError, PayloadTooLargeError
from gridmap.vocabulary import Action, AuditAction, CaseType, Permission, Stage, Tier

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
    """Why, and the action's own fields; who acts is the logged-in account, never the body."""

    model_config = ConfigDict(extra="forbid")

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
    limit_hours: FiniteFloat = Field(ge=categories.MIN_HOURS, le=categories.MAX_HOURS)
    stage_hours: dict[
        str, Annotated[FiniteFloat, Field(ge=categories.MIN_HOURS, le=categories.MAX_HOURS)]
    ] = Field(default_factory=dict)
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
    principal: PrincipalDep,
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
    incident, headers = await intake(request.app.state, body, idempotency_key, principal)
    return json_response(incident, 201, headers)


def actor_of(principal: Principal) -> incidents.Actor:
    """The reporter as the intake records it: the account, and where it may report."""
    return incidents.Actor(
        name=principal.username, role=principal.role.value, area=principal.report_scope
    )


async def intake(
    state: Any, body: IncidentIn, key: str | None, principal: Principal
) -> tuple[incidents.IncidentView, dict[str, str]]:
    """Store one report (or replay it) and return the incident with the response headers;
    shared by the route above and the raw ASGI hot path in ``api/hotpath.py``.
    """
    principal.require(Permission.REPORT)
    actor = actor_of(principal)
    report = body.to_report()
    rules: dict[str, Any] = {  # the same for the fast path and the replay
        "key": key,
        "now": state.clock(),
        "near_boundary_m": state.settings.near_boundary_m,
        "actor": actor,
        "bounds": state.time_bounds,
    }
    found = await incidents.report_incident_fast(state.pool, state.index, report, **rules)
    if found is None:  # a retry: compare with the stored report and replay it

        def replay() -> incidents.Intake:
            with state.sessions() as session, session.begin():
                return incidents.report_incident(session, state.index, report, **rules)

        found = await run_in_threadpool(replay)
    headers = {"Location": f"/api/v1/incidents/{found.incident['id']}"}
    if not found.created:
        headers["Idempotent-Replayed"] = "true"
    return principal.redact("incident", found.incident), headers


@router.post(
    "/incidents/batch",
    summary="Sync queued reports / 离线批量上报",
    response_model=BatchResult,
    responses=problems(404, 413, notes={404: "an item lies outside every boundary"}),
)
def report_batch(body: BatchIn, request: Request, principal: PrincipalDep) -> Response:
    """Store a phone's queued reports, all or nothing: resending a batch creates nothing twice,
    and one bad item refuses the batch naming its position.
    """
    if len(body.items) > MAX_BATCH:
        raise PayloadTooLargeError(
            f"{len(body.items)} reports exceed the limit of {MAX_BATCH} per batch; split it",
            limit=MAX_BATCH,
        )
    principal.require(Permission.REPORT)
    state = request.app.state
    items = [(item.key, item.to_report()) for item in body.items]

    def work(session: Any) -> list[incidents.Intake]:
        stored = incidents.report_many(
            session,
            state.index,
            items,
            now=now(request),
            near_boundary_m=state.settings.near_boundary_m,
            actor=actor_of(principal),
            bounds=state.time_bounds,
        )
        audit.record(
            session,
            *(
                audit.entry(
                    principal,
                    AuditAction.CREATE,
                    "incident",
                    r.incident["id"],
                    county=r.incident["county_code"],
                    after={"grid_code": r.incident["grid_code"], "stage": r.incident["stage"]},
                )
                for r in stored
                if r.created
            ),
        )
        return stored

    results = run_in_session(request, work)
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
    principal: PrincipalDep,
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
    """Incidents matching every filter in the caller's area, newest first, paged."""
    principal.require(Permission.READ_INCIDENTS)
    total, items = incidents.search(
        session,
        scope=principal.scope,
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
    audit_sensitive_read(request, principal, "incident", [i["id"] for i in items])
    shown = [principal.redact("incident", i) for i in items]
    return json_response(
        {"total": total, "limit": page.limit, "offset": page.offset, "items": shown}
    )


@router.get(
    "/incidents/hotspots",
    summary="Monthly hotspots / 每月一题",
    response_model=Hotspots,
    responses=problems(404),
)
def hotspots(
    principal: PrincipalDep,
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (China time)")],
    resolution: Annotated[int, Query(ge=5, le=11, description="H3 resolution of places")] = 9,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Counts per H3 cell, grid and category for the month, growth over the month before, and
    the places where the same kind of incident keeps coming back.
    """
    principal.require(Permission.READ_INCIDENTS)
    if not principal.scope.touches(county):
        raise NotFoundError(f"no county {county} in your area", code=county)
    return json_response(
        incidents.hotspots(
            session,
            county=county,
            month=month,
            resolution=resolution,
            top=top,
            scope=principal.scope,
        )
    )


@router.get(
    "/incidents/{incident_id}",
    summary="One incident / 事件详情",
    response_model=IncidentDetail,
    responses=problems(404),
)
def get_incident(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    incident_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
) -> Response:
    """The incident with its full audit trail (who, when, from, to, note); 404 outside the
    caller's area, exactly as for an id that does not exist.
    """
    principal.require(Permission.READ_INCIDENTS)
    found = incidents.get(session, incident_id, scope=principal.scope, now=now(request))
    audit_sensitive_read(request, principal, "incident", [incident_id])
    return json_response(principal.redact("incident", found))


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
    principal: PrincipalDep,
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
    """Move the case along the workflow as the logged-in account (the trail records it); 409
    lists the allowed actions when this one is not, 403 when the role may not take it.
    """
    wanted = Action.parse(action)
    needed = ACTION_NEEDS.get(wanted)
    if needed is None:  # report: only intake opens a case
        principal.require(Permission.ACCEPT)  # nobody holds report-as-action; names the rule
    else:
        principal.require(needed)
    done = run_in_session(
        request,
        lambda session: _act(session, principal, incident_id, wanted, body, now(request)),
    )
    return json_response(principal.redact("incident", done))


def _act(
    session: Any,
    principal: Principal,
    incident_id: int,
    action: Action,
    body: ActionIn,
    at: Any,
) -> incidents.IncidentDetail:
    """One workflow action in the caller's scope, with its audit-log row."""
    before = incidents.get(session, incident_id, scope=principal.scope, now=at)
    after = incidents.act(
        session,
        incident_id,
        action,
        actor=principal.username,
        note=body.note,
        rating=body.rating,
        worker_id=body.worker_id,
        department=body.department,
        expected_version=body.version,
        now=at,
        scope=principal.scope,
    )
    keep = ("stage", "tier", "worker_id", "department", "rating", "version")
    audit.record(
        session,
        audit.entry(
            principal,
            AuditAction.UPDATE,
            "incident",
            incident_id,
            county=after["county_code"],
            before={k: before.get(k) for k in keep},
            after={k: after.get(k) for k in keep},
            detail={"action": action.value, "note": body.note},
        ),
    )
    return after


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
    principal: PrincipalDep,
    body: CategoryIn,
    code: Annotated[str, Path(pattern=r"^\d{2}(\d{2})?$")],
) -> Response:
    """Create or replace one category's rules (2 digits: 大类; 4 digits: 小类 under it); county
    admins only.
    """
    principal.require(Permission.EDIT_CATEGORIES)
    row = {"code": code, **body.model_dump()}

    def work(session: Any) -> categories.CategoryView:
        before = categories.find(session, code)
        categories.put(session, [row])
        after = categories.get(session, code)
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.UPDATE if before else AuditAction.CREATE,
                "category",
                code,
                before=before,
                after=after,
            ),
        )
        return after

    return json_response(run_in_session(request, work))
