"""H3 cells (六边形网格单元): the one adapter over ``h3`` and ``h3ronpy``.

Every gridmap module that computes an H3 cell, its centre, outline, neighbours or parent comes
here (ruff's banned-api rule TID251 refuses ``h3`` and ``h3ronpy`` imports anywhere else). The
interface speaks lon/lat, in that order, as shapely, GeoJSON and the rest of gridmap do, and the
order is in each name (``lonlat_to_cells``, ``cell_to_lonlat``); h3's own ``(lat, lng)`` order
appears only inside this module. Cells are 64-bit H3 indexes: ``numpy.uint64`` arrays in the
vectorized functions, Python ints in the scalar ones (for one HTTP request, where array set-up
would cost more than the cell). Arrays go straight to h3ronpy's Rust (h3o): no per-cell Python.

>>> cell = lonlat_to_cell(102.264, 27.894, 10)
>>> cell_to_str(cell)
'8a40502828cffff'
>>> lonlat_to_cells(np.array([102.264]), np.array([27.894]), 10).tolist() == [cell]
True
>>> [round(v, 4) for v in cell_to_lonlat(cell)]
[102.264, 27.8946]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray

import h3ronpy
import shapely
from h3.api import basic_int as _h3
from h3ronpy import ContainmentMode
from h3ronpy import vector as _h3v

# Which cells a polygon fill returns: those whose centre lies inside ("centroid"), those lying
# wholly inside ("inside"), those meeting the polygon ("intersects"), or those meeting it plus
# the one cell that holds a polygon smaller than a cell ("covers").
Containment = Literal["centroid", "inside", "intersects", "covers"]
_MODES = {
    "centroid": ContainmentMode.ContainsCentroid,
    "inside": ContainmentMode.ContainsBoundary,
    "intersects": ContainmentMode.IntersectsBoundary,
    "covers": ContainmentMode.Covers,
}
# Bits 52-55 of an H3 index hold its resolution.
_RESOLUTION_SHIFT = np.uint64(52)


def lonlat_to_cells(
    lon: NDArray[np.float64], lat: NDArray[np.float64], resolution: int
) -> NDArray[np.uint64]:
    """The H3 cell of each WGS84 point (degrees). Coordinates are not checked: h3 silently
    accepts latitude 930, so callers check them first (``crs.check_lonlat``).
    """
    if lon.size == 0:
        return np.empty(0, dtype=np.uint64)
    return np.asarray(_h3v.coordinates_to_cells(lat, lon, resolution), dtype=np.uint64)


def lonlat_to_cell(lon: float, lat: float, resolution: int) -> int:
    """The H3 cell of one WGS84 point (degrees): the scalar twin of ``lonlat_to_cells``."""
    return _h3.latlng_to_cell(lat, lon, resolution)


def cells_to_lonlat(cells: NDArray[np.uint64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centre lon, lat (degrees) of each cell."""
    if cells.size == 0:
        return np.zeros(0), np.zeros(0)
    batch = pa.record_batch(_h3v.cells_to_coordinates(pa.array(cells), radians=False))
    return batch.column("lng").to_numpy(), batch.column("lat").to_numpy()


def cell_to_lonlat(cell: int) -> tuple[float, float]:
    """Centre lon, lat (degrees) of one cell."""
    lat, lng = _h3.cell_to_latlng(cell)
    return lng, lat


def cells_to_polygons(cells: NDArray[np.uint64]) -> NDArray[np.object_]:
    """Each cell's outline as a shapely Polygon in lon/lat: straight chords between its
    vertices (the true edges are great-circle arcs; ``lookup`` sizes its margins for that).
    """
    if cells.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(_h3v.cells_to_wkb_polygons(cells)).to_numpy(zero_copy_only=False)
    return shapely.from_wkb(wkb)


def polygons_to_cells(
    polygons: ArrayLike, resolution: int, containment: Containment
) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """The cells of each lon/lat (Multi)Polygon by ``containment``, as (polygon index, cell)
    pairs in polygon order; empty polygons give none.
    """
    geoms = np.asarray(polygons, dtype=object).ravel()
    keep = np.flatnonzero(~shapely.is_empty(geoms))
    if keep.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    lists = pa.array(
        _h3v.wkb_to_cells(shapely.to_wkb(geoms[keep]), resolution, _MODES[containment])
    )
    offsets = lists.offsets.to_numpy()
    cells = lists.values.to_numpy()[offsets[0] : offsets[-1]].astype(np.uint64)
    return np.repeat(keep, np.diff(offsets)), cells


def cells_to_disks(
    cells: NDArray[np.uint64], k: int
) -> tuple[NDArray[np.integer], NDArray[np.uint64]]:
    """The cells within ``k`` steps of each cell (itself included), in CSR form: offsets (one
    more than the cells) and the neighbours they point into.
    """
    disks = pa.array(h3ronpy.grid_disk(cells, k))
    return disks.offsets.to_numpy(), np.asarray(disks.values.to_numpy(), dtype=np.uint64)


def cells_to_parents(cells: NDArray[np.uint64], resolution: int) -> NDArray[np.uint64]:
    """Each cell's parent at the coarser ``resolution``."""
    return np.asarray(h3ronpy.change_resolution(pa.array(cells), resolution), dtype=np.uint64)


def cells_to_resolutions(cells: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The resolution of each cell, read off its index bits."""
    return (cells >> _RESOLUTION_SHIFT) & np.uint64(15)


def cell_to_str(cell: int) -> str:
    """A cell as h3's hexadecimal string (what the API shows)."""
    return _h3.int_to_str(cell)


def str_to_cell(text: str) -> int:
    """A cell from h3's hexadecimal string."""
    return _h3.str_to_int(text)


def average_edge_m(resolution: int) -> float:
    """h3's average hexagon edge length (metres) at ``resolution``."""
    return _h3.average_hexagon_edge_length(resolution, unit="m")


# What the face lattice (gridmap.lookup) reads off h3 to place the icosahedron's faces.


def base_cells() -> list[int]:
    """The 122 resolution-0 cells."""
    return _h3.get_res0_cells()


def pentagons(resolution: int) -> list[int]:
    """The 12 pentagons at ``resolution``."""
    return _h3.get_pentagons(resolution)


def is_pentagon(cell: int) -> bool:
    """Whether the cell is one of the 12 pentagons of its resolution."""
    return _h3.is_pentagon(cell)


def cell_to_faces(cell: int) -> list[int]:
    """The icosahedron faces (0-19) the cell touches."""
    return _h3.get_icosahedron_faces(cell)


def cell_to_ring(cell: int, k: int) -> list[int]:
    """The cells exactly ``k`` steps from the cell."""
    return _h3.grid_ring(cell, k)
