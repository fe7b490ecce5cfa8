"""Tests for the in-memory H3 index of gridmap.lookup: exact against shapely, on edges too."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from numpy.typing import NDArray

import h3
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon

from gridmap import lookup
from gridmap.errors import CoordinateOutOfRangeError, InvalidCodeError, InvalidGeometryError
from tests.geometries import BOWTIE

GEOD = Geod(ellps="WGS84")
X0, Y0 = 102.20, 27.80  # 西昌, as in tests/geometries.py
BOX = (X0, Y0, X0 + 0.03, Y0 + 0.025)  # about 3 km by 2.8 km
RESOLUTIONS = (9, 10, 11)
EXAMPLES = settings(max_examples=100, deadline=None)


def voronoi_layer(seeds: int, seed: int) -> tuple[list[str], NDArray[np.object_]]:
    """A Voronoi tessellation clipped to BOX: neighbours share edges and vertices exactly."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    points = shapely.multipoints(
        np.column_stack([rng.uniform(x0, x1, seeds), rng.uniform(y0, y1, seeds)])
    )
    box = shapely.box(*BOX)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(points, extend_to=box)), box
    )
    codes = [f"5134010010{k:02d}" for k in rng.permutation(len(cells))]  # not in code order
    return codes, cells


def odd_layer() -> tuple[list[str], NDArray[np.object_]]:
    """Holes, an island in a hole, a two-part unit, an overlap, a gap and sub-cell slivers."""
    d = 0.01

    def sq(x: float, y: float, w: float, h: float | None = None) -> Polygon:
        return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + (w if h is None else h))

    holed = Polygon(sq(0, 0, d).exterior.coords, [sq(0.3 * d, 0.3 * d, 0.4 * d).exterior.coords])
    units = {
        "513401001009": holed,
        "513401001003": sq(0.3 * d, 0.3 * d, 0.4 * d),  # fills the hole exactly
        "513401001001": MultiPolygon([sq(d, 0, d, 0.5 * d), sq(d, 0.6 * d, 0.5 * d, 0.4 * d)]),
        "513401001004": sq(0.8 * d, 0.8 * d, 0.4 * d),  # overlaps two units
        "513401001007": sq(1.7 * d, 0.7 * d, 0.00003),  # 3 m: smaller than one cell
        "513401001002": shapely.Polygon(  # a 4 m triangle on the holed unit's west edge
            [(X0, Y0 + 0.5 * d), (X0 - 0.00004, Y0 + 0.5 * d), (X0, Y0 + 0.5 * d + 0.00004)]
        ),
        "513401001008": sq(0, d, 2 * d, 0.2 * d),  # along the top, sharing edges
    }
    return list(units), np.array(list(units.values()), dtype=object)


def h3_layer() -> tuple[list[str], NDArray[np.object_]]:
    """Units that are unions of resolution-10 cells: their edges are H3 cell edges."""
    centre = h3.latlng_to_cell(Y0 + 0.01, X0 + 0.01, 8)
    codes, geoms = [], []
    for k, parent in enumerate(sorted(h3.grid_disk(centre, 1))):
        children = h3.cell_to_children(parent, 10)
        rings = [
            shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in children
        ]
        codes.append(f"51340100{k:04d}")
        geoms.append(shapely.set_precision(shapely.union_all(rings), 1e-9))
    return codes, np.array(geoms, dtype=object)


LAYERS = {
    "voronoi": voronoi_layer(40, seed=1),
    "odd": odd_layer(),
    "h3": h3_layer(),
}


@cache
def locator(name: str, resolution: int) -> lookup.Locator:
    codes, geoms = LAYERS[name]
    return lookup.build_locator(codes, geoms, resolution=resolution)


@cache
def special_points(name: str) -> NDArray[np.float64]:
    """Vertices, edge midpoints and points a hair off them: where lookups go wrong."""
    _, geoms = LAYERS[name]
    coords, ring = shapely.get_coordinates(shapely.boundary(geoms), return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    midpoints = (a + b) / 2
    hair = 1e-9 * np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1]])
    nudged = (coords[:, None, :] + hair[None, :, :]).reshape(-1, 2)
    cells = {h3.latlng_to_cell(y, x, r) for x, y in midpoints[::7] for r in RESOLUTIONS}
    corners = [(lng, lat) for c in cells for lat, lng in h3.cell_to_boundary(c)]
    return np.unique(np.vstack([coords, midpoints, nudged, corners]), axis=0)


def layer_points(name: str) -> st.SearchStrategy[tuple[float, float]]:
    """Uniform points in and around the layer, or special points, or points along edges."""
    _, geoms = LAYERS[name]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    pad = 0.1 * max(x1 - x0, y1 - y0)
    uniform = st.tuples(
        st.floats(x0 - pad, x1 + pad, allow_nan=False),
        st.floats(y0 - pad, y1 + pad, allow_nan=False),
    )
    special = st.sampled_from([tuple(p) for p in special_points(name).tolist()])
    coords = shapely.get_coordinates(shapely.boundary(geoms))
    along = st.tuples(st.integers(0, len(coords) - 2), st.floats(0, 1)).map(
        lambda it: tuple(coords[it[0]] + it[1] * (coords[it[0] + 1] - coords[it[0]]))
    )
    return st.one_of(uniform, special, along)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_locate_matches_shapely_covers(name: str, resolution: int) -> None:
    codes, geoms = LAYERS[name]
    index = locator(name, resolution)

    @EXAMPLES
    @given(points=st.lists(layer_points(name), min_size=1, max_size=300))
    def check(points: list[tuple[float, float]]) -> None:
        lon, lat = np.array(points, dtype=np.float64).T
        assert_array_equal(
            lookup.locate(index, lon, lat), lookup.reference_locate(codes, geoms, lon, lat)
        )

    check()


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_special_point_matches(name: str, resolution: int) -> None:
    codes, geoms = LAYERS[name]
    lon, lat = special_points(name).T
    assert_array_equal(
        lookup.locate(locator(name, resolution), lon, lat),
        lookup.reference_locate(codes, geoms, lon, lat),
    )


def test_build_classifies_cells() -> None:
    index = locator("voronoi", 10)
    assert index.codes.tolist() == sorted(LAYERS["voronoi"][0])
    assert np.all(np.diff(index.interior_cells.astype(np.int64)) > 0)
    assert np.all(np.diff(index.boundary_cells.astype(np.int64)) > 0)
    assert len(np.intersect1d(index.interior_cells, index.boundary_cells)) == 0
    assert index.boundary_offsets[0] == 0
    assert index.boundary_offsets[-1] == len(index.boundary_units)
    counts = np.diff(index.boundary_offsets)
    assert counts.min() >= 1
    starts = index.boundary_offsets[:-1]
    for k in np.flatnonzero(counts > 1)[:50]:
        units = index.boundary_units[starts[k] : starts[k] + counts[k]]
        assert np.all(np.diff(units) > 0)  # candidates in code order
    # an interior cell's centre lies in its unit
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in index.interior_cells]).T
    units = lookup.reference_locate(*LAYERS["voronoi"], lng, lat)
    assert_array_equal(units, index.interior_units)


def test_a_cell_sized_unit_is_found() -> None:
    tiny = shapely.box(X0 + 0.017, Y0 + 0.007, X0 + 0.01703, Y0 + 0.00703)
    lon, lat = shapely.get_coordinates(shapely.centroid(tiny))[0]
    index = locator("odd", 9)
    assert index.codes[lookup.locate(index, lon, lat)] == "513401001007"


def test_points_outside_every_unit_are_minus_one() -> None:
    index = locator("voronoi", 10)
    lon = np.array([X0 - 0.01, BOX[2] + 0.001, 110.0, X0 + 0.01])
    lat = np.array([Y0 + 0.01, Y0 + 0.01, 35.0, BOX[3] + 1e-7])
    assert_array_equal(lookup.locate(index, lon, lat), [-1, -1, -1, -1])


def test_shared_edge_goes_to_the_lower_code() -> None:
    west = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    east = shapely.box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.01)
    index = lookup.build_locator(["513401001002", "513401001001"], [west, east])
    found = lookup.locate(index, [X0 + 0.01, X0 + 0.01, X0 + 0.005], [Y0 + 0.005, Y0, Y0])
    assert index.codes[found].tolist() == ["513401001001", "513401001001", "513401001002"]


def test_shapes_are_kept() -> None:
    index = locator("voronoi", 10)
    lon = np.full((2, 3), X0 + 0.01)
    lat = np.full((2, 3), Y0 + 0.01)
    assert lookup.locate(index, lon, lat).shape == (2, 3)
    single = lookup.locate(index, X0 + 0.01, Y0 + 0.01)
    assert single.shape == ()
    assert single >= 0


def test_empty_input_gives_empty_output() -> None:
    index = locator("voronoi", 10)
    found = lookup.locate(index, np.array([]), np.array([]))
    assert found.shape == (0,)
    assert found.dtype == np.int64
    assert lookup.near_boundary(index, [], [], np.array([], dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize(
    ("lon", "lat", "words"),
    [
        (np.nan, Y0, "NaN"),
        (X0, np.inf, "NaN or infinite"),
        (X0, 930.0, "latitude"),
        (Y0, X0, "swapped"),
        (181.0, Y0, "longitude"),
    ],
)
def test_bad_coordinates_raise(lon: float, lat: float, words: str) -> None:
    index = locator("voronoi", 10)
    with pytest.raises(CoordinateOutOfRangeError, match=words):
        lookup.locate(index, [X0 + 0.01, lon], [Y0 + 0.01, lat])
    with pytest.raises(CoordinateOutOfRangeError, match=words):
        lookup.near_boundary(index, [lon], [lat], [0])


def test_large_batch_equals_reference() -> None:
    codes, geoms = LAYERS["voronoi"]
    rng = np.random.default_rng(3)
    lon = rng.uniform(BOX[0] - 0.002, BOX[2] + 0.002, 120_000)
    lat = rng.uniform(BOX[1] - 0.002, BOX[3] + 0.002, 120_000)
    index = locator("voronoi", 10)
    assert_array_equal(
        lookup.locate(index, lon, lat), lookup.reference_locate(codes, geoms, lon, lat)
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_rows_round_trip(name: str) -> None:
    codes, geoms = LAYERS[name]
    index = locator(name, 10)
    cells, units, exact = lookup.index_rows(index)
    assert cells.dtype == np.uint64 and units.dtype == np.int32 and exact.dtype == np.bool_
    assert exact.sum() == len(index.interior_cells)
    assert (~exact).sum() == len(index.boundary_units)
    # as read back from PostgreSQL: bigint cells, rows in any order, codes in file order
    shuffle = np.random.default_rng(0).permutation(len(cells))
    given_codes = list(codes)
    position = {code: k for k, code in enumerate(given_codes)}
    given_units = np.array([position[c] for c in index.codes[units]])
    again = lookup.locator_from_rows(
        10,
        given_codes,
        geoms,
        cells.astype(np.int64)[shuffle],
        given_units[shuffle],
        exact[shuffle],
    )
    assert_array_equal(again.interior_cells, index.interior_cells)
    assert_array_equal(again.interior_units, index.interior_units)
    assert_array_equal(again.boundary_cells, index.boundary_cells)
    assert_array_equal(again.boundary_offsets, index.boundary_offsets)
    assert_array_equal(again.boundary_units, index.boundary_units)
    lon, lat = special_points(name).T
    assert_array_equal(lookup.locate(again, lon, lat), lookup.locate(index, lon, lat))


def test_rows_at_another_resolution_are_refused() -> None:
    codes, geoms = LAYERS["voronoi"]
    cells, units, exact = lookup.index_rows(locator("voronoi", 10))
    with pytest.raises(ValueError, match="resolution 11"):
        lookup.locator_from_rows(11, codes, geoms, cells, units, exact)


def test_layer_errors() -> None:
    square = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    with pytest.raises(InvalidCodeError, match="513401001001"):
        lookup.build_locator(["513401001001", "513401001001"], [square, square])
    with pytest.raises(InvalidGeometryError, match="non-polygonal"):
        lookup.build_locator(["513401001001"], [shapely.Point(X0, Y0)])
    with pytest.raises(InvalidGeometryError, match="invalid"):
        lookup.build_locator(["513401001001"], [BOWTIE])
    with pytest.raises(InvalidGeometryError, match="513401001002"):
        lookup.build_locator(["513401001001", "513401001002"], [square, Polygon()])


# near_boundary: two units sharing the meridian X0 + 0.01, and a third unit far to the east.
WEST = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
EAST = shapely.box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.01)
FAR = shapely.box(X0 + 0.05, Y0, X0 + 0.06, Y0 + 0.01)
PAIR = lookup.build_locator(["513401001001", "513401001002", "513401001003"], [WEST, EAST, FAR])


def offset(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) along ``azimuth`` degrees, on the ellipsoid."""
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return x, y


@pytest.mark.parametrize(
    ("metres", "expected"),
    [(0.0, True), (10.0, True), (29.7, True), (30.3, False), (100.0, False)],
)
def test_near_a_shared_edge(metres: float, expected: bool) -> None:
    lon, lat = offset(X0 + 0.01, Y0 + 0.005, 270.0, metres)  # west of the shared edge
    units = lookup.locate(PAIR, [lon], [lat])
    assert PAIR.codes[units[0]] == "513401001001"
    assert lookup.near_boundary(PAIR, [lon], [lat], units).tolist() == [expected]
    mirrored = offset(X0 + 0.01, Y0 + 0.005, 90.0, max(metres, 1e-3))
    units = lookup.locate(PAIR, [mirrored[0]], [mirrored[1]])
    assert PAIR.codes[units[0]] == "513401001002"
    assert lookup.near_boundary(PAIR, [mirrored[0]], [mirrored[1]], units).tolist() == [expected]


def test_near_only_the_outer_edge_is_not_near() -> None:
    points = [
        offset(X0 + 0.003, Y0 + 0.01, 180.0, 5.0),  # 5 m inside the north edge of WEST
        offset(X0, Y0 + 0.005, 90.0, 2.0),  # 2 m inside the west edge of WEST
        (X0, Y0 + 0.005),  # on the outer edge itself
        offset(X0 + 0.05, Y0 + 0.005, 90.0, 1.0),  # FAR, by its own edge
    ]
    lon, lat = np.array(points).T
    units = lookup.locate(PAIR, lon, lat)
    assert np.all(units >= 0)
    assert not lookup.near_boundary(PAIR, lon, lat, units).any()


def test_outside_points_are_never_near() -> None:
    lon, lat = offset(X0 + 0.01, Y0, 180.0, 5.0)  # 5 m south of both units
    units = lookup.locate(PAIR, [lon], [lat])
    assert units.tolist() == [-1]
    assert lookup.near_boundary(PAIR, [lon], [lat], units).tolist() == [False]


def test_near_boundary_checks_units() -> None:
    with pytest.raises(ValueError, match="shape"):
        lookup.near_boundary(PAIR, [X0, X0], [Y0, Y0], [0])
    with pytest.raises(ValueError, match="distance_m"):
        lookup.near_boundary(PAIR, [X0], [Y0], [0], distance_m=-1.0)


@cache
def projected_layer(name: str) -> tuple[Transformer, NDArray[np.object_]]:
    """The layer in an azimuthal equidistant projection centred on it (metres, exact here)."""
    _, geoms = LAYERS[name]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    proj = f"+proj=aeqd +lat_0={(y0 + y1) / 2} +lon_0={(x0 + x1) / 2} +ellps=WGS84"
    transformer = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    projected = shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(*xy.T)))
    return transformer, projected


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_near_boundary_matches_projected_distances(name: str, resolution: int) -> None:
    codes, _ = LAYERS[name]
    index = locator(name, resolution)
    transformer, projected = projected_layer(name)
    order = np.argsort(codes, kind="stable")  # unit index -> position in the given layer

    @settings(max_examples=30, deadline=None)
    @given(
        points=st.lists(layer_points(name), min_size=1, max_size=100),
        distance=st.sampled_from([5.0, 30.0, 80.0]),
    )
    def check(points: list[tuple[float, float]], distance: float) -> None:
        lon, lat = np.array(points, dtype=np.float64).T
        units = lookup.locate(index, lon, lat)
        near = lookup.near_boundary(index, lon, lat, units, distance)
        x, y = transformer.transform(lon, lat)
        metres = shapely.distance(projected[None, :], shapely.points(x, y)[:, None])
        own = np.where(units >= 0, order[np.maximum(units, 0)], -1)
        metres[np.arange(len(lon)), own] = np.inf  # distance to units other than its own
        nearest = np.where(units >= 0, metres.min(axis=1), np.inf)
        clear = np.abs(nearest - distance) > 0.01 * distance  # leave the 1 % tolerance alone
        assert_array_equal(near[clear], (nearest <= distance)[clear])

    check()


def test_layer_vertices_must_be_lon_lat() -> None:
    swapped = shapely.box(Y0, X0, Y0 + 0.01, X0 + 0.01)
    with pytest.raises(CoordinateOutOfRangeError, match="513401001001"):
        lookup.build_locator(["513401001001"], [swapped])
    with pytest.raises(ValueError, match="margin_m"):
        lookup.build_locator(["513401001001"], [WEST], margin_m=0.0)


def test_an_empty_layer_locates_nothing() -> None:
    index = lookup.build_locator([], [])
    assert lookup.locate(index, [X0], [Y0]).tolist() == [-1]
    assert lookup.near_boundary(index, [X0], [Y0], [-1]).tolist() == [False]
    assert [len(column) for column in lookup.index_rows(index)] == [0, 0, 0]
