"""The county-sharded index on the demo county: persisted, reloaded, and exact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shapely

from gridmap import db, lookup
from gridmap.errors import CoordinateOutOfRangeError, OutsideCoverageError
from tests.conftest import DEMO_COUNTY


@pytest.fixture(scope="module")
def index(demo_session) -> lookup.Index:
    return lookup.load_index(demo_session)


@pytest.fixture(scope="module")
def grid_layer(demo_session):
    layer = db.units.read(demo_session, county=DEMO_COUNTY, level="grid").sort_values("code")
    return layer["code"].to_numpy(), np.asarray(layer.geometry.values, dtype=object)


@pytest.fixture(scope="module")
def grid_vertices(grid_layer) -> np.ndarray:
    return np.unique(shapely.get_coordinates(grid_layer[1]), axis=0)


def test_index_was_persisted_and_reloads_without_building(index, demo_session):
    assert DEMO_COUNTY in index.leaves
    assert len(index.leaves[DEMO_COUNTY].codes) == db.units.count(
        demo_session, county=DEMO_COUNTY, level="grid"
    )
    assert DEMO_COUNTY in db.cell_index.counties(demo_session, resolution=index.resolution)
    assert len(index.counties.codes) == 17


def reference(grid_layer, lon, lat):
    codes, geoms = grid_layer
    found = lookup.reference_locate(codes, geoms, lon, lat)
    return np.where(found >= 0, codes[np.maximum(found, 0)], None)


def test_batch_matches_shapely_on_uniform_points(index, grid_layer, demo_session):
    county = db.units.read(demo_session, codes=[DEMO_COUNTY]).geometry.iloc[0]
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = county.bounds
    lon, lat = rng.uniform(minx, maxx, 200_000), rng.uniform(miny, maxy, 200_000)
    found = lookup.locate_points(index, lon, lat)
    inside = shapely.intersects_xy(county, lon, lat)
    expected = reference(grid_layer, lon, lat)
    assert (found.grid[inside] == expected[inside]).all()
    assert all(c != DEMO_COUNTY for c in found.county[~inside])


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(0, 10**9), min_size=1, max_size=200),
    offset=st.sampled_from([0.0, 1e-9, -1e-9]),
)
def test_vertices_and_edges_follow_the_lower_code_rule(
    index, grid_layer, grid_vertices, picks, offset
):
    chosen = grid_vertices[np.array(picks) % len(grid_vertices)]
    lon, lat = chosen[:, 0] + offset, chosen[:, 1] - offset
    found = lookup.locate_points(index, lon, lat)
    expected = reference(grid_layer, lon, lat)
    covered = expected != None  # noqa: E711 - elementwise on an object array
    assert (found.grid[covered] == expected[covered]).all()


def test_single_point_path_equals_batch(index, demo_session):
    county = db.units.read(demo_session, codes=[DEMO_COUNTY]).geometry.iloc[0]
    rng = np.random.default_rng(12)
    minx, miny, maxx, maxy = county.bounds
    lon, lat = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
    batch = lookup.locate_points(index, lon, lat)
    for k in range(len(lon)):
        if batch.county[k] is None:
            with pytest.raises(OutsideCoverageError):
                lookup.locate_one(index, lon[k], lat[k])
            continue
        one = lookup.locate_one(index, lon[k], lat[k])
        assert (one.county, one.township, one.village, one.grid) == (
            batch.county[k],
            batch.township[k],
            batch.village[k],
            batch.grid[k],
        )
        assert one.near_boundary == batch.near_boundary[k]


def test_answers_carry_every_level_and_names(index):
    one = lookup.locate_one(index, 102.264, 27.894)
    assert one.grid.startswith(one.village) and one.village.startswith(one.township)
    assert one.township.startswith(one.county) and one.county == DEMO_COUNTY
    assert one.names["county"] == "西昌市" and one.names["grid"].endswith("网格")


def test_counties_without_grids_answer_at_county_level(index):
    one = lookup.locate_one(index, 102.51, 28.64)  # 越西县: boundary only
    assert one.county == "513434" and one.township is None and one.grid is None


def test_gcj02_input_is_converted_before_lookup(index):
    from gridmap import crs

    glon, glat = (float(v) for v in crs.wgs84_to_gcj02(102.264, 27.894))
    assert (
        lookup.locate_one(index, glon, glat, crs_name="gcj02").grid
        == lookup.locate_one(index, 102.264, 27.894).grid
    )


@pytest.mark.parametrize(
    ("lon", "lat"), [(float("nan"), 27.0), (102.0, 930.0), (27.89, 102.26), (200.0, 27.0)]
)
def test_bad_points_raise_before_h3(index, lon, lat):
    with pytest.raises(CoordinateOutOfRangeError):
        lookup.locate_one(index, lon, lat)
    with pytest.raises(CoordinateOutOfRangeError):
        lookup.locate_points(index, [102.2, lon], [27.8, lat])


def test_outside_every_boundary(index):
    with pytest.raises(OutsideCoverageError, match="outside every loaded county"):
        lookup.locate_one(index, 116.39, 39.91)
    found = lookup.locate_points(index, [116.39, 102.264], [39.91, 27.894])
    assert found.outside.tolist() == [True, False]


def test_near_boundary_flags_points_close_to_another_grid(index, grid_layer):
    _, geoms = grid_layer
    # A point on an edge a grid shares with a neighbour, and the grid's most inner point.
    shared = shapely.intersection(geoms[0].boundary, shapely.union_all(geoms[1:]).boundary)
    edge_point = shapely.line_interpolate_point(shapely.get_parts(shared)[0], 0.5, normalized=True)
    one = lookup.locate_one(index, edge_point.x, edge_point.y)
    assert one.near_boundary is True
    far = shapely.maximum_inscribed_circle(geoms[0])
    centre = shapely.get_point(far, 0)
    if shapely.length(far) * 111_000 > 60:  # the grid is wide enough to have a point 30 m away
        assert lookup.locate_one(index, centre.x, centre.y).near_boundary is False


def test_rebuild_after_a_new_generation(session):
    """Re-importing changes the index rows of the county in the same transaction."""
    from tests.conftest import import_liangshan

    import_liangshan(session)
    summary = lookup.rebuild_index(session, ["513401"])
    assert summary["counties"] == 1
    index = lookup.load_index(session)
    assert "513401" not in index.leaves  # no grids in this fresh database
    assert lookup.locate_one(index, 102.264, 27.894).county == "513401"


def test_warm_builds_the_near_boundary_tables_and_changes_no_answer(demo_session):
    """After warm() no lookup builds a reach table on the request path; answers are unchanged."""
    cold = lookup.load_index(demo_session)
    warmed = lookup.load_index(demo_session)
    lookup.warm(warmed, 30.0)
    for locator in (warmed.counties, *warmed.leaves.values()):
        assert locator.reach_tables
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(102.0, 102.4, 200), rng.uniform(27.7, 28.1, 200)
    for x, y in zip(lon, lat, strict=True):
        try:
            expected = lookup.locate_one(cold, float(x), float(y))
        except OutsideCoverageError:
            continue
        assert lookup.locate_one(warmed, float(x), float(y)) == expected
