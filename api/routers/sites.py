"""Relocation sites (安置点): list, read, add (one Feature or a FeatureCollection), suggest."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

import shapely

from api.deps import (
    CRS,
    MAX_INT,
    PageDep,
    SessionDep,
    Text,
    json_response,
    run_as_owner,
    run_in_session,
)
from api.schemas import relocation as schemas
from api.schemas.geojson import GEOJSON, GeoJSONResponse, feature, feature_collection
from api.schemas.problem import COMMON, problems
from api.security import PrincipalDep
from gridmap import audit, crs, sites
from gridmap.auth.access import Principal
from gridmap.errors import InvalidGeometryError, NotFoundError
from gridmap.relocation import siting
from gridmap.vocabulary import AuditAction, Permission, SiteKind

router = APIRouter(tags=["sites 安置点"], responses=COMMON)
SiteId = Annotated[int, Path(ge=1, le=MAX_INT)]


class SiteProperties(BaseModel):
    """A site's attributes (a Feature's ``properties``)."""

    code: Text = Field(max_length=32, description="编码, unique in the county")
    name: Text = Field(max_length=200, description="名称")
    kind: SiteKind = Field(description="resettlement 集中安置点 | shelter 应急避难场所")
    capacity_households: int = Field(description="容纳户数 (> 0)")
    capacity_persons: int = Field(description="容纳人数 (> 0)")
    occupied_households: int = Field(0, description="已入住户数")
    occupied_persons: int = Field(0, description="已入住人数")
    facilities: list[Text] = Field(default_factory=list, max_length=20, description="配套设施")
    county_code: str | None = Field(
        None, pattern=r"^\d{6}$", description="county; default: where the site lies"
    )


class SiteFeature(BaseModel):
    """One site as a GeoJSON Feature (Point or Polygon)."""

    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: SiteProperties


class SiteCollection(BaseModel):
    """Several sites, written together or not at all."""

    type: Literal["FeatureCollection"]
    features: list[SiteFeature] = Field(min_length=1, max_length=sites.MAX_SITES)


def shape_of(geometry: dict[str, Any], input_crs: CRS, what: str) -> shapely.Geometry:
    """A GeoJSON geometry as a shapely one in WGS84, or a 422 naming what is wrong."""
    try:
        shape = shapely.geometry.shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise InvalidGeometryError(f"{what} is not a GeoJSON geometry ({error})") from error
    except shapely.errors.GEOSException as error:
        raise InvalidGeometryError(f"{what} cannot be built: {error}") from error
    coords = shapely.get_coordinates(shape)
    if coords.size and not np.isfinite(coords).all():
        raise InvalidGeometryError(f"{what} has NaN or infinite coordinates")
    if input_crs is not CRS.WGS84 and not shape.is_empty:
        shape = crs.geometries_to_wgs84(np.array([shape], dtype=object), input_crs.value)[0]
    return shape


def visible_counties(principal: Principal, county: str | None = None) -> list[str] | None:
    """``county`` if the caller's area touches it (404 otherwise), else the counties (or
    prefecture and province prefixes) of their area; None for everything.
    """
    if county is not None:
        if not principal.scope.touches(county):
            raise NotFoundError(f"no county {county} in your area", code=county)
        return [county]
    codes = principal.scope.codes
    return None if codes is None else sorted({c[:6] for c in codes})


def site_properties(row: dict[str, Any], lang: str = "zh") -> dict[str, Any]:
    """A site row as a Feature's properties, with its kind and facilities labelled."""
    props = {k: v for k, v in row.items() if k not in ("wkb", "geojson")}
    props["kind_label"] = SiteKind(row["kind"]).label(lang)
    props["free_households"] = row["capacity_households"] - row["occupied_households"]
    props["free_persons"] = row["capacity_persons"] - row["occupied_persons"]
    return props


@router.get(
    "/sites",
    response_class=GeoJSONResponse,
    response_model=schemas.SiteCollection,
    summary="List sites / 安置点列表",
    responses=problems(404),
)
def list_sites(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    kind: SiteKind | None = None,
) -> Response:
    """Sites of the counties in the caller's area as a FeatureCollection, by county and code."""
    counties = visible_counties(principal, county)
    rows, total = sites.listing(
        session, counties=counties, kind=kind, limit=page.limit, offset=page.offset
    )
    body = feature_collection(
        [feature(site_properties(r), r["geojson"]) for r in rows],
        numberMatched=total,
        numberReturned=len(rows),
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/sites/suggestions",
    response_model=schemas.Suggestion,
    summary="Where new sites would cover every household / 选址建议",
    responses=problems(404),
)
def suggestions(
    principal: PrincipalDep,
    session: SessionDep,
    county: Annotated[str, Query(pattern=r"^\d{6}$")],
    radius_m: Annotated[float, Query(ge=100, le=50_000, description="reach, metres")] = 2_000,
    count: Annotated[
        int | None,
        Query(ge=1, le=siting.MAX_NEW, description="new sites; none: as few as cover all"),
    ] = None,
    kind: SiteKind = SiteKind.SHELTER,
) -> Response:
    """New places (village centres) so that households lie within ``radius_m`` of a site:
    the ``count`` that cover most (maximal covering), or the fewest that cover all (set
    covering), with the existing sites kept. Each Feature can be POSTed to /sites as it is.
    """
    if not (principal.can(Permission.EDIT_SITES) or principal.can(Permission.PLAN_RELOCATION)):
        principal.require(Permission.EDIT_SITES)
    if not principal.holds_county(county):
        raise NotFoundError(f"county {county} is not wholly in your area", code=county)
    found = siting.suggest(session, county, radius_m=radius_m, count=count, kind=kind)
    return json_response(found.as_json())


@router.get(
    "/sites/{site_id}",
    response_class=GeoJSONResponse,
    response_model=schemas.SiteFeature,
    summary="One site / 单个安置点",
    responses=problems(404),
)
def get_site(site_id: SiteId, principal: PrincipalDep, session: SessionDep) -> Response:
    """One site as a GeoJSON Feature (404 outside the caller's area)."""
    found = sites.get(session, site_id)
    if found is None or not principal.scope.touches(found["county_code"]):
        raise NotFoundError(f"no site {site_id}", site=site_id)
    return Response(feature(site_properties(found), found["geojson"]), media_type=GEOJSON)


@router.post(
    "/sites",
    status_code=201,
    response_model=schemas.SitesCreated,
    summary="Add sites / 新增安置点",
    responses=problems(404, 409, 413, notes={409: "the site code is already used in the county"}),
)
def add_sites(
    request: Request,
    principal: PrincipalDep,
    body: SiteFeature | SiteCollection,
    crs_: Annotated[CRS, Query(alias="crs", description="coordinates' CRS")] = CRS.WGS84,
) -> Response:
    """Add one site (a Feature) or several (a FeatureCollection: all or none), each checked
    like a boundary: valid geometry inside its county, capacity > 0, a code new in the county.
    """
    principal.require(Permission.EDIT_SITES)
    features = body.features if isinstance(body, SiteCollection) else [body]
    given = [
        sites.SiteIn(
            **f.properties.model_dump(),
            geom=shape_of(f.geometry, crs_, f"feature {i} ({f.properties.code})"),
            source=f"api:{principal.username}",
        )
        for i, f in enumerate(features)
    ]

    def work(session: Any) -> dict[str, Any]:
        report = sites.add(session, given)
        rows = sites.by_codes(session, report.codes, report.counties)
        for row in rows:
            if not principal.scope.contains(row["village_code"] or row["county_code"]):
                raise NotFoundError(f"site {row['code']} lies outside your area", code=row["code"])
            audit.record(
                session,
                audit.entry(
                    principal,
                    AuditAction.CREATE,
                    "site",
                    row["id"],
                    county=row["county_code"],
                    after=site_properties(row),
                ),
            )
        return {"created": len(rows), "sites": [site_properties(r) for r in rows]}

    created = run_in_session(request, work)
    location = f"/api/v1/sites/{created['sites'][0]['id']}" if created["created"] == 1 else None
    return json_response(created, 201, {"Location": location} if location else None)


@router.post(
    "/sites/{site_id}/community",
    response_model=schemas.Community,
    summary="Make a resettlement site a community / 安置点转为社区",
    responses=problems(404, 422),
)
def to_community(
    site_id: SiteId,
    request: Request,
    principal: PrincipalDep,
    name: Annotated[Text | None, Query(max_length=100, description="the community's name")] = None,
) -> Response:
    """A village-level community with the next code of its township's community block, carved
    out of the villages it overlaps (their lineage kept), its own grids, one new generation;
    a boundary change, so for those who apply plans (county admins).
    """
    principal.require(Permission.APPLY_PLANS)

    def work(session: Any) -> dict[str, Any]:
        found = sites.get(session, site_id)
        if found is None or not principal.holds_county(found["county_code"]):
            raise NotFoundError(f"no site {site_id}", site=site_id)
        settings = request.app.state.settings
        made = sites.to_community(
            session,
            found["county_code"],
            found["code"],
            name=name,
            resolution=settings.h3_resolution,
        )
        audit.record(
            session,
            audit.entry(
                principal,
                AuditAction.UPDATE,
                "site",
                site_id,
                county=found["county_code"],
                after=made,
            ),
        )
        return made

    return json_response(run_as_owner(request, work))
