"""Relocation plans (搬迁安置方案): make one, read it, its lists, GeoJSON and map; carry it out
and register moved households at their destination.
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import (
    CRS,
    MAX_BIGINT,
    MAX_INT,
    PageDep,
    SessionDep,
    Text,
    audit_sensitive_read,
    json_bytes,
    json_response,
    now,
    run_in_session,
)
from api.routers.sites import shape_of, site_properties, visible_counties
from api.schemas import relocation as schemas
from api.schemas.geojson import GEOJSON, GeoJSONResponse
from api.schemas.problem import BINARY, COMMON, TEXT, problems
from api.security import PrincipalDep
from gridmap import audit, maps
from gridmap.auth.access import Principal, hidden_fields
from gridmap.errors import NotFoundError
from gridmap.relocation import lists, plans
from gridmap.vocabulary import (
    AuditAction,
    DistanceKind,
    KeepTogether,
    Language,
    Permission,
    Role,
    SiteKind,
)

router = APIRouter(tags=["relocation 搬迁安置"], responses=COMMON)
PlanId = Annotated[int, Path(ge=1, le=MAX_INT)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


Code = Annotated[str, Field(pattern=r"^\d{12,15}$", description="village (12) or grid (15)")]
SiteCode = Annotated[Text, Field(max_length=32)]


class PlanIn(BaseModel):
    """Who is affected (a hazard area and/or villages or grids) and where they may go."""

    county_code: str = Field(pattern=r"^\d{6}$")
    hazard: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon or MultiPolygon (风险区), in ``crs``"
    )
    crs: CRS = CRS.WGS84
    villages: list[Code] = Field(default_factory=list, max_length=plans.MAX_CODES)
    grids: list[Code] = Field(default_factory=list, max_length=plans.MAX_CODES)
    sites: list[SiteCode] = Field(
        default_factory=list, max_length=5_000, description="site codes; default: all"
    )
    kind: SiteKind | None = Field(None, description="only sites of this kind")
    max_distance_m: float | None = Field(None, gt=0, le=500_000)
    keep_together: KeepTogether | None = Field(
        None, description="grid | village: its households at one site where possible"
    )
    distance: DistanceKind = DistanceKind.STRAIGHT
    priority_first: bool = Field(True, description="重点人群 first when places are short")


class RegistrationIn(BaseModel):
    """Households registered at their destination (落户)."""

    household_ids: list[Annotated[int, Field(ge=1, le=MAX_BIGINT)]] = Field(
        min_length=1, max_length=10_000
    )


def _plan(session: Any, principal: Principal, plan_id: int) -> plans.PlanResult:
    """The plan if its county touches the caller's area (404 otherwise, as if missing)."""
    county = plans.county_of(session, plan_id)
    if county is None or not principal.scope.touches(county):
        raise NotFoundError(f"no relocation plan {plan_id}", plan=plan_id)
    return plans.load(session, plan_id)


def _body(result: plans.PlanResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "county_code": result.county,
        "created_at": result.created_at,
        "created_by": result.created_by,
        "summary": result.summary,
        "request": result.request,
        "sites": [site_properties(s) for s in result.sites],
    }


@router.post(
    "/relocation/plans",
    status_code=201,
    response_model=schemas.PlanView,
    summary="Make a relocation plan / 编制安置方案",
    responses=problems(404, notes={404: "no such county, village, grid or site, or no households"}),
)
def make_plan(request: Request, principal: PrincipalDep, body: PlanIn) -> Response:
    """Every affected household (in the caller's area) to a site: the most priority
    households, then the most households, then the least total distance, within both
    capacities; stored, so its lists and map can be fetched by id.
    """
    principal.require(Permission.PLAN_RELOCATION)
    if not principal.scope.touches(body.county_code):
        raise NotFoundError(f"no county {body.county_code} in your area", code=body.county_code)
    asked = plans.PlanRequest(
        county=body.county_code,
        hazard=None if body.hazard is None else shape_of(body.hazard, body.crs, "the hazard area"),
        villages=tuple(body.villages),
        grids=tuple(body.grids),
        site_codes=tuple(body.sites),
        kind=body.kind,
        max_distance_m=body.max_distance_m,
        keep_together=body.keep_together,
        distance=body.distance,
        priority_first=body.priority_first,
    )

    def work(session: Any) -> dict[str, Any]:
        result = plans.make(session, asked, actor=principal.username)
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.CREATE,
                "relocation_plan",
                result.id,
                county=result.county,
                after={"summary": result.summary},
            ),
        )
        return _body(result)

    made = run_in_session(request, work)
    return json_response(made, 201, {"Location": f"/api/v1/relocation/plans/{made['id']}"})


@router.get(
    "/relocation/plans",
    response_model=schemas.PlanPage,
    summary="List relocation plans / 安置方案列表",
)
def list_plans(principal: PrincipalDep, session: SessionDep, page: PageDep) -> Response:
    """Plans of the counties in the caller's area, newest first (summaries only)."""
    counties = visible_counties(principal)
    items = plans.listing(session, counties=counties, limit=page.limit, offset=page.offset)
    return json_response({"limit": page.limit, "offset": page.offset, "items": items})


@router.get(
    "/relocation/plans/{plan_id}",
    response_model=schemas.PlanView,
    summary="One relocation plan / 安置方案",
    responses=problems(404),
)
def get_plan(plan_id: PlanId, principal: PrincipalDep, session: SessionDep) -> Response:
    """The plan's summary, request and sites with this plan's load."""
    return json_response(_body(_plan(session, principal, plan_id)))


@router.get(
    "/relocation/plans/{plan_id}/households",
    response_class=GeoJSONResponse,
    response_model=schemas.PlanHouseholds,
    summary="The plan's households as GeoJSON / 安置明细",
    responses=problems(404),
)
def plan_geojson(
    plan_id: PlanId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Sites and households (points, with their site, distances and reason) as one
    FeatureCollection; persons, flags and positions only for roles that see sensitive data.
    """
    result = _plan(session, principal, plan_id)
    hidden = hidden_fields("household", principal.role)
    body = lists.geojson(result, hidden=hidden)
    audit_sensitive_read(
        request, principal, "household", result.households["household_id"].tolist()
    )
    return Response(json_bytes(body), media_type=GEOJSON)


@router.get(
    "/relocation/plans/{plan_id}/lists",
    response_class=Response,
    summary="Evacuation lists / 转移安置清单",
    responses=problems(404) | {200: {"content": {"text/csv": TEXT, XLSX: BINARY}}},
)
def plan_lists(
    plan_id: PlanId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv | xlsx")] = "xlsx",
    by: Annotated[Literal["worker", "site"], Query(description="worker | site")] = "worker",
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    lang: Language = Language.ZH,
) -> Response:
    """One list per grid worker (or per site): XLSX has a sheet each after the summary; CSV
    is one list (``worker_id``; a grid worker gets their own). A grid worker sees only their
    own households; roles that may not see persons and flags get lists without them.
    """
    result = _plan(session, principal, plan_id)
    hidden = hidden_fields("household", principal.role)
    if principal.role is Role.GRID_WORKER:
        worker_id = principal.worker_id or -1
    sheets: dict[str, Any]
    if by == "site":
        sheets = lists.site_lists(result, lang=lang)
        names = {s["code"]: s["name"] for s in result.sites}
        sheets = {f"{code} {names.get(code, '')}": frame for code, frame in sheets.items()}
    else:
        wanted = None if worker_id is None else {worker_id}
        found = lists.worker_lists(session, result, lang=lang, workers=wanted)
        sheets = {f"{wid} {name}": frame for wid, (name, frame) in found.items()}
        if worker_id is not None and not found:
            raise NotFoundError(f"no households of worker {worker_id} in plan {plan_id}")
    shown = [int(i) for frame in sheets.values() for i in frame["household_id"]]
    audit_sensitive_read(request, principal, "household", shown)
    filename = f"relocation-plan-{plan_id}-{by}"
    if format == "csv":
        if len(sheets) != 1 and by == "worker":
            frame = lists.table(result, lang=lang)
        else:
            frame = next(iter(sheets.values())) if sheets else lists.table(result, lang=lang)
        content = lists.to_csv(frame, lang=lang, hidden=hidden)
        media = "text/csv; charset=utf-8"
    else:
        content = lists.to_xlsx(sheets, lang=lang, hidden=hidden, summary=result.summary)
        media = XLSX
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}.{format}"
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/relocation/plans/{plan_id}/map",
    response_class=Response,
    summary="The plan's map / 安置方案图",
    responses=problems(404) | {200: {"content": {"text/html": TEXT}}},
)
def plan_map(
    plan_id: PlanId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    lang: Language = Language.ZH,
) -> Response:
    """Flows from grids to sites, width by households; sites sized by this plan's load."""
    result = _plan(session, principal, plan_id)
    page = maps.render(
        maps.plan_map(
            session,
            result,
            lang=lang,
            asset_url=request.scope.get("root_path", "") + maps.ASSET_ROUTE,
        )
    ).encode()
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        page = gzip.compress(page, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


@router.post(
    "/relocation/plans/{plan_id}/carry-out",
    response_model=schemas.Moved,
    summary="Carry out a plan / 实施搬迁",
    responses=problems(404, 422),
)
def carry_out(plan_id: PlanId, request: Request, principal: PrincipalDep) -> Response:
    """Record each assigned household's destination (the origin still serves it until it is
    registered) and add the movers to the sites' occupancy, in one transaction.
    """
    principal.require(Permission.RELOCATE)
    at = now(request)

    def work(session: Any) -> dict[str, Any]:
        result = _plan(session, principal, plan_id)
        moved = plans.carry_out(session, plan_id, at=at)
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.UPDATE,
                "relocation_plan",
                plan_id,
                county=result.county,
                detail={"carried_out": moved},
            ),
        )
        return {"plan": plan_id, "moved": moved}

    return json_response(run_in_session(request, work))


@router.post(
    "/relocation/registrations",
    response_model=schemas.Registered,
    summary="Register moved households / 迁入落户",
    responses=problems(422),
)
def register(request: Request, principal: PrincipalDep, body: RegistrationIn) -> Response:
    """From now on the destination's village and grid serve these households."""
    principal.require(Permission.RELOCATE)

    def work(session: Any) -> dict[str, Any]:
        count = plans.register(session, body.household_ids)
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.UPDATE,
                "household",
                None,
                detail={"registered": body.household_ids[:1000]},
            ),
        )
        return {"registered": count}

    return json_response(run_in_session(request, work))
