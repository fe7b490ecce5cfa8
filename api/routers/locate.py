"""GET /locate: which county, township, village and grid hold a point."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import FiniteFloat

from api.deps import SessionDep, SettingsDep
from gridmap import lookup

router = APIRouter(tags=["locate 定位"])

CRS_DESCRIPTION = "wgs84 | cgcs2000 | gcj02 (高德/腾讯) | bd09 (百度)"


@router.get("/locate", summary="Locate a point / 点位定位")
def locate(
    session: SessionDep,
    settings: SettingsDep,
    lon: Annotated[FiniteFloat, Query(description="longitude / 经度")],
    lat: Annotated[FiniteFloat, Query(description="latitude / 纬度")],
    crs: Annotated[str, Query(description=CRS_DESCRIPTION)] = "wgs84",
    generation: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Codes of every level covering the point; lower code wins on a shared edge."""
    location = lookup.locate_point(
        session,
        lon,
        lat,
        crs_name=crs,
        near_boundary_m=settings.near_boundary_m,
        generation=generation,
    )
    return location.to_dict()
