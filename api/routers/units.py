"""Units of every level: GET /units (FeatureCollection, paged), GET /units/{code}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import PageDep, SessionDep, parse_bbox
from api.schemas.geojson import GEOJSON, GeoJSONResponse, feature, feature_collection
from api.schemas.problem import COMMON, problems
from api.schemas.units import UnitCollection, UnitFeature
from gridmap import hierarchy
from gridmap.errors import UnknownCodeError

router = APIRouter(tags=["units 区划单元"], responses=COMMON)


def _properties(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("geojson", "id")}


@router.get(
    "/units",
    response_class=GeoJSONResponse,
    response_model=UnitCollection,
    summary="List units / 区划单元列表",
)
def list_units(
    request: Request,
    session: SessionDep,
    page: PageDep,
    level: Annotated[str | None, Query(description="county | township | village | grid")] = None,
    parent: Annotated[str | None, Query(description="parent code / 上级编码")] = None,
    bbox: Annotated[
        str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")
    ] = None,
    generation: Annotated[int | None, Query(ge=1, description="generation / 版本")] = None,
) -> Response:
    """Units as an RFC 7946 FeatureCollection, current generation unless ``generation`` is set."""
    rows, total = hierarchy.list_units(
        session,
        limit=page.limit,
        offset=page.offset,
        level=level,
        parent=parent,
        bbox=parse_bbox(bbox),
        generation=generation,
    )
    links = []
    if page.offset + len(rows) < total:
        next_url = request.url.include_query_params(offset=page.offset + page.limit)
        links.append({"rel": "next", "href": str(next_url), "type": GEOJSON})
    body = feature_collection(
        [feature(_properties(r), r["geojson"]) for r in rows],
        numberMatched=total,
        numberReturned=len(rows),
        links=links,
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/units/{code}",
    response_class=GeoJSONResponse,
    response_model=UnitFeature,
    responses=problems(404, notes={404: "no such unit (nearby codes listed)"}),
    summary="One unit / 单个区划单元",
)
def get_unit(
    code: str,
    session: SessionDep,
    generation: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """One unit as a GeoJSON Feature; 404 with nearby codes when it does not exist."""
    hierarchy.get_unit(session, code, generation=generation)  # validates and names near codes
    rows, _ = hierarchy.list_units(session, limit=1, code=code, generation=generation)
    if not rows:
        raise UnknownCodeError(f"no unit with code {code}", code=code)
    return Response(feature(_properties(rows[0]), rows[0]["geojson"]), media_type=GEOJSON)
