"""The county-sharded index the API holds (定位索引): counties first, then each county's finest
layer, persisted in ``cell_index`` and rebuilt when a generation is written.

A county layer at resolution 7 finds the county, then that county's finest layer (grids, else
villages…) at ``GRIDMAP_H3_RESOLUTION`` finds the unit (decision 0007). ``locate_points``
answers many points per county at once; ``locate_one`` is its scalar twin for one HTTP request
(decision 0008). Both pick the layers a point tries by one county-edge rule, ``_tries``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import ConfigDict, with_config
from sqlalchemy.orm import Session

from gridmap import crs, db
from gridmap.errors import CoordinateOutOfRangeError, OutsideCoverageError
from gridmap.lookup.layer import (
    Locator,
    build_locator,
    index_rows,
    interior_mask,
    is_interior,
    locate,
    locate_scalar,
    locator_from_rows,
)
from gridmap.lookup.near import near_boundary, near_scalar, reach
from gridmap.vocabulary import Level

# Counties are few and large: resolution 7 cells (≈ 5 km²) keep that layer small.
COUNTY_RESOLUTION = 7
# (level, digits) as plain values: locate_one runs per HTTP request, enum lookups cost there.
_CODE_LENGTHS: tuple[tuple[str, int], ...] = tuple((lv.value, lv.code_length) for lv in Level)


@with_config(ConfigDict(extra="forbid"))  # the API documents it as is: no other field
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
        """Plain dict for JSON output (no deep copy: this runs once per HTTP locate)."""
        return {
            "lon": self.lon,
            "lat": self.lat,
            "county": self.county,
            "township": self.township,
            "village": self.village,
            "grid": self.grid,
            "names": self.names,
            "near_boundary": self.near_boundary,
        }


def outside_coverage(lon: float, lat: float, crs_name: str) -> OutsideCoverageError:
    """The error for a point outside every loaded county, naming the point and its CRS."""
    return OutsideCoverageError(
        f"point lon={lon}, lat={lat} ({crs_name}) is outside every loaded county; check the "
        "coordinates and their crs",
        lon=lon,
        lat=lat,
        crs=crs_name,
    )


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """Counties (one Locator) and, per county with units below it, its finest layer."""

    counties: Locator
    leaves: dict[str, Locator]
    names: dict[str, str]
    generation: int
    resolution: int


@dataclass(frozen=True, slots=True)
class Located:
    """Batch answers, one entry per point; codes are None where a level is missing or outside."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    county: NDArray[np.object_]
    township: NDArray[np.object_]
    village: NDArray[np.object_]
    grid: NDArray[np.object_]
    near_boundary: NDArray[np.bool_]

    @property
    def outside(self) -> NDArray[np.bool_]:
        """Points outside every county."""
        return np.array([c is None for c in self.county], dtype=bool)


def locate_points(
    index: Index,
    lon: ArrayLike,
    lat: ArrayLike,
    *,
    crs_name: str = "wgs84",
    near_boundary_m: float = 30.0,
) -> Located:
    """Locate many points given in ``crs_name`` through the index (vectorized per county)."""
    crs_name = crs.check_crs(crs_name)
    lon_in, lat_in = (
        np.atleast_1d(np.asarray(lon, dtype=float)),
        np.atleast_1d(np.asarray(lat, dtype=float)),
    )
    if lon_in.shape != lat_in.shape:
        raise CoordinateOutOfRangeError(
            f"{lon_in.size} longitudes but {lat_in.size} latitudes",
            lon=lon_in.size,
            lat=lat_in.size,
        )
    crs.check_lonlat(lon_in, lat_in)
    wlon, wlat = (np.asarray(v, dtype=float) for v in crs.to_wgs84(lon_in, lat_in, crs_name))
    n = wlon.size
    county_idx = locate(index.counties, wlon, wlat)
    leaf_codes = np.full(n, None, dtype=object)
    inside = county_idx >= 0
    leaf_codes[inside] = index.counties.codes[county_idx[inside]]
    near = near_boundary(index.counties, wlon, wlat, county_idx, near_boundary_m)
    edge = ~interior_mask(index.counties, wlon, wlat)
    found_leaf = np.zeros(n, dtype=bool)
    for county in sorted(index.leaves):
        locator = index.leaves[county]
        tries = _tries(locator, county, leaf_codes, edge, wlon, wlat)
        members = np.flatnonzero(~found_leaf & tries)
        if not members.size:
            continue
        answer = locate(locator, wlon[members], wlat[members])
        hit = answer >= 0
        leaf_codes[members[hit]] = locator.codes[answer[hit]]
        found_leaf[members[hit]] = True
        near[members] |= near_boundary(
            locator, wlon[members], wlat[members], answer, near_boundary_m
        )

    def level(length: int) -> NDArray[np.object_]:
        return np.array(
            [c[:length] if c is not None and len(c) >= length else None for c in leaf_codes],
            dtype=object,
        )

    return Located(wlon, wlat, level(6), level(9), level(12), level(15), near)


def locate_one(
    index: Index, lon: float, lat: float, *, crs_name: str = "wgs84", near_boundary_m: float = 30.0
) -> Location:
    """Locate one point through the index; raise OutsideCoverageError outside every county.

    The scalar twin of :func:`locate_points` (same answers, tested so): one H3 cell, one probe
    and a few prepared-geometry tests, without array set-up, for the HTTP hot path.
    """
    crs_name = crs.check_crs(crs_name)
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):  # NaN fails too
        crs.check_lonlat(lon, lat)  # raises, naming the problem (swap, NaN, range)
    if crs_name in ("gcj02", "bd09"):
        lon, lat = crs.point_to_wgs84(lon, lat, crs_name)
    county = locate_scalar(index.counties, lon, lat)
    leaf_code, near = None, False
    if county >= 0:
        leaf_code = str(index.counties.codes[county])
    edge = not is_interior(index.counties, lon, lat)
    # Only the counties _tries may accept: all of them on a county edge, else the point's own.
    for code in sorted(index.leaves) if edge else [leaf_code] if leaf_code in index.leaves else []:
        locator = index.leaves[code]
        if not _tries(locator, code, leaf_code, edge, lon, lat):
            continue
        unit = locate_scalar(locator, lon, lat)
        if unit >= 0:
            leaf_code = str(locator.codes[unit])
            near = near_scalar(locator, lon, lat, unit, near_boundary_m)
            break
    if county >= 0 and not near:  # another county within reach (their grids are not loaded here)
        near = near_scalar(index.counties, lon, lat, county, near_boundary_m)
    if leaf_code is None:
        raise outside_coverage(lon, lat, crs_name)
    codes = {
        level: leaf_code[:length] if len(leaf_code) >= length else None
        for level, length in _CODE_LENGTHS
    }
    return Location(
        lon=float(lon),
        lat=float(lat),
        county=leaf_code[:6],
        township=codes["township"],
        village=codes["village"],
        grid=codes["grid"],
        names={k: index.names.get(v, v) for k, v in codes.items() if v is not None},
        near_boundary=near,
    )


def _tries(layer: Locator, county: str, own: Any, edge: Any, lon: Any, lat: Any) -> Any:
    """The county-edge rule (decision 0007): whether a point tries ``county``'s finest layer.

    A point tries its own county's layer (``own``: the code of the county holding it, None
    outside); a point in a county-edge cell (``edge``: not an interior cell of the county layer)
    tries every county's, since grids clipped with 1e-9° snap rounding may stick out of their
    county by a hair. Either way only where the layer's box holds the point. Layers are tried in
    code order and the first that covers a point answers it, so the lower code wins. The same
    expression serves one point (Python scalars) and many (arrays).
    """
    minx, miny, maxx, maxy = layer.bounds
    return ((own == county) | edge) & (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def warm(index: Index, near_boundary_m: float) -> None:
    """Build the helpers that lookups otherwise make on first use (bounds, the lattice tables,
    the near-boundary reach tables), so the first request after a (re)load does not stall for
    them (≈ 1 s per county of grids, on the loading thread).
    """
    for locator in (index.counties, *index.leaves.values()):
        _ = locator.bounds
        _ = locator.lattice
        if len(locator.codes) >= 2:
            reach(locator, near_boundary_m)


def rebuild_index(
    session: Session, county_codes: str | Sequence[str] | None = None, *, resolution: int = 10
) -> dict[str, Any]:
    """Rebuild and persist the index: the county layer, and the finest layer of some counties.

    Run after every new generation (import, grids, plan) so the API serves the current map.
    """
    started = time.perf_counter()
    generation = db.generations.current(session)
    counties = db.units.read(session, level="county")
    if counties.empty:
        return {"counties": 0, "cells": 0, "seconds": 0.0}
    county_locator = build_locator(
        counties["code"].to_numpy(), counties.geometry.values, resolution=COUNTY_RESOLUTION
    )
    cells, units, exact = index_rows(county_locator)
    ids = counties.set_index("code").loc[county_locator.codes, "id"].to_numpy()
    owner = np.array([c[:6] for c in county_locator.codes])[units]
    db.cell_index.clear(session, resolution=COUNTY_RESOLUTION)
    for county in np.unique(owner):
        mine = owner == county
        db.cell_index.replace(
            session,
            county_code=str(county),
            resolution=COUNTY_RESOLUTION,
            cells=cells[mine],
            unit_ids=ids[units[mine]],
            exact=exact[mine],
            generation=generation,
        )
    if county_codes is None:
        targets = list(counties["code"])
    else:
        targets = [county_codes] if isinstance(county_codes, str) else list(county_codes)
    total = 0
    for county in targets:
        leaves = db.units.leaves(session, county=county)
        if leaves.empty or (leaves["level"] == "county").all():
            db.cell_index.replace(
                session,
                county_code=county,
                resolution=resolution,
                cells=np.zeros(0, np.uint64),
                unit_ids=np.zeros(0, np.int64),
                exact=np.zeros(0, bool),
                generation=generation,
            )
            continue
        locator = build_locator(
            leaves["code"].to_numpy(), leaves.geometry.values, resolution=resolution
        )
        cells, units, exact = index_rows(locator)
        ids = leaves.set_index("code").loc[locator.codes, "id"].to_numpy()
        total += db.cell_index.replace(
            session,
            county_code=county,
            resolution=resolution,
            cells=cells,
            unit_ids=ids[units],
            exact=exact,
            generation=generation,
        )
    session.flush()
    return {
        "counties": len(targets),
        "cells": total,
        "resolution": resolution,
        "generation": generation,
        "seconds": round(time.perf_counter() - started, 3),
    }


def load_index(session: Session, *, resolution: int = 10) -> Index:
    """Load the persisted index (building in memory any layer that was never persisted)."""
    generation = db.generations.current(session)
    names = db.units.names(session)
    counties = db.units.read(session, level="county")
    county_rows = db.cell_index.read(session, resolution=COUNTY_RESOLUTION)
    if len(county_rows[0]) and set(db.units.ids_of(session, county_rows[1])) >= set(counties["id"]):
        county_locator = _from_rows(session, COUNTY_RESOLUTION, *county_rows)
    else:
        county_locator = build_locator(
            counties["code"].to_numpy() if not counties.empty else np.zeros(0, str),
            counties.geometry.values,
            resolution=COUNTY_RESOLUTION,
        )
    leaves: dict[str, Locator] = {}
    indexed = set(db.cell_index.counties(session, resolution=resolution))
    for county in counties["code"]:
        if county in indexed:
            rows = db.cell_index.read(session, resolution=resolution, county=county)
            if len(rows[0]):
                leaves[county] = _from_rows(session, resolution, *rows)
            continue
        layer = db.units.leaves(session, county=county)
        if not layer.empty and not (layer["level"] == "county").all():
            leaves[county] = build_locator(
                layer["code"].to_numpy(), layer.geometry.values, resolution=resolution
            )
    return Index(county_locator, leaves, names, generation, resolution)


def _from_rows(
    session: Session,
    resolution: int,
    cells: NDArray[np.uint64],
    unit_ids: NDArray[np.int64],
    exact: NDArray[np.bool_],
) -> Locator:
    """A Locator from persisted rows: unit ids become positions in the loaded units."""
    ids = np.unique(unit_ids)
    units = db.units.read_ids(session, ids.tolist()).set_index("id").loc[ids]
    return locator_from_rows(
        resolution,
        units["code"].to_numpy(),
        units.geometry.values,
        cells,
        np.searchsorted(ids, unit_ids),
        exact,
    )
