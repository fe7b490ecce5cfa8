"""H3 cells as points of a planar hex lattice, and the compiled point → unit kernel built on it.

H3 finds a point's cell by projecting it gnomonically onto the nearest icosahedron face, scaling
by √7 per resolution (rotated by asin(√(3/28)) at odd resolutions) and rounding to the nearest
point of a unit hex lattice; the 64-bit H3 index is an encoding of that (face, i, j). A gnomonic
projection is algebraic, so on one face a point's lattice coordinates are
``(p·u / p·c, p·w / p·c)`` for its unit vector p and three fixed vectors: two sine/cosine pairs
and a few multiply-adds per point, several times less work than computing the 64-bit index.

A layer whose cells all lie well inside one face (every Chinese county does) becomes a dense
table over that face's (i, j) box. Interior cells hold their unit. A boundary cell that one unit
covers but for a rim along its edge (a grid line that follows H3 edges, as generated grids do)
holds that unit with a flag: a point farther than ``_RIM`` lattice units from the hex edge gets
it with no geometry at all. Any other boundary cell is cut into 8 × 10 squares; a square that no
edge comes near was decided at build time. The remaining points are decided by counting, for
each candidate in code order, how often the segment from the point to the cell's centre crosses
the candidate's edges near the cell (the centre's side is known). Every orientation test runs
through Shewchuk's error filter; a point whose test the filter cannot certify (on or within
rounding of an edge or vertex) comes back ``UNSURE`` for GEOS to decide, so answers stay exactly
shapely's ``covers``.

The face constants are read off h3 itself at first use (face centres from the face-centred base
cells, each lattice's orientation from a neighbour of the face's centre cell).

Private to ``gridmap.lookup``: ``layer`` builds a layer's tables (``Locator.lattice``) and runs
``locate`` on them. Its public names are also what ``tests/test_lattice.py`` and
``benchmarks/lookup.py`` (the lattice floor, the two-thread run) use.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
from numpy.typing import NDArray

import shapely

from gridmap import h3cells

if TYPE_CHECKING:
    from gridmap.lookup.layer import Locator

# A point the filtered orientation tests could not decide; the caller asks GEOS.
UNSURE = -3
# Coarser resolutions keep the H3-index path (build_tables also refuses any layer whose cells'
# straight lon/lat outlines stray from their true, great-circle edges beyond its margins).
MIN_RESOLUTION = 5
# The lattice table is dense: refuse boxes above this many (i, j) slots (64 MB of int32).
MAX_TABLE_SLOTS = 16_000_000
# Table values at or above this flag a boundary cell covered by one unit but for its rim.
_DOMINANT = 1 << 30
# Width of that rim, in lattice units (1 = the distance between neighbouring cell centres).
_RIM = 0.005
# Record cells are cut into squares of this side (lattice units) over the hex's box, 8 by 10:
# a square that no edge comes near answers for all its points, decided once at build time.
_SUB = 0.125
_SUB_NX, _SUB_NY = 8, 10
_SUB_Y0 = 0.625  # the squares span x in [-0.5, 0.5), y in [-0.625, 0.625)
# Safety factor on the lon/lat size of a square over its local linear estimate (sampling the
# stretch in six directions 60° apart underestimates it by at most 1/cos 30° = 1.155).
_SUB_SAFETY = 1.25
# Cells are grown by this share of their size when collecting the edges that may cross them.
_GROWTH = 1e-2
# The Earth's polar radius (metres): the smallest, so bounds on bowing stay conservative.
_EARTH_MIN_RADIUS_M = 6_356_752.0
# H3's resolution-0 gnomonic unit length, 1/φ² (RES0_U_GNOMONIC).
_RES0_U_GNOMONIC = (3.0 - math.sqrt(5.0)) / 2.0
# Shewchuk's ccwerrboundA: a filtered 2-D orientation is certain beyond this relative bound.
_CCW_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53
_SQRT3_2 = math.sqrt(3.0) / 2.0
_RSQRT3_2 = 2.0 / math.sqrt(3.0)


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """The projection of one icosahedron face at one resolution: p ↦ (p·u / p·c, p·w / p·c)."""

    face: int
    resolution: int
    # Rows: face centre c, then u and w (resolution scale and lattice orientation folded in).
    vectors: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Tables:
    """A layer's cells on one face's lattice, with what the kernel needs for boundary cells.

    ``table`` holds, per (i, j) slot of the box starting at (i0, j0): the unit of an interior
    cell (0 <= v < _DOMINANT); v - _DOMINANT for a boundary cell covered by that unit but for
    its rim, whose record is found through ``rim_slots``/``rim_records``; -1 for no cell; or
    -2 - s for any other boundary cell: ``squares[s]`` is where its record starts in ``blob``
    and ``squares[s + 1 :][:80]`` answer its 8 × 10 squares (a unit, -1 for none, -2 for ask
    the record). A record keeps all one point needs in adjacent memory: the cell centre rx, ry
    (the reference point), the number of candidates, and per candidate in code order its unit,
    whether it covers the centre, its number of edges near the cell and those edges as ax, ay,
    bx, by with the certain side of the centre (0 if unknown).
    """

    frame: Frame
    i0: int
    j0: int
    ni: int
    nj: int
    table: NDArray[np.int32]
    blob: NDArray[np.float64]
    squares: NDArray[np.int32]
    # min_lon, min_lat, max_lon, max_lat holding every cell: points outside it are outside.
    box: NDArray[np.float64]
    # Whether the whole box lies on the face: points inside it then skip the nearest-face search.
    box_on_face: bool
    rim_slots: NDArray[np.int64]
    rim_records: NDArray[np.int64]

    @property
    def dominated(self) -> NDArray[np.bool_]:
        """Per slot, whether it holds a boundary cell covered by one unit but for its rim."""
        return self.table >= _DOMINANT

    @property
    def square_answers(self) -> NDArray[np.int32]:
        """The answers decided at build time for the squares of the record cells, one row of
        8 × 10 per cell (a unit, -1 for none, -2 for ask the record).
        """
        return self.squares.reshape(-1, 1 + _SUB_NX * _SUB_NY)[:, 1:]


@functools.cache
def face_centres() -> NDArray[np.float64]:
    """Unit vectors of the 20 icosahedron face centres, in H3's face order.

    h3 places the centre of a face-centred base cell exactly at its face centre: the base cell
    on one face nearest the normalized sum of the face's three corner pentagons is that cell.
    """
    corners = np.zeros((20, 3))
    for cell in h3cells.pentagons(0):
        vector = _cell_vector(cell)
        for face in h3cells.cell_to_faces(cell):
            corners[face] += vector
    approximate = corners / np.linalg.norm(corners, axis=1, keepdims=True)
    centres = np.zeros((20, 3))
    for face in range(20):
        on_face = [c for c in h3cells.base_cells() if h3cells.cell_to_faces(c) == [face]]
        vectors = np.array([_cell_vector(c) for c in on_face])
        centres[face] = vectors[np.argmax(vectors @ approximate[face])]
    return centres


@functools.cache
def frame(face: int, resolution: int) -> Frame:
    """The lattice projection of ``face`` at ``resolution``, oriented as h3's own lattice.

    The orientation comes from a resolution-2 neighbour of the face's centre cell (far enough
    out that its azimuth is exact to 1e-15 rad); odd (Class III) resolutions turn it by
    asin(√(3/28)), as h3 does.
    """
    c = face_centres()[face]
    lat, lng = math.asin(c[2]), math.atan2(c[1], c[0])
    north = np.array(
        [-math.sin(lat) * math.cos(lng), -math.sin(lat) * math.sin(lng), math.cos(lat)]
    )
    east = np.array([-math.sin(lng), math.cos(lng), 0.0])
    origin = h3cells.lonlat_to_cell(math.degrees(lng), math.degrees(lat), 2)
    q = _cell_vector(next(n for n in h3cells.cell_to_ring(origin, 1) if not h3cells.is_pentagon(n)))
    beta = math.atan2(q @ east, q @ north)
    if resolution % 2:
        beta -= math.asin(math.sqrt(3.0 / 28.0))
    scale = 7.0 ** (resolution / 2.0) / _RES0_U_GNOMONIC
    u = scale * (math.cos(beta) * north + math.sin(beta) * east)
    w = scale * (math.sin(beta) * north - math.cos(beta) * east)
    return Frame(face, resolution, np.ascontiguousarray(np.stack([c, u, w])))


def lattice_keys(
    frame_: Frame, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """The H3 cell of each point as its packed (i, j) on ``frame_``'s lattice; -1 off the face.

    This is the whole cost of finding a point's H3 cell on a known face, short of encoding the
    64-bit index: the benchmark's floor.
    """
    out = np.empty(lon.size, dtype=np.int64)
    _keys_kernel(lon, lat, face_centres(), frame_.face, frame_.vectors, out)
    return out


def cell_ij(
    frame_: Frame, cells: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Lattice (i, j) of H3 cells on ``frame_``: their centres projected and rounded."""
    return _centre_ij(frame_, *h3cells.cells_to_lonlat(cells))


def _centre_ij(
    frame_: Frame, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Lattice (i, j) of cells from their centres' lon, lat."""
    x, y = project(frame_, lon, lat)
    i, j = np.empty(x.size, dtype=np.int64), np.empty(x.size, dtype=np.int64)
    _round_many(x, y, i, j)
    if x.size and np.hypot(x - (i - 0.5 * j), y - j * _SQRT3_2).max() > 1e-6:
        raise ValueError("an H3 cell centre does not fall on its face's lattice")
    return i, j


def project(
    frame_: Frame, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lattice (x, y) of lon/lat degrees on ``frame_`` (vectorized; no face check)."""
    p = unit_vectors(np.radians(lat), np.radians(lon))
    c, u, w = frame_.vectors
    d = p @ c
    return (p @ u) / d, (p @ w) / d


def unproject(
    frame_: Frame, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lon/lat degrees of lattice (x, y) on ``frame_``: the inverse gnomonic projection."""
    c, u, w = frame_.vectors
    s2 = u @ u  # u = s·(unit vector): u / s² maps x back to the tangent plane
    t = c + (np.multiply.outer(x, u) + np.multiply.outer(y, w)) / s2
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(t[..., 1], t[..., 0])), np.degrees(np.arcsin(t[..., 2]))


def face_of(lon: NDArray[np.float64], lat: NDArray[np.float64], resolution: int) -> int | None:
    """The face that cells centred at lon, lat all lie well inside, or None when they reach
    another face.

    A cell's vertices lie within its circumradius r of its centre, and moving a point by r
    changes its dot product with a face centre by at most r; so a centre nearer its face than
    any other by more than 2r (plus slack) keeps the whole cell on that face.
    """
    p = unit_vectors(np.radians(lat), np.radians(lon))
    face = int(np.bincount(np.argmax(p @ face_centres().T, axis=1), minlength=20).argmax())
    radius = 2.0 * (h3cells.average_edge_m(resolution) / 1000.0) / 6371.0
    return face if bool((_lead(p, face) > 2.0 * radius + 1e-9).all()) else None


def bow_m(resolution: int, latitude: float) -> float:
    """How far (metres) a cell edge at ``latitude`` may bow from its straight lon/lat chord.

    H3 cell edges are great-circle arcs: an edge of length L at latitude φ leaves the chord by
    about L² tan φ / 8R. L is taken as 1.5 times h3's average edge at the resolution.
    """
    edge = 1.5 * h3cells.average_edge_m(resolution)
    return edge**2 * math.tan(math.radians(min(abs(latitude), 89.9))) / (8 * _EARTH_MIN_RADIUS_M)


def _lead(p: NDArray[np.float64], face: int) -> NDArray[np.float64]:
    """How much nearer (dot product) each unit vector is to ``face``'s centre than to others'."""
    dots = p @ face_centres().T
    home = dots[:, face].copy()
    dots[:, face] = -np.inf
    return home - dots.max(axis=1)


def build_tables(layer: Locator) -> Tables | None:
    """Lay a layer's cell table on one face's lattice; None where that cannot be done safely.

    Reads the layer's merged table (``table_cells``/``table_values``, without the sentinel: a
    unit >= 0, or -2 - b for boundary cell b of ``boundary_cells``, whose candidates are
    ``boundary_units`` in CSR form), its resolution and its geometries. None below
    MIN_RESOLUTION, when the cells reach a second face, or when the (i, j) box would exceed
    MAX_TABLE_SLOTS: the layer keeps its H3-index path.
    """
    resolution, geoms = layer.resolution, layer.geoms
    cells = layer.table_cells[:-1]
    values: NDArray[np.int64] = layer.table_values[:-1].astype(np.int64)
    boundary_cells = layer.boundary_cells
    if cells.size == 0 or resolution < MIN_RESOLUTION or len(geoms) >= _DOMINANT:
        return None
    centre_lon, centre_lat = h3cells.cells_to_lonlat(cells)
    face = face_of(centre_lon, centre_lat, resolution)
    if face is None:
        return None
    frame_ = frame(face, resolution)
    i, j = _centre_ij(frame_, centre_lon, centre_lat)
    i0, j0 = int(i.min()), int(j.min())
    ni, nj = int(i.max()) - i0 + 1, int(j.max()) - j0 + 1
    if ni * nj > MAX_TABLE_SLOTS:
        return None
    box = _cell_box(frame_, i, j, centre_lon, centre_lat, resolution)
    if box is None:
        return None
    slot = (i - i0) * nj + (j - j0)
    boundary = values <= -2
    b = -2 - values[boundary]
    bi, bj = np.empty(boundary_cells.size, np.int64), np.empty(boundary_cells.size, np.int64)
    bi[b], bj[b] = i[boundary], j[boundary]
    blob, starts, dominant = _records(
        frame_, geoms, bi, bj, layer.boundary_offsets, layer.boundary_units.astype(np.int64)
    )
    if blob.size >= 2**31 - 2:  # pragma: no cover - a table value must reach every record
        return None
    squares, square_base = _squares(frame_, bi, bj, blob, starts, dominant < 0)
    values[boundary] = np.where(dominant[b] >= 0, dominant[b] + _DOMINANT, -2 - square_base[b])
    table = np.full(ni * nj, -1, dtype=np.int32)
    table[slot] = values
    rim = np.flatnonzero(dominant >= 0)
    rim_slots = (bi[rim] - i0) * nj + (bj[rim] - j0)
    order = np.argsort(rim_slots)
    return Tables(
        frame=frame_,
        i0=i0,
        j0=j0,
        ni=ni,
        nj=nj,
        table=table,
        blob=blob,
        squares=squares,
        box=box,
        box_on_face=_box_on_face(face, box),
        rim_slots=np.ascontiguousarray(rim_slots[order]),
        rim_records=np.ascontiguousarray(starts[rim][order]),
    )


def locate(tables: Tables, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """Unit of each checked WGS84 point: >= 0, -1 outside every unit, UNSURE for GEOS to decide."""
    out = np.empty(lon.size, dtype=np.int64)
    t = tables
    _locate_kernel(
        lon, lat, face_centres(), t.frame.face, t.frame.vectors, t.i0, t.j0, t.ni, t.nj, t.table,
        t.blob, t.squares, t.box, t.box_on_face, t.rim_slots, t.rim_records, out,
    )  # fmt: skip
    return out


def _cell_vector(cell: int) -> NDArray[np.float64]:
    """Unit vector of one cell's centre."""
    lon, lat = h3cells.cell_to_lonlat(cell)
    return unit_vectors(np.radians([lat]), np.radians([lon]))[0]


def unit_vectors(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit vectors of points given as (lat, lng) in radians, as h3's _geoToVec3d."""
    r = np.cos(lat)
    return np.stack([np.cos(lng) * r, np.sin(lng) * r, np.sin(lat)], axis=-1).reshape(-1, 3)


def _hexagons(
    frame_: Frame, i: NDArray[np.int64], j: NDArray[np.int64], apothem: float
) -> NDArray[np.object_]:
    """Lon/lat polygons of lattice hexagons around (i, j) with the given apothem (0.5: the cell)."""
    return shapely.polygons(np.stack(_corners(frame_, i, j, apothem), axis=-1))


def _corners(
    frame_: Frame, i: NDArray[np.int64], j: NDArray[np.int64], apothem: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lon, lat (n, 7) of the closed rings of lattice hexagons around (i, j)."""
    angles = np.radians(30.0 + 60.0 * np.arange(7))
    radius = apothem * _RSQRT3_2
    x = (i - 0.5 * j)[:, None] + radius * np.cos(angles)
    y = (j * _SQRT3_2)[:, None] + radius * np.sin(angles)
    return unproject(frame_, x, y)


def _cell_box(
    frame_: Frame,
    i: NDArray[np.int64],
    j: NDArray[np.int64],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    resolution: int,
) -> NDArray[np.float64] | None:
    """A lon/lat box holding every cell, or None where the cells' straight lon/lat outlines
    cannot stand for their true edges.

    The box is the cell centres' grown by the reach of the outermost cells' corners (and a
    tenth more). Outlines fail across the antimeridian (they wrap) and towards the poles: a
    cell edge bows from its straight chord (``bow_m``), which must stay well inside the margins
    the tables are built with.
    """
    extreme = np.unique([lon.argmin(), lon.argmax(), lat.argmin(), lat.argmax()])
    corner_lon, corner_lat = _corners(frame_, i[extreme], j[extreme], 0.5)
    reach = 1.1 * max(
        np.abs(corner_lon - lon[extreme, None]).max(), np.abs(corner_lat - lat[extreme, None]).max()
    )
    low_lon, low_lat = lon.min() - reach, lat.min() - reach
    high_lon, high_lat = lon.max() + reach, lat.max() + reach
    if reach > 10.0 or low_lon <= -180.0 or high_lon >= 180.0:
        return None  # outlines wrap around the antimeridian
    edge = h3cells.average_edge_m(resolution) / 2.0  # a short one
    margin = min(0.5 * _GROWTH, _RIM / 2) * math.sqrt(3.0) * edge
    if bow_m(resolution, max(abs(low_lat), abs(high_lat))) > margin / 4:
        return None
    return np.array([low_lon, low_lat, high_lon, high_lat])


def _box_on_face(face: int, box: NDArray[np.float64], samples: int = 256) -> bool:
    """Whether every point of a lon/lat box is nearer ``face``'s centre than any other.

    The face is a convex spherical triangle, so the box (simply connected, far smaller than a
    hemisphere) lies in it when its outline does; the outline is sampled densely and must clear
    the other faces by a margin larger than the gap between samples can hide.
    """
    min_lon, min_lat, max_lon, max_lat = box
    t = np.linspace(0.0, 1.0, samples)
    lon = np.concatenate(
        [min_lon + t * (max_lon - min_lon)] * 2
        + [np.full(samples, min_lon), np.full(samples, max_lon)]
    )
    lat = np.concatenate(
        [np.full(samples, min_lat), np.full(samples, max_lat)]
        + [min_lat + t * (max_lat - min_lat)] * 2
    )
    lead = _lead(unit_vectors(np.radians(lat), np.radians(lon)), face)
    step = np.radians(max(max_lon - min_lon, max_lat - min_lat)) / (samples - 1)
    return bool((lead > 2.0 * step + 1e-9).all())


def _records(
    frame_: Frame,
    geoms: NDArray[np.object_],
    bi: NDArray[np.int64],
    bj: NDArray[np.int64],
    offsets: NDArray[np.int64],
    units: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Lay out the boundary cells' records (see Tables) in one array.

    Returns the array, each cell's record start, and each cell's dominant unit (-1 for none).
    """
    n_cells = bi.size
    if n_cells == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = np.diff(offsets)
    cand_cell = np.repeat(np.arange(n_cells), counts)
    rx, ry = unproject(
        frame_, (bi - 0.5 * bj).astype(np.float64), (bj * _SQRT3_2).astype(np.float64)
    )
    cand_inside = shapely.intersects_xy(geoms[units], rx[cand_cell], ry[cand_cell])
    # A cell is dominated by a unit that covers it but for the rim and that no other candidate
    # reaches inside the rim (the kernel's test leaves half the rim as slack for the difference
    # between straight lon/lat outlines and the cell's true, great-circle edges).
    core = _hexagons(frame_, bi, bj, 0.5 - _RIM / 2)
    reaches = shapely.intersects(geoms[units], core[cand_cell])
    covers = shapely.covers(geoms[units], core[cand_cell])
    alone = np.bincount(cand_cell, weights=reaches, minlength=n_cells) == 1
    dominant = np.full(n_cells, -1, dtype=np.int64)
    winner = covers & alone[cand_cell]
    dominant[cand_cell[winner]] = units[winner]
    # Every ring edge of every unit, then those that cross a (slightly grown) boundary cell.
    parts, part_unit = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    starts, stops = coords[:-1][same], coords[1:][same]
    edge_unit = part_unit[ring_part[ring_of[:-1][same]]]
    lines = shapely.linestrings(
        np.stack([starts, stops], axis=1).reshape(-1, 2),
        indices=np.repeat(np.arange(len(starts)), 2),
    )
    outlines = _hexagons(frame_, bi, bj, 0.5 * (1.0 + _GROWTH))
    cell_idx, edge_idx = shapely.STRtree(lines).query(outlines, predicate="intersects")
    # Each (cell, edge) pair belongs to the candidate entry (cell, the edge's unit).
    keys = cand_cell.astype(np.int64) << 32 | units
    pair_keys = cell_idx.astype(np.int64) << 32 | edge_unit[edge_idx].astype(np.int64)
    order = np.argsort(keys, kind="stable")
    entry = order[np.minimum(np.searchsorted(keys[order], pair_keys), keys.size - 1)]
    known = keys[entry] == pair_keys
    entry, edge_idx, cell_idx = entry[known], edge_idx[known], cell_idx[known]
    by_entry = np.argsort(entry, kind="stable")
    entry, edge_idx, cell_idx = entry[by_entry], edge_idx[by_entry], cell_idx[by_entry]
    edges_per_entry = np.bincount(entry, minlength=keys.size)
    # Record sizes: 3 header values per cell, 3 per candidate, 5 per edge.
    entry_size = 3 + 5 * edges_per_entry
    cell_size = 3 + np.bincount(cand_cell, weights=entry_size, minlength=n_cells).astype(np.int64)
    cell_start = np.concatenate([[0], np.cumsum(cell_size)[:-1]]).astype(np.int64)
    entry_start = cell_start[cand_cell] + 3 + _offsets_in_group(entry_size, counts)
    blob = np.zeros(int(cell_size.sum()))
    blob[cell_start] = rx
    blob[cell_start + 1] = ry
    blob[cell_start + 2] = counts
    blob[entry_start] = units
    blob[entry_start + 1] = cand_inside
    blob[entry_start + 2] = edges_per_entry
    edge_start = (
        entry_start[entry]
        + 3
        + 5 * _offsets_in_group(np.ones(entry.size, dtype=np.int64), edges_per_entry)
    )
    seg = np.ascontiguousarray(np.column_stack([starts[edge_idx], stops[edge_idx]]))
    for column in range(4):
        blob[edge_start + column] = seg[:, column]
    side = np.empty(len(seg), dtype=np.int8)
    _sides_kernel(seg, np.ascontiguousarray(rx[cell_idx]), np.ascontiguousarray(ry[cell_idx]), side)
    blob[edge_start + 4] = side
    return blob, cell_start, dominant


def _squares(
    frame_: Frame,
    bi: NDArray[np.int64],
    bj: NDArray[np.int64],
    blob: NDArray[np.float64],
    starts: NDArray[np.int64],
    needed: NDArray[np.bool_],
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Answer the squares of the ``needed`` boundary cells (see Tables) from their records.

    A square answers when its centre lies well inside the cell and no edge of the record comes
    within its lon/lat circumradius (estimated from the cell's outline, times _SUB_SAFETY): all
    its points then share the centre's answer, which the record decides exactly. Returns the
    squares array and each cell's base in it (-1 where not needed).
    """
    cells = np.flatnonzero(needed)
    base = np.full(bi.size, -1, dtype=np.int64)
    per_cell = 1 + _SUB_NX * _SUB_NY
    base[cells] = np.arange(cells.size, dtype=np.int64) * per_cell
    squares = np.full(cells.size * per_cell, -2, dtype=np.int32)
    if cells.size == 0:
        return squares, base
    squares[base[cells]] = starts[cells]
    sx, sy = np.meshgrid(np.arange(_SUB_NX), np.arange(_SUB_NY), indexing="ij")
    dx = (-0.5 + (sx.ravel() + 0.5) * _SUB)[None, :]
    dy = (-_SUB_Y0 + (sy.ravel() + 0.5) * _SUB)[None, :]
    ci, cj = bi[cells], bj[cells]
    lon, lat = unproject(frame_, (ci - 0.5 * cj)[:, None] + dx, (cj * _SQRT3_2)[:, None] + dy)
    # The square's centre must lie inside the cell, so that the record can decide it (its
    # points outside the cell never come to this record).
    limit = 0.5 - 1e-3
    inside = (
        (np.abs(dx) <= limit)
        & (np.abs(0.5 * dx + _SQRT3_2 * dy) <= limit)
        & (np.abs(0.5 * dx - _SQRT3_2 * dy) <= limit)
    )
    # Degrees per lattice unit: the farthest outline corner from the centre, over 1/√3.
    corner_lon, corner_lat = _corners(frame_, ci, cj, 0.5)
    centre_lon, centre_lat = unproject(
        frame_, (ci - 0.5 * cj).astype(np.float64), (cj * _SQRT3_2).astype(np.float64)
    )
    stretch = np.hypot(corner_lon - centre_lon[:, None], corner_lat - centre_lat[:, None]).max(
        axis=1
    ) * math.sqrt(3.0)
    radius = stretch * _SUB * math.sqrt(0.5) * _SUB_SAFETY
    answers = np.empty(lon.shape, dtype=np.int32)
    _squares_kernel(
        blob, starts[cells], np.ascontiguousarray(lon), np.ascontiguousarray(lat),
        np.ascontiguousarray(np.broadcast_to(inside, lon.shape)), radius, answers,
    )  # fmt: skip
    squares.reshape(cells.size, per_cell)[:, 1:] = answers
    return squares, base


def _offsets_in_group(
    sizes: NDArray[np.int64], group_counts: NDArray[np.int64]
) -> NDArray[np.int64]:
    """For items laid out group after group, each item's offset from its group's first item."""
    ends = np.cumsum(sizes)
    starts = ends - sizes
    if sizes.size == 0:
        return starts
    group_first = np.repeat(np.concatenate([[0], np.cumsum(group_counts)[:-1]]), group_counts)
    return starts - starts[group_first]


# ---------------------------------------------------------------------------------------------
# Compiled kernels: arrays and scalars only, so numba compiles each once (cached on disk).


@numba.njit(cache=True, inline="always")
def _round_hex(x: float, y: float) -> tuple[int, int]:
    """Nearest point (i, j) of the lattice i·(1, 0) + j·(-1/2, √3/2), by cube rounding.

    In the 60° basis (1, 0), (1/2, √3/2) the point has axial coordinates q = i - j, r = j, and
    (q, r, -q - r) rounds as cube coordinates: round each, then fix the one that moved most.
    """
    r = y * _RSQRT3_2
    q = x - 0.5 * r
    s = -q - r
    rq, rr, rs = round(q), round(r), round(s)
    dq, dr, ds = abs(rq - q), abs(rr - r), abs(rs - s)
    if dq > dr and dq > ds:
        rq = -rr - rs
    elif dr > ds:
        rr = -rq - rs
    return int(rq + rr), int(rr)


@numba.njit(cache=True, nogil=True)
def _round_many(x, y, i, j):
    for n in range(x.size):
        i[n], j[n] = _round_hex(x[n], y[n])


@numba.njit(cache=True, inline="always")
def _unit(lon: float, lat: float) -> tuple[float, float, float]:
    """Unit vector of a lon/lat point in degrees (h3's _geoToVec3d)."""
    phi = lat * (math.pi / 180.0)
    lam = lon * (math.pi / 180.0)
    r = math.cos(phi)
    return math.cos(lam) * r, math.sin(lam) * r, math.sin(phi)


@numba.njit(cache=True, inline="always")
def _nearest_face(px: float, py: float, pz: float, centres) -> int:
    """The face whose centre is nearest (h3's _geoToClosestFace, squared chord distances)."""
    best = 5.0
    face = 0
    for f in range(20):
        dx, dy, dz = centres[f, 0] - px, centres[f, 1] - py, centres[f, 2] - pz
        sqd = dx * dx + dy * dy + dz * dz
        if sqd < best:
            best, face = sqd, f
    return face


@numba.njit(cache=True, inline="always")
def _plane(px: float, py: float, pz: float, vec) -> tuple[float, float]:
    """Lattice (x, y) of a unit vector on a face: the gnomonic projection, scaled and turned."""
    d = px * vec[0, 0] + py * vec[0, 1] + pz * vec[0, 2]
    x = (px * vec[1, 0] + py * vec[1, 1] + pz * vec[1, 2]) / d
    y = (px * vec[2, 0] + py * vec[2, 1] + pz * vec[2, 2]) / d
    return x, y


@numba.njit(cache=True, nogil=True)
def _keys_kernel(lon, lat, centres, home, vec, out):
    for n in range(lon.size):
        px, py, pz = _unit(lon[n], lat[n])
        if _nearest_face(px, py, pz, centres) != home:
            out[n] = -1
            continue
        x, y = _plane(px, py, pz, vec)
        i, j = _round_hex(x, y)
        out[n] = ((i + 0x40000000) << 32) | (j + 0x40000000)


@numba.njit(cache=True, inline="always")
def _orient(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> int:
    """Sign of the turn a → b → p when Shewchuk's filter certifies it, else 0."""
    left = (ax - px) * (by - py)
    right = (ay - py) * (bx - px)
    det = left - right
    bound = _CCW_ERRBOUND * (abs(left) + abs(right))
    if det > bound:
        return 1
    if det < -bound:
        return -1
    return 0


@numba.njit(cache=True, nogil=True)
def _sides_kernel(seg, rx, ry, out):
    for n in range(seg.shape[0]):
        out[n] = _orient(seg[n, 0], seg[n, 1], seg[n, 2], seg[n, 3], rx[n], ry[n])


@numba.njit(cache=True, inline="always")
def _decide(blob, at: int, px: float, py: float) -> int:
    """Decide a point of a boundary cell from the cell's record at ``blob[at]``."""
    rx, ry = blob[at], blob[at + 1]
    candidates = int(blob[at + 2])
    at += 3
    for _ in range(candidates):
        unit = int(blob[at])
        inside = blob[at + 1] != 0.0
        edges = int(blob[at + 2])
        at += 3
        for _ in range(edges):
            ax, ay, bx, by = blob[at], blob[at + 1], blob[at + 2], blob[at + 3]
            ref_side = int(blob[at + 4])
            at += 5
            side = _orient(ax, ay, bx, by, px, py)
            if side == 0 or ref_side == 0:
                return UNSURE
            if side != ref_side:
                sa = _orient(px, py, rx, ry, ax, ay)
                sb = _orient(px, py, rx, ry, bx, by)
                if sa == 0 or sb == 0:
                    return UNSURE
                if sa != sb:
                    inside = not inside
        if inside:
            return unit
    return -1


@numba.njit(cache=True, inline="always")
def _clear(blob, at: int, px: float, py: float, radius: float) -> bool:
    """Whether no edge of the record at ``blob[at]`` comes within ``radius`` of the point."""
    candidates = int(blob[at + 2])
    at += 3
    r2 = radius * radius
    for _ in range(candidates):
        edges = int(blob[at + 2])
        at += 3
        for _ in range(edges):
            ax, ay, bx, by = blob[at], blob[at + 1], blob[at + 2], blob[at + 3]
            at += 5
            ex, ey = bx - ax, by - ay
            length2 = ex * ex + ey * ey
            t = 0.0 if length2 == 0.0 else ((px - ax) * ex + (py - ay) * ey) / length2
            t = min(max(t, 0.0), 1.0)
            qx, qy = ax + t * ex - px, ay + t * ey - py
            if qx * qx + qy * qy <= r2:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def _squares_kernel(blob, starts, lon, lat, inside, radius, out):
    for c in range(lon.shape[0]):
        for s in range(lon.shape[1]):
            out[c, s] = -2
            if inside[c, s] and _clear(blob, starts[c], lon[c, s], lat[c, s], radius[c]):
                answer = _decide(blob, starts[c], lon[c, s], lat[c, s])
                if answer != UNSURE:
                    out[c, s] = answer


@numba.njit(cache=True, nogil=True)
def _locate_kernel(
    lon,
    lat,
    centres,
    home,
    vec,
    i0,
    j0,
    ni,
    nj,
    table,
    blob,
    squares,
    box,
    box_on_face,
    rim_slots,
    rim_records,
    out,
):
    limit = 0.5 - _RIM
    min_lon, min_lat, max_lon, max_lat = box[0], box[1], box[2], box[3]
    for n in range(lon.size):
        px, py = lon[n], lat[n]
        if not (min_lon <= px <= max_lon and min_lat <= py <= max_lat):
            out[n] = -1
            continue
        ux, uy, uz = _unit(px, py)
        if not box_on_face and _nearest_face(ux, uy, uz, centres) != home:
            out[n] = -1
            continue
        x, y = _plane(ux, uy, uz, vec)
        i, j = _round_hex(x, y)
        si, sj = i - i0, j - j0
        if si < 0 or sj < 0 or si >= ni or sj >= nj:
            out[n] = -1
            continue
        slot = si * nj + sj
        value = table[slot]
        if value >= _DOMINANT:
            dx = x - (i - 0.5 * j)
            dy = (y - j * _SQRT3_2) * _SQRT3_2
            if abs(dx) <= limit and abs(0.5 * dx + dy) <= limit and abs(0.5 * dx - dy) <= limit:
                out[n] = value - _DOMINANT
            else:
                out[n] = _decide(blob, rim_records[np.searchsorted(rim_slots, slot)], px, py)
        elif value >= -1:
            out[n] = value
        else:
            base = -2 - value
            fx = x - (i - 0.5 * j) + 0.5
            fy = y - j * _SQRT3_2 + _SUB_Y0
            answer = -2
            if fx >= 0.0 and fy >= 0.0:
                qx, qy = int(fx * (1.0 / _SUB)), int(fy * (1.0 / _SUB))
                if qx < _SUB_NX and qy < _SUB_NY:
                    answer = squares[base + 1 + qx * _SUB_NY + qy]
            out[n] = answer if answer >= -1 else _decide(blob, squares[base], px, py)
