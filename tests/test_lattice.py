"""Tests for the face lattice (gridmap/lookup/_lattice.py): H3 cells and the point → unit kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import h3
import shapely
from h3.api import basic_int as h3_int

from gridmap import lookup
from gridmap.errors import InvalidGeometryError
from gridmap.lookup import _lattice as lattice
from tests.strategies import mainland_arrays
from tests.test_lookup import LAYERS, RESOLUTIONS, locator, special_points

EXAMPLES = settings(max_examples=200, deadline=None)


def packed(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The packing lattice_keys uses."""
    return ((i + 0x40000000) << 32) | (j + 0x40000000)


def nearest_face(lon: float, lat: float) -> int:
    p = lattice.unit_vectors(np.radians([lat]), np.radians([lon]))[0]
    return int(np.argmax(lattice.face_centres() @ p))


def test_face_centres_are_h3s() -> None:
    # h3 reports a face-centred base cell on exactly its own face, centred on the face centre.
    centres = lattice.face_centres()
    assert_allclose(np.linalg.norm(centres, axis=1), 1.0, rtol=1e-15)
    for face, centre in enumerate(centres):
        lat, lng = np.degrees([np.arcsin(centre[2]), np.arctan2(centre[1], centre[0])])
        cell = h3_int.latlng_to_cell(lat, lng, 0)
        assert h3_int.get_icosahedron_faces(cell) == [face]


@EXAMPLES
@given(
    lon=st.floats(-180, 180, allow_nan=False),
    lat=st.floats(-85, 85, allow_nan=False),
    resolution=st.integers(lattice.MIN_RESOLUTION, 15),
)
def test_lattice_keys_are_h3_cells(lon: float, lat: float, resolution: int) -> None:
    """Anywhere on Earth: the kernel's cell is h3's cell, on the face the point lies on."""
    cell = h3_int.latlng_to_cell(lat, lon, resolution)
    face = nearest_face(lon, lat)
    assume(h3_int.get_icosahedron_faces(cell) == [face])  # cells across a face edge: not ours
    frame = lattice.frame(face, resolution)
    i, j = lattice.cell_ij(frame, np.array([cell], dtype=np.uint64))
    assert lattice.lattice_keys(frame, np.array([lon]), np.array([lat]))[0] == packed(i, j)[0]


@settings(max_examples=50, deadline=None)
@given(points=mainland_arrays(max_size=200), resolution=st.sampled_from([7, 10, 11]))
def test_lattice_keys_match_h3_across_china(points: tuple, resolution: int) -> None:
    lon, lat = points
    cells = np.array(
        [h3_int.latlng_to_cell(y, x, resolution) for x, y in zip(lon, lat, strict=True)]
    )
    faces = np.array([nearest_face(x, y) for x, y in zip(lon, lat, strict=True)])
    for face in np.unique(faces):
        mine = faces == face
        frame = lattice.frame(int(face), resolution)
        i, j = lattice.cell_ij(frame, cells[mine].astype(np.uint64))
        assert_array_equal(lattice.lattice_keys(frame, lon[mine], lat[mine]), packed(i, j))


def test_projection_round_trips() -> None:
    frame = lattice.frame(5, 10)
    lon, lat = np.array([102.2, 101.5, 103.9]), np.array([27.8, 26.1, 29.0])
    back = lattice.unproject(frame, *lattice.project(frame, lon, lat))
    assert_allclose(back, [lon, lat], atol=1e-12)


def test_points_on_other_faces_are_off_the_table() -> None:
    frame = lattice.frame(5, 10)
    keys = lattice.lattice_keys(frame, np.array([-45.0, 102.2]), np.array([-20.0, 27.8]))
    assert keys[0] == -1 and keys[1] >= 0


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_test_layers_run_on_the_lattice(name: str, resolution: int) -> None:
    """The exactness tests of test_lookup exercise this kernel, not only the H3-index path."""
    assert locator(name, resolution).lattice is not None


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_kernel_is_right_or_unsure(name: str, resolution: int) -> None:
    """On vertices, edges and a hair off them the kernel answers right or hands over to GEOS."""
    codes, geoms = LAYERS[name]
    lon, lat = special_points(name).T
    answer = lattice.locate(locator(name, resolution).lattice, lon, lat)
    reference = lookup.reference_locate(codes, geoms, lon, lat)
    sure = answer != lattice.UNSURE
    assert_array_equal(answer[sure], reference[sure])
    assert (~sure).any()  # points on shared edges cannot be certified by a filter
    assert sure.mean() > 0.2


def test_h3_unions_make_dominated_cells() -> None:
    """Units built from whole cells leave their edge cells to one unit but for a thin rim."""
    tables = locator("h3", 10).lattice
    assert tables.dominated.sum() > 50
    # A point one metre inside a unit's edge, in such a cell, is answered without any record.
    codes, geoms = LAYERS["h3"]
    ring = shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_parts(geoms[0])[0]))
    a, b = ring[3], ring[4]
    mid = (a + b) / 2
    inward = shapely.centroid(geoms[0]).coords[0] - mid
    point = mid + inward / np.hypot(*inward) * 1e-5
    lon, lat = np.array([point[0]]), np.array([point[1]])
    assert_array_equal(
        lattice.locate(tables, lon, lat), lookup.reference_locate(codes, geoms, lon, lat)
    )


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_record_cells_answer_most_squares_at_build(resolution: int) -> None:
    """Squares no edge comes near are answered once, at build time, and rightly so."""
    codes, geoms = LAYERS["voronoi"]
    tables = locator("voronoi", resolution).lattice
    squares = tables.square_answers
    assert (squares >= 0).mean() > 0.3
    # Points spread over record cells: the kernel (squares or records) agrees with shapely.
    rng = np.random.default_rng(resolution)
    record_slots = np.flatnonzero(tables.table <= -2)
    slot = rng.choice(record_slots, 4000)
    i, j = slot // tables.nj + tables.i0, slot % tables.nj + tables.j0
    x = i - 0.5 * j + rng.uniform(-0.5, 0.5, slot.size)
    y = j * np.sqrt(3) / 2 + rng.uniform(-0.58, 0.58, slot.size)
    lon, lat = lattice.unproject(tables.frame, x, y)
    answer = lattice.locate(tables, lon, lat)
    reference = lookup.reference_locate(codes, geoms, lon, lat)
    sure = answer != lattice.UNSURE
    assert sure.mean() > 0.99
    assert_array_equal(answer[sure], reference[sure])


def test_a_layer_across_two_faces_keeps_the_h3_path() -> None:
    """Where a layer reaches a second face the lattice is refused; answers stay exact."""
    centres = lattice.face_centres()
    edge = centres[5] + centres[14]  # faces 5 and 14 share an edge (h3's neighbour table)
    edge /= np.linalg.norm(edge)
    lon0, lat0 = np.degrees(np.arctan2(edge[1], edge[0])), np.degrees(np.arcsin(edge[2]))
    assert h3.get_icosahedron_faces(h3.latlng_to_cell(lat0, lon0, 7)) == [5, 14]
    west = shapely.box(lon0 - 0.02, lat0 - 0.02, lon0, lat0 + 0.02)
    east = shapely.box(lon0, lat0 - 0.02, lon0 + 0.02, lat0 + 0.02)
    codes = ["513401001001", "513401001002"]
    index = lookup.build_locator(codes, [west, east], resolution=10)
    assert index.lattice is None
    rng = np.random.default_rng(3)
    lon = rng.uniform(lon0 - 0.03, lon0 + 0.03, 2000)
    lat = rng.uniform(lat0 - 0.03, lat0 + 0.03, 2000)
    assert_array_equal(
        lookup.locate(index, lon, lat), lookup.reference_locate(codes, [west, east], lon, lat)
    )


def test_coarse_resolutions_keep_the_h3_path() -> None:
    codes, geoms = LAYERS["voronoi"]
    index = lookup.build_locator(codes, geoms, resolution=lattice.MIN_RESOLUTION - 1)
    assert index.lattice is None
    lon, lat = special_points("voronoi").T
    assert_array_equal(
        lookup.locate(index, lon, lat), lookup.reference_locate(codes, geoms, lon, lat)
    )


def test_an_empty_layer_has_no_tables() -> None:
    assert lattice.build_tables(lookup.build_locator([], [], resolution=10)) is None


def test_a_hairline_gap_between_units_stays_outside() -> None:
    """A T-junction: A's edge carries two extra vertices rounded off B's straight edge, leaving
    an ulp-wide gap that GEOS's union closes. Points in it are in no unit (found by review)."""
    p = (-156.690162027079, -6.06350855438621)
    q = (-156.69051664148722, -6.063937479847149)
    a = shapely.Polygon(
        [
            q,
            (-156.6903984366845, -6.063794504693503),
            (-156.69028023188173, -6.0636515295398565),
            p,
            (-156.68771563417545, -6.064745208791917),
            (-156.68771563417545, -6.0659998452572665),
            (-156.69033202131985, -6.0659998452572665),
        ]
    )
    b = shapely.Polygon(
        [
            p,
            q,
            (-156.69138372528172, -6.063859340166931),
            (-156.69138372528172, -6.0623522924250475),
            (-156.6902856585338, -6.0623522924250475),
        ]
    )
    codes, geoms = ["513401001001", "513401001002"], [a, b]
    t = np.random.default_rng(0).uniform(0, 1, 20_000)
    lon = np.append(p[0] + t * (q[0] - p[0]), -156.69019706191835)
    lat = np.append(p[1] + t * (q[1] - p[1]), -6.063550930934573)
    reference = lookup.reference_locate(codes, geoms, lon, lat)
    assert reference[-1] == -1  # the gap point
    for resolution in (12, 13):
        index = lookup.build_locator(codes, geoms, resolution=resolution)
        assert index.lattice is not None
        assert_array_equal(lookup.locate(index, lon, lat), reference)


@pytest.mark.parametrize(
    ("boxes", "resolution"),
    [
        ([(179.0, -17.0, 179.995, -16.0), (178.0, -17.0, 179.0, -16.0)], 7),  # near lon 180
        ([(10.0, 60.0, 11.0, 61.0), (11.0, 60.0, 12.0, 61.0)], 5),  # coarse cells, high up
    ],
)
def test_where_straight_outlines_fail_the_h3_path_stays(boxes: list, resolution: int) -> None:
    """Across the antimeridian or near a pole, straight lon/lat outlines are not the cells'
    edges: the lattice is refused and answers stay exact (found by review)."""
    codes = [f"51340100100{k}" for k in range(len(boxes))]
    geoms = [shapely.box(*b) for b in boxes]
    index = lookup.build_locator(codes, geoms, resolution=resolution)
    assert index.lattice is None
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    rng = np.random.default_rng(5)
    lon = rng.uniform(max(x0 - 0.01, -180.0), min(x1 + 0.01, 180.0), 5000)
    lat = rng.uniform(y0 - 0.01, min(y1 + 0.01, 90.0), 5000)
    assert_array_equal(
        lookup.locate(index, lon, lat), lookup.reference_locate(codes, geoms, lon, lat)
    )


def test_heilongjiang_and_the_county_layer_keep_the_lattice() -> None:
    """The refusals above leave every Chinese county on the lattice, at 53°N too."""
    box = shapely.box(124.0, 52.9, 124.05, 52.95)
    for resolution in (7, 10):
        index = lookup.build_locator(["231100"], [box], resolution=resolution)
        assert index.lattice is not None


def test_layers_near_the_poles_are_refused_with_a_reason() -> None:
    boxes = [shapely.box(-180.0, 89.9, 0.0, 90.0), shapely.box(0.0, 89.9, 180.0, 90.0)]
    with pytest.raises(InvalidGeometryError, match=r"latitude 90\.000°"):
        lookup.build_locator(["513401001001", "513401001002"], boxes, resolution=7)


@pytest.mark.parametrize("resolution", [4, 5])
def test_coarse_cells_far_north_stay_exact(resolution: int) -> None:
    """At 45°N a resolution-5 cell edge bows ≈ 2 m from its straight lon/lat outline, more than
    the default 1 m margin: the margin grows with the bow (found by review). Points between a
    unit's straight edges and the true arcs of the H3 cells they were drawn from."""

    def vec(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lon, lat = np.radians(lon), np.radians(lat)
        return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)

    kids = h3.cell_to_children(h3.latlng_to_cell(45.0, 10.0, 3), 5)
    base = shapely.union_all(
        [shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in kids]
    )
    unit = shapely.buffer(base, 1.33e-5, join_style="mitre")  # ≈ 1.5 m out
    ring = shapely.get_coordinates(base.exterior)
    a, b = ring[:-1], ring[1:]
    m = vec(a[:, 0], a[:, 1]) + vec(b[:, 0], b[:, 1])
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    arc = np.column_stack(
        [np.degrees(np.arctan2(m[:, 1], m[:, 0])), np.degrees(np.arcsin(m[:, 2]))]
    )
    t = np.linspace(0.05, 0.95, 19)[None, :, None]
    points = (((a + b) / 2)[:, None, :] + t * (arc - (a + b) / 2)[:, None, :]).reshape(-1, 2)
    index = lookup.build_locator(["513401001001"], [unit], resolution=resolution)
    lon, lat = points.T
    reference = lookup.reference_locate(["513401001001"], [unit], lon, lat)
    assert (reference == 0).any() and (reference == -1).any()
    assert_array_equal(lookup.locate(index, lon, lat), reference)
