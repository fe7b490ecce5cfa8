"""Point-to-unit lookup (定位): which county, township, village and grid hold a point.

This first version asks PostGIS (``ST_Covers``, so points on an edge are found); the H3 index
replaces it on the hot path. On a shared edge or vertex a point is covered by several units of a
level: the lower code wins, and ``near_boundary`` tells the caller to confirm with the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridmap import crs, db
from gridmap.errors import OutsideCoverageError


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point falls: one code per level (None below the deepest loaded level)."""

    lon: float
    lat: float
    county: str
    township: str | None
    village: str | None
    grid: str | None
    names: dict[str, str]
    near_boundary: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


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
        raise OutsideCoverageError(
            f"point lon={lon}, lat={lat} ({crs_name}) is outside every loaded county; check the "
            "coordinates and their crs",
            lon=lon,
            lat=lat,
            crs=crs_name,
        )
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
