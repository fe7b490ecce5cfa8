"""Locate one point in PostGIS (``ST_Covers``), for any generation: the past the index does not
hold (``GET /locate?generation=``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gridmap import crs, db
from gridmap.lookup.index import Location, outside_coverage


def locate_point(
    session: Session,
    lon: float,
    lat: float,
    *,
    crs_name: str = "wgs84",
    near_boundary_m: float = 30.0,
    generation: int | None = None,
) -> Location:
    """Locate one point given in ``crs_name``; raise OutsideCoverageError outside every county."""
    crs.check_lonlat(lon, lat)
    crs_name = crs.check_crs(crs_name)
    db.generations.check_exists(session, generation)
    wlon, wlat = (float(v) for v in crs.to_wgs84(lon, lat, crs_name))
    rows = db.units.covering(session, wlon, wlat, generation=generation)
    best: dict[str, Any] = {}
    for row in rows:  # ordered by code: the first of a level is the lower code
        best.setdefault(row.level, row)
    if "county" not in best:
        raise outside_coverage(lon, lat, crs_name)
    deepest = next(level for level in ("grid", "village", "township", "county") if level in best)
    nearby = db.units.near(
        session, wlon, wlat, level=deepest, distance_m=near_boundary_m, generation=generation
    )
    return Location(
        lon=wlon,
        lat=wlat,
        county=best["county"].code,
        township=best["township"].code if "township" in best else None,
        village=best["village"].code if "village" in best else None,
        grid=best["grid"].code if "grid" in best else None,
        names={level: row.name for level, row in best.items()},
        near_boundary=len(nearby) > 1,
    )
