"""GET /locate and POST /locate/batch: which county, township, village and grid hold points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, FiniteFloat

from api.deps import IndexDep, SettingsDep, finite_param, positive_int_param
from api.schemas.problem import COMMON, problems
from gridmap import lookup
from gridmap.errors import PayloadTooLargeError

router = APIRouter(tags=["locate 定位"], responses=COMMON)

CRS_DESCRIPTION = "wgs84 | cgcs2000 | gcj02 (高德/腾讯) | bd09 (百度)"


class BatchRequest(BaseModel):
    """Points as [lon, lat] pairs in one CRS."""

    points: list[tuple[FiniteFloat, FiniteFloat]] = Field(min_length=1)
    crs: str = Field("wgs84", description=CRS_DESCRIPTION)


class BatchResponse(BaseModel):
    """Columns, one entry per input point in order; codes are null outside coverage."""

    count: int
    outside: int
    county: list[str | None]
    township: list[str | None]
    village: list[str | None]
    grid: list[str | None]
    near_boundary: list[bool]


LOCATE_PARAMETERS = [
    {
        "name": "lon",
        "in": "query",
        "required": True,
        "description": "longitude / 经度",
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
    },
    {
        "name": "lat",
        "in": "query",
        "required": True,
        "description": "latitude / 纬度",
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
    },
    {
        "name": "crs",
        "in": "query",
        "required": False,
        "description": CRS_DESCRIPTION,
        "schema": {"type": "string", "default": "wgs84"},
    },
    {
        "name": "generation",
        "in": "query",
        "required": False,
        "description": "past generation / 历史版本",
        "schema": {"type": "integer", "minimum": 1},
    },
]


@router.get(
    "/locate",
    summary="Locate a point / 点位定位",
    response_model=lookup.Location,
    responses=problems(404, notes={404: "outside every boundary, or unknown generation"}),
    openapi_extra={"parameters": LOCATE_PARAMETERS},
)
async def locate(request: Request) -> Response:
    """Codes of every level covering the point (H3 index; lower code wins on a shared edge).

    The hot path of every phone report, so it skips FastAPI's per-parameter validation and
    response model: it parses its four parameters itself (same errors, same problem+json) and
    runs on the event loop, since the in-memory lookup takes tens of microseconds. History is
    not indexed: ``generation`` asks PostGIS in a worker thread.
    """
    state = request.app.state
    params = request.query_params
    if "generation" not in params:
        return Response(locate_current(state, params), media_type="application/json")
    lon, lat = finite_param(params, "lon"), finite_param(params, "lat")
    crs = params.get("crs", "wgs84")
    near_m = state.settings.near_boundary_m
    generation = positive_int_param(params, "generation")

    def past() -> lookup.Location:
        with state.sessions() as session:
            return lookup.locate_point(
                session, lon, lat, crs_name=crs, near_boundary_m=near_m, generation=generation
            )

    found = await run_in_threadpool(past)
    return Response(orjson.dumps(found.to_dict()), media_type="application/json")


def locate_current(state: Any, params: Mapping[str, str]) -> bytes:
    """The JSON answer of ``GET /locate`` on the current index (also served by api.hotpath)."""
    lon, lat = finite_param(params, "lon"), finite_param(params, "lat")
    found = lookup.locate_one(
        state.index,
        lon,
        lat,
        crs_name=params.get("crs", "wgs84"),
        near_boundary_m=state.settings.near_boundary_m,
    )
    return orjson.dumps(found.to_dict())


@router.post(
    "/locate/batch",
    summary="Locate many points / 批量定位",
    response_model=BatchResponse,
    responses=problems(413),
)
def locate_batch(body: BatchRequest, index: IndexDep, settings: SettingsDep) -> dict[str, Any]:
    """Locate up to ``max_batch_points`` points in one call; outside points get null codes."""
    if len(body.points) > settings.max_batch_points:
        raise PayloadTooLargeError(
            f"{len(body.points)} points exceed the limit of {settings.max_batch_points} per call; "
            "split the batch",
            limit=settings.max_batch_points,
        )
    lon, lat = zip(*body.points, strict=True)
    found = lookup.locate_points(
        index, lon, lat, crs_name=body.crs, near_boundary_m=settings.near_boundary_m
    )
    return BatchResponse(
        count=len(body.points),
        outside=int(found.outside.sum()),
        county=found.county.tolist(),
        township=found.township.tolist(),
        village=found.village.tolist(),
        grid=found.grid.tolist(),
        near_boundary=found.near_boundary.tolist(),
    ).model_dump()
