"""near_boundary (临界提示): whether a located point lies within some metres of another unit.

A phone is asked to confirm its grid when the point lies within ``GRIDMAP_NEAR_BOUNDARY_M``
(30 m) of another unit. Only points in cells within reach of a boundary cell are measured
(``reach``: per cell, the units that reach could hold), against those units grown by the
distance in the linear metric frame of the point's 0.25° latitude band. ``near_scalar`` is the
single-point twin for the HTTP hot path. The tables are kept on the layer
(``Locator.reach_tables``, ``Locator.band_frames``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

import shapely

from gridmap import h3cells
from gridmap.lookup.layer import (
    SENTINEL,
    Locator,
    check_points,
    isin_sorted,
    metres_per_degree,
    prepare,
    sorted_unique,
)

# near_boundary measures metres in one linear frame per latitude band this wide (degrees): the
# east-west scale is then off by at most tan(lat) * 0.125° in radians, under 0.3 % below 54°N.
_BAND_DEG = 0.25


class Reach(NamedTuple):
    """Per cell near a boundary cell, the units that may lie within reach (CSR rows)."""

    cells: NDArray[np.uint64]  # sorted, ending with SENTINEL
    offsets: NDArray[np.int64]
    units: NDArray[np.int32]


class BandFrame(NamedTuple):
    """A layer's units in one latitude band's metric frame, grown by one distance on demand."""

    grown: NDArray[np.object_]  # None where a unit was not needed yet
    scale: tuple[float, float]  # metres per degree of longitude and latitude
    origin: float  # the longitude the frame's x counts from


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
    lon_arr, lat_arr, shape = check_points(lon, lat)
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
    reach_cells, reach_offsets, reach_units = reach(locator, distance_m)
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


def near_scalar(locator: Locator, lon: float, lat: float, unit: int, distance_m: float) -> bool:
    """near_boundary for one located point: a table probe, exact tests only near boundaries."""
    if len(locator.codes) < 2:
        return False
    reach_cells, reach_offsets, reach_units = reach(locator, distance_m)
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
    frame = locator.band_frames.get((band, distance_m))
    if frame is None or any(frame.grown[u] is None for u in others):
        frame = _band_frame(locator, band, distance_m, np.asarray(others, dtype=np.int32))
    grown, (kx, ky), origin = frame
    x, y = (lon - origin) * kx, lat * ky
    return any(shapely.intersects_xy(grown[u], x, y) for u in others)


def reach(locator: Locator, distance_m: float) -> Reach:
    """Return, per cell near a boundary cell, the units that may lie within ``distance_m``.

    Rows are (cells sorted and ending with the sentinel, CSR offsets, units). A unit within d
    of a point lies in a cell at most k = 2 * floor(d / shortest edge) + 1 rings away (cells two
    or more rings apart are at least an edge apart), and among the candidates of a boundary cell
    within those k rings: the seeds are spread over k rings, one ring at a time. Cells not listed
    sit in a block of interior cells of one unit.
    """
    rings = 2 * int(distance_m // locator.shortest_edge_m) + 1
    if rings not in locator.reach_tables:
        table = locator.table_cells
        counts = np.diff(locator.boundary_offsets)
        seeds = np.searchsorted(table, np.repeat(locator.boundary_cells, counts))
        keys = frontier = sorted_unique(_pair_keys(seeds, locator.boundary_units))
        for _ in range(rings):
            if frontier.size == 0:
                break
            cells, units = frontier >> 32, frontier & 0xFFFFFFFF
            offsets, neighbours = h3cells.cells_to_disks(table[cells], 1)
            sizes = np.diff(offsets)
            pos = np.searchsorted(table, neighbours)
            in_table = table[pos] == neighbours
            spread = _pair_keys(pos[in_table], np.repeat(units, sizes)[in_table])
            spread = sorted_unique(spread)
            frontier = spread[~isin_sorted(spread, keys)]
            keys = np.sort(np.concatenate([keys, frontier]))
        cells, units = table[keys >> 32], (keys & 0xFFFFFFFF).astype(np.int32)
        starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]])[: len(cells)])
        row_offsets: NDArray[np.int64] = np.append(starts, len(cells)).astype(np.int64)
        locator.reach_tables[rings] = Reach(np.append(cells[starts], SENTINEL), row_offsets, units)
    return locator.reach_tables[rings]


def _pair_keys(cells: NDArray[np.int64], units: NDArray[np.integer]) -> NDArray[np.int64]:
    """Pack (table position, unit) pairs into one sortable int64."""
    return (cells.astype(np.int64) << 32) | units.astype(np.int64)


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
    for band in sorted_unique(bands).tolist():
        members = np.flatnonzero(bands == band)
        grown, scale, origin = _band_frame(locator, band, distance_m, units[members])
        x = (lon[members] - origin) * scale[0]
        y = lat[members] * scale[1]
        hit[members] = shapely.intersects_xy(grown[units[members]], x, y)
    return hit


def _band_frame(
    locator: Locator, band: int, distance_m: float, units: NDArray[np.int32]
) -> BandFrame:
    """Return the layer's units in one latitude band's metric frame, grown by the distance.

    Units are grown on demand (a national layer spans many bands but each band needs few), with
    16 segments per quarter circle: the grown outline falls short of the distance by 0.12 %.
    """
    key = (band, distance_m)
    if key not in locator.band_frames:
        kx, ky = metres_per_degree((band + 0.5) * _BAND_DEG)
        origin = float(shapely.total_bounds(locator.geoms)[0])
        grown = np.full(len(locator.geoms), None, dtype=object)
        locator.band_frames[key] = BandFrame(grown, (float(kx), float(ky)), origin)
    frame = locator.band_frames[key]
    grown, scale, origin = frame
    needed = sorted_unique(units)
    missing = needed[shapely.is_missing(grown[needed])]
    if missing.size:
        metric = shapely.transform(locator.geoms[missing], lambda xy: (xy - [origin, 0.0]) * scale)
        fresh = shapely.buffer(metric, distance_m, quad_segs=16)
        prepare(fresh)
        grown[missing] = fresh
    return frame


def _ragged_index(start: NDArray[np.int64], count: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate the ranges start[i] .. start[i] + count[i] - 1 without a Python loop."""
    total = int(count.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(start - np.cumsum(count) + count, count)
    return shift + np.arange(total, dtype=np.int64)
