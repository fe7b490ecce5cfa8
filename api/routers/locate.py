"""GET /locate and POST /locate/batch: which county, township, village and grid hold points."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, FiniteFloat

from api.deps import IndexDep, SessionDep, SettingsDep
from gridmap import lookup
from gridmap.errors import PayloadTooLargeError

router = APIRouter(tags=["locate 定位"])

CRS_DESCRIPTION = "wgs84 | cgcs2000 | gcj02 (高德/腾讯) | bd09 (百度)"


class LocationPublic(BaseModel):
    """Where a point falls; ``near_boundary`` asks the caller to confirm with the user."""

    lon: float
    lat: float
    county: str
    township: str | None
    village: str | None
    grid: str | None
    names: dict[str, str]
    near_boundary: bool


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


@router.get("/locate", summary="Locate a point / 点位定位")
def locate(
    index: IndexDep,
    settings: SettingsDep,
    session: SessionDep,
    lon: Annotated[FiniteFloat, Query(description="longitude / 经度")],
    lat: Annotated[FiniteFloat, Query(description="latitude / 纬度")],
    crs: Annotated[str, Query(description=CRS_DESCRIPTION)] = "wgs84",
    generation: Annotated[int | None, Query(ge=1, description="past generation / 历史版本")] = None,
) -> LocationPublic:
    """Codes of every level covering the point (H3 index; lower code wins on a shared edge)."""
    if generation is not None:  # history is not indexed: ask PostGIS
        found = lookup.locate_point(
            session,
            lon,
            lat,
            crs_name=crs,
            near_boundary_m=settings.near_boundary_m,
            generation=generation,
        )
    else:
        found = lookup.locate_one(
            index, lon, lat, crs_name=crs, near_boundary_m=settings.near_boundary_m
        )
    return LocationPublic(**found.to_dict())


@router.post("/locate/batch", summary="Locate many points / 批量定位")
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
