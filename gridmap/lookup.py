"""Point-to-unit lookup (定位): which county, township, village and grid hold a point.

``locate_point`` asks PostGIS (``ST_Covers``, so points on an edge are found). The hot path is the
in-memory H3 index, a ``Locator`` over one layer of units (grids, villages, …). At resolution R
every H3 cell is *interior* (certainly inside exactly one unit: that unit is the answer) or
*boundary* (it touches several units or the outside: its candidate units are kept, in code order).
Cells are classified with a safety margin (default 1 m): a cell is interior only if it lies inside
the unit shrunk by the margin, and its candidates are the units that, grown by the margin, touch
it. Locating N points runs one compiled pass over them on H3's face lattice (``gridmap.lattice``:
the cell as (face, i, j), a dense table, filtered orientation counts for boundary cells), with
GEOS deciding the few points the kernel cannot certify; a layer the lattice cannot hold (two
faces, coarse resolutions) computes cells with h3ronpy, probes the sorted table with
``searchsorted`` and runs an exact prepared-geometry test for points in boundary cells. Answers
equal shapely's ``covers`` on every point, edges and vertices included.

On a shared edge or vertex a point is covered by several units of a level: the lower code wins,
and ``near_boundary`` tells the caller to confirm with the user. The index persists as rows
``(h3_cell, unit, exact)`` (``index_rows``) and reloads without recomputing H3 fills
(``locator_from_rows``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sqlalchemy.orm import Session

import shapely

from gridmap import crs, db, geometry, h3cells, lattice
from gridmap.errors import (
    CoordinateOutOfRangeError,
    InvalidCodeError,
    InvalidGeometryError,
    OutsideCoverageError,
)
from gridmap.vocabulary import Level


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


# The smallest WGS84 radius of curvature (the meridian's, at the equator) in metres per degree:
# d metres span at most d / (this * cos(lat)) degrees in any direction, so margins stay safe.
_MIN_M_PER_DEG = 6_335_439.0 * np.pi / 180.0
_WGS84_A = 6_378_137.0
_WGS84_E2 = 0.00669437999014
# Layers are indexed up to this latitude (degrees); beyond it build_locator refuses them.
_MAX_ABS_LAT = 85.0
# GEOS returns an EMPTY polygon when asked to grow one by about 1e-15 degrees: keep margins sane.
_MIN_MARGIN_M = 0.01
# Ends the merged cell table so ``searchsorted`` never runs off it; no H3 index sets bit 63.
_SENTINEL = np.uint64(2**64 - 1)
# near_boundary measures metres in one linear frame per latitude band this wide (degrees): the
# east-west scale is then off by at most tan(lat) * 0.125° in radians, under 0.3 % below 54°N.
_BAND_DEG = 0.25
# H3 cells of one resolution differ in edge length; the rings that near_boundary searches are
# sized from the shortest edge seen among the layer's boundary cells times this.
_EDGE_SAFETY = 0.8


@dataclass(frozen=True, slots=True, eq=False)
class Locator:
    """An exact in-memory H3 index of one layer of units (grids, villages…), at one resolution.

    A unit's index is its position in ``codes`` (ascending). Each interior cell maps to one unit;
    each boundary cell lists its candidate units in code order (``boundary_offsets`` point into
    ``boundary_units``). ``geoms`` are prepared WGS84 lon/lat (Multi)Polygons.
    """

    resolution: int
    codes: NDArray[np.str_]
    geoms: NDArray[np.object_]
    interior_cells: NDArray[np.uint64]
    interior_units: NDArray[np.int32]
    boundary_cells: NDArray[np.uint64]
    boundary_offsets: NDArray[np.int64]
    boundary_units: NDArray[np.int32]
    # Both kinds of cell merged into one sorted table, so a lookup is one probe: a value >= 0 is
    # the unit of an interior cell, a value v <= -2 is boundary cell -2 - v.
    _table_cells: NDArray[np.uint64] = field(init=False, repr=False)
    _table_values: NDArray[np.int32] = field(init=False, repr=False)
    # near_boundary's lazily built helpers (rings around boundary cells, metric frames).
    _cache: dict[Any, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Merge the two cell tables into the one the lookups probe."""
        cells = np.concatenate([self.interior_cells, self.boundary_cells, [_SENTINEL]])
        boundary_ids = -2 - np.arange(len(self.boundary_cells), dtype=np.int32)
        values = np.concatenate([self.interior_units, boundary_ids, [-1]]).astype(np.int32)
        order = np.argsort(cells, kind="stable")
        object.__setattr__(self, "_table_cells", cells[order])
        object.__setattr__(self, "_table_values", values[order])
        object.__setattr__(self, "_cache", {})

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """min_lon, min_lat, max_lon, max_lat of the layer (cached)."""
        if "bounds" not in self._cache:
            box = (
                shapely.total_bounds(self.geoms)
                if len(self.geoms)
                else (np.inf, np.inf, -np.inf, -np.inf)
            )
            self._cache["bounds"] = tuple(float(v) for v in box)
        return self._cache["bounds"]


def build_locator(
    codes: Sequence[str] | ArrayLike,
    geoms: ArrayLike,
    *,
    resolution: int = 10,
    margin_m: float = 1.0,
) -> Locator:
    """Build the exact H3 index of a layer of WGS84 (Multi)Polygons, one per code.

    Units are ordered by code; answers index the sorted ``codes``. ``margin_m`` guards the
    classification against rounding in H3's cell outlines: a cell is interior to a unit only if
    it lies inside the unit shrunk by the margin, and its candidates are the units that touch it
    once grown by the margin. The margin grows to four times the most a cell's true edge bows
    away from its straight lon/lat outline (coarse cells far from the equator); layers reaching
    beyond ±85° latitude are refused, as there the outlines stop standing for the cells.

    >>> import shapely
    >>> west = shapely.box(102.20, 27.80, 102.21, 27.81)
    >>> east = shapely.box(102.21, 27.80, 102.22, 27.81)
    >>> locator = build_locator(["513401002", "513401001"], [west, east])
    >>> locator.codes.tolist()
    ['513401001', '513401002']
    >>> locate(locator, [102.205, 102.21, 102.3], [27.805, 27.805, 27.805]).tolist()
    [1, 0, -1]
    """
    codes_arr, geoms_arr, _ = _layer(codes, geoms)
    _check_resolution(resolution)
    if not (np.isfinite(margin_m) and margin_m >= _MIN_MARGIN_M):
        raise ValueError(f"margin_m must be at least {_MIN_MARGIN_M} m, got {margin_m!r}")
    margin_deg = _margin_deg(geoms_arr, max(margin_m, 4.0 * _bow_m(geoms_arr, resolution)))
    grown = shapely.buffer(geoms_arr, margin_deg)
    shrunk = shapely.buffer(geoms_arr, -margin_deg)
    # The two fills are independent and h3ronpy releases the GIL: run them side by side.
    with ThreadPoolExecutor(2) as pool:
        candidates = pool.submit(h3cells.polygons_to_cells, grown, resolution, "covers")
        inner = pool.submit(h3cells.polygons_to_cells, shrunk, resolution, "inside")
        pair_units, pair_cells = candidates.result()
        _, inner_cells = inner.result()
    return _assemble(resolution, codes_arr, geoms_arr, pair_cells, pair_units, inner_cells)


def locate(locator: Locator, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int64]:
    """Return the unit index covering each (lon, lat) WGS84 point, -1 where none does.

    Exact on edges (shapely's ``covers``): a point on a shared edge or vertex goes to the unit
    with the lower code. Raises CoordinateOutOfRangeError for NaN, infinite, out-of-range or
    swapped coordinates. Runs on one thread: threads sharing prepared GEOS polygons crashed the
    interpreter now and then (libgeos/geos#825, despite warming), so more cores come from
    processes (see benchmarks/lookup.py).
    """
    lon_arr, lat_arr, shape = _points(lon, lat)
    return _locate_flat(locator, lon_arr, lat_arr).reshape(shape)


def reference_locate(
    codes: Sequence[str] | ArrayLike, geoms: ArrayLike, lon: ArrayLike, lat: ArrayLike
) -> NDArray[np.int64]:
    """Locate points with shapely alone (exact ``covers``, lower code wins), to check ``locate``.

    Answers index the sorted ``codes``, as ``locate`` does; -1 outside every unit.
    """
    _, geoms_arr, _ = _layer(codes, geoms)
    lon_arr, lat_arr, shape = _points(lon, lat)
    return geometry.covering_index(lon_arr, lat_arr, geoms_arr).reshape(shape)


def near_boundary(
    locator: Locator,
    lon: ArrayLike,
    lat: ArrayLike,
    units: ArrayLike,
    distance_m: float = 30.0,
) -> NDArray[np.bool_]:
    """Tell which points lie within ``distance_m`` metres of a unit other than their own.

    ``units`` are the points' answers from ``locate``; points outside (-1) are never near, and
    so are points near only the layer's outer edge. Only points in cells within reach of a
    boundary cell are measured, against the units that reach could hold, each in the linear
    metric frame of its 0.25° latitude band on the WGS84 ellipsoid: the distance is honoured
    within 0.5 % below 54°N (0.3 % from the band's scale, 0.12 % from buffering with chords).
    """
    lon_arr, lat_arr, shape = _points(lon, lat)
    unit_arr = np.asarray(units, dtype=np.int64)
    if unit_arr.shape != shape:
        raise ValueError(f"units has shape {unit_arr.shape}, the points have shape {shape}")
    if not (np.isfinite(distance_m) and distance_m > 0):
        raise ValueError(f"distance_m must be a positive number of metres, got {distance_m!r}")
    unit_arr = unit_arr.ravel()
    near = np.zeros(lon_arr.size, dtype=np.bool_)
    inside = np.flatnonzero(unit_arr >= 0)
    if inside.size == 0 or len(locator.codes) < 2:
        return near.reshape(shape)
    cells = h3cells.lonlat_to_cells(lon_arr[inside], lat_arr[inside], locator.resolution)
    reach_cells, reach_offsets, reach_units = _reach(locator, distance_m)
    pos = np.searchsorted(reach_cells, cells)
    risky = np.flatnonzero(reach_cells[pos] == cells)
    # One (point, unit) pair per other unit that may lie within reach of the point's cell.
    start, count = reach_offsets[pos[risky]], np.diff(reach_offsets)[pos[risky]]
    pair_point = inside[np.repeat(risky, count)]
    pair_unit = reach_units[_ragged_index(start, count)]
    other = pair_unit != unit_arr[pair_point]
    pair_point, pair_unit = pair_point[other], pair_unit[other]
    hit = _within(locator, pair_unit, lon_arr[pair_point], lat_arr[pair_point], distance_m)
    near[pair_point[hit]] = True
    return near.reshape(shape)


def index_rows(
    locator: Locator,
) -> tuple[NDArray[np.uint64], NDArray[np.int32], NDArray[np.bool_]]:
    """Return the index as ``(h3_cell, unit, exact)`` rows sorted by cell, for persisting.

    An interior cell gives one row with exact=True; a boundary cell gives one row per candidate
    unit with exact=False.
    """
    counts = np.diff(locator.boundary_offsets)
    cells = np.concatenate([locator.interior_cells, np.repeat(locator.boundary_cells, counts)])
    units = np.concatenate([locator.interior_units, locator.boundary_units]).astype(np.int32)
    exact = np.concatenate(
        [
            np.ones(len(locator.interior_cells), dtype=np.bool_),
            np.zeros(len(locator.boundary_units), dtype=np.bool_),
        ]
    )
    order = np.lexsort((units, cells))
    return cells[order], units[order], exact[order]


def locator_from_rows(
    resolution: int,
    codes: Sequence[str] | ArrayLike,
    geoms: ArrayLike,
    cells: ArrayLike,
    units: ArrayLike,
    exact: ArrayLike,
) -> Locator:
    """Rebuild a Locator from persisted ``index_rows`` without recomputing any H3 fill.

    ``units`` index ``codes`` as given (cells may come as int64, as PostgreSQL's bigint).
    """
    codes_arr, geoms_arr, order = _layer(codes, geoms)
    _check_resolution(resolution)
    cell_arr = np.asarray(cells).astype(np.uint64)
    unit_arr = np.asarray(units, dtype=np.int64)
    exact_arr = np.asarray(exact, dtype=np.bool_)
    if not cell_arr.ndim == unit_arr.ndim == exact_arr.ndim == 1 or not (
        len(cell_arr) == len(unit_arr) == len(exact_arr)
    ):
        raise ValueError("cells, units and exact must be 1-D arrays of one length")
    if unit_arr.size and (unit_arr.min() < 0 or unit_arr.max() >= len(codes_arr)):
        raise ValueError(f"units must index the {len(codes_arr)} codes")
    wrong = h3cells.cells_to_resolutions(cell_arr) != resolution
    if wrong.any():
        raise ValueError(
            f"cell {int(cell_arr[np.argmax(wrong)]):#x} is not at resolution {resolution}"
        )
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    sorted_units = rank[unit_arr]
    inner_cells = cell_arr[exact_arr]
    if _sorted_unique(inner_cells).size != inner_cells.size:
        raise ValueError("an exact (interior) cell appears in more than one row")
    # An interior cell is a cell with one candidate that lies inside it: the same rule as a build.
    return _assemble(resolution, codes_arr, geoms_arr, cell_arr, sorted_units, inner_cells)


def _assemble(
    resolution: int,
    codes: NDArray[np.str_],
    geoms: NDArray[np.object_],
    pair_cells: NDArray[np.uint64],
    pair_units: NDArray[np.int64],
    inner_cells: NDArray[np.uint64],
) -> Locator:
    """Classify (cell, candidate unit) pairs: a cell with one candidate and inside it is interior.

    ``inner_cells`` are cells lying inside some unit shrunk by the margin.
    """
    order = np.lexsort((pair_units, pair_cells))
    cells, units = pair_cells[order], pair_units[order].astype(np.int32)
    fresh = np.ones(len(cells), dtype=np.bool_)
    fresh[1:] = (cells[1:] != cells[:-1]) | (units[1:] != units[:-1])
    cells, units = cells[fresh], units[fresh]  # a multi-part unit may meet a cell twice
    starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]])[: len(cells)])
    counts = np.diff(np.append(starts, len(cells)))
    unique_cells = cells[starts]
    interior = (counts == 1) & _isin_sorted(unique_cells, _sorted_unique(inner_cells))
    boundary_counts = counts[~interior]
    if not _isin_sorted(inner_cells, unique_cells).all():
        raise ValueError("a cell inside a unit is not among the unit's candidate cells")
    return Locator(
        resolution=resolution,
        codes=codes,
        geoms=geoms,
        interior_cells=unique_cells[interior],
        interior_units=units[starts[interior]],
        boundary_cells=unique_cells[~interior],
        boundary_offsets=np.concatenate([[0], np.cumsum(boundary_counts)]).astype(np.int64),
        boundary_units=units[np.repeat(~interior, counts)],
    )


def _layer(
    codes: Sequence[str] | ArrayLike, geoms: ArrayLike
) -> tuple[NDArray[np.str_], NDArray[np.object_], NDArray[np.int64]]:
    """Check a layer and return its codes and prepared 2-D geometries sorted by code, and the order.

    Refuses duplicate codes (the lower-code rule needs an order) and anything but valid,
    non-empty (Multi)Polygons with lon/lat coordinates.
    """
    codes_arr = np.asarray(codes, dtype=np.str_).ravel()
    geoms_arr = np.asarray(geoms, dtype=object).ravel()
    if len(codes_arr) != len(geoms_arr):
        raise ValueError(f"{len(codes_arr)} codes but {len(geoms_arr)} geometries")
    order = np.argsort(codes_arr, kind="stable")
    codes_arr, geoms_arr = codes_arr[order], geoms_arr[order]
    repeated = np.flatnonzero(codes_arr[1:] == codes_arr[:-1])
    if repeated.size:
        code = str(codes_arr[repeated[0]])
        raise InvalidCodeError(f"code {code} names two units of one layer", code=code)
    polygonal = np.isin(shapely.get_type_id(geoms_arr), (3, 6)) & ~shapely.is_empty(geoms_arr)
    if not polygonal.all():
        index = int(np.argmin(polygonal))
        code, geom = str(codes_arr[index]), geoms_arr[index]
        kind = "no geometry" if geom is None else f"an empty or non-polygonal {geom.geom_type}"
        raise InvalidGeometryError(
            f"unit {code} has {kind}; a layer needs a Polygon or MultiPolygon per unit", code=code
        )
    geoms_arr = shapely.force_2d(geoms_arr)
    coords, owner = shapely.get_coordinates(geoms_arr, return_index=True)
    lon, lat = coords[:, 0], coords[:, 1]
    wrong = ~(np.isfinite(coords).all(axis=1) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
    if wrong.any():
        index = int(np.argmax(wrong))
        code = str(codes_arr[owner[index]])
        raise CoordinateOutOfRangeError(
            f"unit {code} has a vertex at lon={lon[index]!r}, lat={lat[index]!r}, which is not "
            "WGS84 lon/lat: convert the layer (or swap its axes) before indexing it",
            code=code,
            lon=float(lon[index]),
            lat=float(lat[index]),
        )
    valid = shapely.is_valid(geoms_arr)
    if not valid.all():
        index = int(np.argmin(valid))
        code = str(codes_arr[index])
        raise InvalidGeometryError(
            f"unit {code} is invalid ({shapely.is_valid_reason(geoms_arr[index])}); repair it "
            "with gridmap.geometry.validate_polygons",
            code=code,
        )
    _prepare(geoms_arr)
    return codes_arr, geoms_arr, order


def _prepare(geoms: NDArray[np.object_]) -> None:
    """Prepare geometries and run one point test on each, so threads may then share them.

    GEOS builds a prepared polygon's point index on first use, and that step is not thread-safe
    (libgeos/geos#825); a point inside the envelope forces it now, on this thread.
    """
    shapely.prepare(geoms)
    if len(geoms):
        min_x, min_y, max_x, max_y = shapely.bounds(geoms).T
        shapely.intersects_xy(geoms, (min_x + max_x) / 2, (min_y + max_y) / 2)


def _check_resolution(resolution: int) -> None:
    """Refuse resolutions H3 does not have."""
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must lie in 0..15, got {resolution!r}")


def _bow_m(geoms: NDArray[np.object_], resolution: int) -> float:
    """The most (metres) a cell edge over the layer bows from its straight lon/lat outline.

    Raises InvalidGeometryError for layers beyond ±_MAX_ABS_LAT.
    """
    if len(geoms) == 0:
        return 0.0
    _, min_lat, _, max_lat = shapely.total_bounds(geoms)
    widest = max(abs(min_lat), abs(max_lat))
    if widest > _MAX_ABS_LAT:
        raise InvalidGeometryError(
            f"the layer reaches latitude {widest:.3f}°: lookups cover |latitude| <= "
            f"{_MAX_ABS_LAT:g}°, beyond which lon/lat outlines no longer stand for H3 cells"
        )
    return lattice.bow_m(resolution, widest)


def _margin_deg(geoms: NDArray[np.object_], margin_m: float) -> float:
    """Convert a margin in metres to degrees that span at least that much in every direction."""
    if len(geoms) == 0:
        return margin_m / _MIN_M_PER_DEG
    _, min_lat, _, max_lat = shapely.total_bounds(geoms)
    widest = max(abs(min_lat), abs(max_lat))
    return margin_m / (_MIN_M_PER_DEG * max(np.cos(np.radians(widest)), 1e-3))


def _points(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[int, ...]]:
    """Broadcast and check lon/lat; return flat contiguous float64 arrays and their shape."""
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    # h3 silently accepts latitude 930. Four reductions (NaN fails them too) clear a good batch
    # ten times faster than check_lonlat, which then only has to name the culprit.
    in_range = lon_arr.size == 0 or (
        lon_arr.min() >= -180.0
        and lon_arr.max() <= 180.0
        and lat_arr.min() >= -90.0
        and lat_arr.max() <= 90.0
    )
    if not in_range:
        crs.check_lonlat(lon_arr, lat_arr)
    shape = lon_arr.shape
    return np.ascontiguousarray(lon_arr.ravel()), np.ascontiguousarray(lat_arr.ravel()), shape


def _locate_flat(
    locator: Locator, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Locate checked flat points: on the face lattice where the layer allows it, else through
    the H3-index table; points the lattice kernel cannot certify go the H3-index way."""
    tables = _lattice(locator)
    if tables is None:
        return _locate_h3(locator, lon, lat)
    answer = lattice.locate(tables, lon, lat)
    unsure = np.flatnonzero(answer == lattice.UNSURE)
    if unsure.size:
        answer[unsure] = _locate_h3(locator, lon[unsure], lat[unsure])
    return answer


def _lattice(locator: Locator) -> lattice.Tables | None:
    """The layer's face-lattice tables (built on first use; None where the layer has none)."""
    if "lattice" not in locator._cache:
        locator._cache["lattice"] = lattice.build_tables(
            locator.resolution,
            locator.geoms,
            locator._table_cells[:-1],
            locator._table_values[:-1],
            locator.boundary_cells,
            locator.boundary_offsets,
            locator.boundary_units,
        )
    return locator._cache["lattice"]


def _locate_h3(
    locator: Locator, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Locate by H3 index: sorted probe of the cell table, exact tests on boundary cells."""
    cells = h3cells.lonlat_to_cells(lon, lat, locator.resolution)
    # Probing with sorted cells walks the table once instead of jumping around it (5-15x).
    order = np.argsort(cells)
    sorted_cells = cells[order]
    table = locator._table_cells
    pos = np.searchsorted(table, sorted_cells)
    found = np.where(table[pos] == sorted_cells, locator._table_values[pos], np.int32(-1))
    boundary = np.flatnonzero(found <= -2)
    if boundary.size:
        points = order[boundary]
        found[boundary] = _resolve_boundary(locator, -2 - found[boundary], lon[points], lat[points])
    answer = np.empty(cells.size, dtype=np.int64)
    answer[order] = found
    return answer


def _resolve_boundary(
    locator: Locator,
    boundary_ids: NDArray[np.int32],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.int32]:
    """Test points of boundary cells against their candidates in code order; first cover wins."""
    start = locator.boundary_offsets[boundary_ids]
    count = locator.boundary_offsets[boundary_ids + 1] - start
    result = np.full(boundary_ids.size, -1, dtype=np.int32)
    pending = np.arange(boundary_ids.size)
    rank = 0
    while pending.size:
        units = locator.boundary_units[start[pending] + rank]
        hit = _covers(locator.geoms, units, lon[pending], lat[pending])
        result[pending[hit]] = units[hit]
        pending = pending[~hit & (count[pending] > rank + 1)]
        rank += 1
    return result


def _covers(
    geoms: NDArray[np.object_],
    units: NDArray[np.int32],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Test whether each unit covers its point (for a point, ``intersects`` is ``covers``).

    ``contains`` would drop points on an edge. The points arrive in cell order, so each polygon's
    tests already run back to back (grouped by polygon, 2-3x faster than random order); sorting
    them by unit on top measured no faster.
    """
    return shapely.intersects_xy(geoms[units], lon, lat)


def _reach(
    locator: Locator, distance_m: float
) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.int32]]:
    """Return, per cell near a boundary cell, the units that may lie within ``distance_m``.

    Rows are (cells sorted and ending with the sentinel, CSR offsets, units). A unit within d
    of a point lies in a cell at most k = 2 * floor(d / shortest edge) + 1 rings away (cells two
    or more rings apart are at least an edge apart), and among the candidates of a boundary cell
    within those k rings: the seeds are spread over k rings, one ring at a time. Cells not listed
    sit in a block of interior cells of one unit.
    """
    rings = 2 * int(distance_m // _shortest_edge_m(locator)) + 1
    key = ("reach", rings)
    if key not in locator._cache:
        table = locator._table_cells
        counts = np.diff(locator.boundary_offsets)
        seeds = np.searchsorted(table, np.repeat(locator.boundary_cells, counts))
        keys = frontier = _sorted_unique(_pair_keys(seeds, locator.boundary_units))
        for _ in range(rings):
            if frontier.size == 0:
                break
            cells, units = frontier >> 32, frontier & 0xFFFFFFFF
            offsets, neighbours = h3cells.cells_to_disks(table[cells], 1)
            sizes = np.diff(offsets)
            pos = np.searchsorted(table, neighbours)
            in_table = table[pos] == neighbours
            spread = _pair_keys(pos[in_table], np.repeat(units, sizes)[in_table])
            spread = _sorted_unique(spread)
            frontier = spread[~_isin_sorted(spread, keys)]
            keys = np.sort(np.concatenate([keys, frontier]))
        cells, units = table[keys >> 32], (keys & 0xFFFFFFFF).astype(np.int32)
        starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]])[: len(cells)])
        offsets = np.append(starts, len(cells)).astype(np.int64)
        locator._cache[key] = (np.append(cells[starts], _SENTINEL), offsets, units)
    return locator._cache[key]


def _pair_keys(cells: NDArray[np.int64], units: NDArray[np.integer]) -> NDArray[np.int64]:
    """Pack (table position, unit) pairs into one sortable int64."""
    return (cells.astype(np.int64) << 32) | units.astype(np.int64)


def _shortest_edge_m(locator: Locator) -> float:
    """Return a lower bound (metres) on the edge length of the layer's cells, with a margin."""
    if "edge" not in locator._cache:
        cells = locator.boundary_cells
        if cells.size == 0:
            locator._cache["edge"] = np.inf
        else:
            outlines = h3cells.cells_to_polygons(cells)
            coords, ring = shapely.get_coordinates(outlines, return_index=True)
            same = ring[1:] == ring[:-1]
            start, stop = coords[:-1][same], coords[1:][same]
            kx, ky = _metres_per_degree((start[:, 1] + stop[:, 1]) / 2)
            edge = np.hypot((stop[:, 0] - start[:, 0]) * kx, (stop[:, 1] - start[:, 1]) * ky)
            locator._cache["edge"] = float(edge.min()) * _EDGE_SAFETY
    return locator._cache["edge"]


def _metres_per_degree(
    lat: NDArray[np.float64] | float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres per degree of longitude and of latitude at a latitude, on the WGS84 ellipsoid."""
    phi = np.radians(lat)
    w = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    prime_vertical = _WGS84_A / np.sqrt(w)
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    return prime_vertical * np.cos(phi) * np.pi / 180.0, meridian * np.pi / 180.0


def _within(
    locator: Locator,
    units: NDArray[np.int32],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    distance_m: float,
) -> NDArray[np.bool_]:
    """Test whether each point lies within ``distance_m`` of its unit, in its band's metric frame.

    Each unit is grown by the distance once per latitude band and kept; a point then needs one
    prepared point-in-polygon test per unit, with no point geometry created.
    """
    hit = np.zeros(units.size, dtype=np.bool_)
    bands = np.floor(lat / _BAND_DEG).astype(np.int64)
    for band in _sorted_unique(bands).tolist():
        members = np.flatnonzero(bands == band)
        grown, scale, origin = _band_frame(locator, band, distance_m, units[members])
        x = (lon[members] - origin) * scale[0]
        y = lat[members] * scale[1]
        hit[members] = shapely.intersects_xy(grown[units[members]], x, y)
    return hit


def _band_frame(
    locator: Locator, band: int, distance_m: float, units: NDArray[np.int32]
) -> tuple[NDArray[np.object_], tuple[float, float], float]:
    """Return the layer's units in one latitude band's metric frame, grown by the distance.

    Units are grown on demand (a national layer spans many bands but each band needs few), with
    16 segments per quarter circle: the grown outline falls short of the distance by 0.12 %.
    """
    key = ("band", band, distance_m)
    if key not in locator._cache:
        kx, ky = _metres_per_degree((band + 0.5) * _BAND_DEG)
        origin = float(shapely.total_bounds(locator.geoms)[0])
        grown = np.full(len(locator.geoms), None, dtype=object)
        locator._cache[key] = (grown, (float(kx), float(ky)), origin)
    grown, scale, origin = locator._cache[key]
    needed = _sorted_unique(units)
    missing = needed[shapely.is_missing(grown[needed])]
    if missing.size:
        metric = shapely.transform(locator.geoms[missing], lambda xy: (xy - [origin, 0.0]) * scale)
        fresh = shapely.buffer(metric, distance_m, quad_segs=16)
        _prepare(fresh)
        grown[missing] = fresh
    return grown, scale, origin


def _ragged_index(start: NDArray[np.int64], count: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate the ranges start[i] .. start[i] + count[i] - 1 without a Python loop."""
    total = int(count.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(start - np.cumsum(count) + count, count)
    return shift + np.arange(total, dtype=np.int64)


def _sorted_unique(values: NDArray[Any]) -> NDArray[Any]:
    """Sorted distinct values: np.unique hashes since numpy 2.3, 50x slower on H3 cells."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def _isin_sorted(values: NDArray[Any], sorted_set: NDArray[Any]) -> NDArray[np.bool_]:
    """Membership of each value in a sorted array, by binary search (np.isin hashes too)."""
    if sorted_set.size == 0:
        return np.zeros(values.shape, dtype=np.bool_)
    pos = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[pos] == values


# ---------------------------------------------------------------------------------------------
# The county-sharded index the API holds: counties first, then each county's finest layer.

# Counties are few and large: resolution 7 cells (≈ 5 km²) keep that layer small.
COUNTY_RESOLUTION = 7


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
    # Points in county-edge cells may belong to a neighbour's grid by a hair (grids are clipped
    # with 1e-9° snap rounding): try every county whose box holds them, lower code first.
    edge = ~_interior_mask(index.counties, wlon, wlat)
    found_leaf = np.zeros(n, dtype=bool)
    for county in sorted(index.leaves):
        locator = index.leaves[county]
        minx, miny, maxx, maxy = locator.bounds
        in_box = (wlon >= minx) & (wlon <= maxx) & (wlat >= miny) & (wlat <= maxy)
        members = np.flatnonzero(~found_leaf & in_box & ((leaf_codes == county) | edge))
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
    county = _locate_scalar(index.counties, lon, lat)
    leaf_code, near = None, False
    if county >= 0:
        leaf_code = str(index.counties.codes[county])
    edge = not _is_interior_scalar(index.counties, lon, lat)
    for code in sorted(index.leaves) if edge else [leaf_code] if leaf_code in index.leaves else []:
        locator = index.leaves[code]
        minx, miny, maxx, maxy = locator.bounds
        if not (minx <= lon <= maxx and miny <= lat <= maxy):
            continue
        unit = _locate_scalar(locator, lon, lat)
        if unit >= 0:
            leaf_code = str(locator.codes[unit])
            near = _near_scalar(locator, lon, lat, unit, near_boundary_m)
            break
    if county >= 0 and not near:  # another county within reach (their grids are not loaded here)
        near = _near_scalar(index.counties, lon, lat, county, near_boundary_m)
    if leaf_code is None:
        raise outside_coverage(lon, lat, crs_name)
    codes = {
        level.value: leaf_code[: level.code_length] if len(leaf_code) >= level.code_length else None
        for level in Level
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


def _interior_mask(
    locator: Locator, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Whether each point's cell is an interior cell of the layer (outside counts as not)."""
    cells = h3cells.lonlat_to_cells(lon, lat, locator.resolution)
    position = locator._table_cells.searchsorted(cells)
    found = locator._table_cells[position] == cells
    return found & (locator._table_values[position] >= 0)


def _is_interior_scalar(locator: Locator, lon: float, lat: float) -> bool:
    """Scalar twin of :func:`_interior_mask`."""
    cell = np.uint64(h3cells.lonlat_to_cell(lon, lat, locator.resolution))
    position = int(locator._table_cells.searchsorted(cell))
    return bool(locator._table_cells[position] == cell and locator._table_values[position] >= 0)


def _locate_scalar(locator: Locator, lon: float, lat: float) -> int:
    """Unit index of one WGS84 point (lower code on edges), -1 outside: no arrays involved."""
    if not len(locator.codes):
        return -1
    cell = np.uint64(h3cells.lonlat_to_cell(lon, lat, locator.resolution))
    table = locator._table_cells
    position = int(table.searchsorted(cell))
    if table[position] != cell:
        return -1
    value = int(locator._table_values[position])
    if value >= 0:
        return value
    boundary = -2 - value
    start, stop = locator.boundary_offsets[boundary], locator.boundary_offsets[boundary + 1]
    for unit in locator.boundary_units[start:stop].tolist():  # in code order: lower code wins
        if shapely.intersects_xy(locator.geoms[unit], lon, lat):
            return int(unit)
    return -1


def _near_scalar(locator: Locator, lon: float, lat: float, unit: int, distance_m: float) -> bool:
    """near_boundary for one located point: a table probe, exact tests only near boundaries."""
    if len(locator.codes) < 2:
        return False
    reach_cells, reach_offsets, reach_units = _reach(locator, distance_m)
    cell = np.uint64(h3cells.lonlat_to_cell(lon, lat, locator.resolution))
    position = int(reach_cells.searchsorted(cell))
    if reach_cells[position] != cell:
        return False
    others = [
        u
        for u in reach_units[reach_offsets[position] : reach_offsets[position + 1]].tolist()
        if u != unit
    ]
    if not others:
        return False
    band = math.floor(lat / _BAND_DEG)
    frame = locator._cache.get(("band", band, distance_m))
    if frame is None or any(frame[0][u] is None for u in others):
        frame = _band_frame(locator, band, distance_m, np.asarray(others, dtype=np.int32))
    grown, (kx, ky), origin = frame
    x, y = (lon - origin) * kx, lat * ky
    return any(shapely.intersects_xy(grown[u], x, y) for u in others)


def warm(index: Index, near_boundary_m: float) -> None:
    """Build the helpers that lookups otherwise make on first use (bounds, the lattice tables,
    the near-boundary reach tables), so the first request after a (re)load does not stall for
    them (≈ 1 s per county of grids, on the loading thread)."""
    for locator in (index.counties, *index.leaves.values()):
        _ = locator.bounds
        _lattice(locator)
        if len(locator.codes) >= 2:
            _reach(locator, near_boundary_m)


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
