import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shapely

from gridmap import geometry
from tests.geometries import BOWTIE, BROKEN, GOOD, X0, Y0, D


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_shapes_are_refused_with_a_named_reason(name):
    geom, error, words = BROKEN[name]
    with pytest.raises(error, match=words) as caught:
        geometry.validate_polygons(np.array([geom], dtype=object), ["513401"])
    assert "feature 0 (513401)" in str(caught.value)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_shapes_become_2d_multipolygons(name):
    geoms, repairs = geometry.validate_polygons(np.array([GOOD[name]], dtype=object), ["x"])
    assert repairs == []
    assert geoms[0].geom_type == "MultiPolygon"
    assert not shapely.has_z(geoms[0])
    assert geoms[0].area == pytest.approx(shapely.force_2d(GOOD[name]).area)


def test_bowtie_is_repaired_and_the_area_change_reported():
    geoms, repairs = geometry.validate_polygons(np.array([BOWTIE], dtype=object), ["513401"])
    assert shapely.is_valid(geoms[0])
    assert len(repairs) == 1
    assert "Self-intersection" in repairs[0].reason
    # The drawn rings cancel out (shoelace area 0); the repaired lobes have ~0.5 km² each side.
    assert repairs[0].area_before_m2 == pytest.approx(0, abs=1)
    assert repairs[0].area_change_m2 > 1e5


def test_swapped_message_proposes_the_fix():
    geom, _, _ = BROKEN["swapped_lat_lon"]
    with pytest.raises(ValueError, match=f"only as lon={X0:.6f}, lat={Y0 + 0.01:.6f}"):
        geometry.check_polygons(np.array([geom], dtype=object), [""])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(102.0, 102.1), st.floats(27.8, 27.9)), min_size=4, max_size=12))
def test_any_ring_validates_to_a_valid_multipolygon_or_a_clear_error(points):
    ring = shapely.Polygon(points)
    try:
        geoms, _ = geometry.validate_polygons(np.array([ring], dtype=object), ["p"])
    except ValueError as error:
        assert "feature 0" in str(error)
        return
    assert shapely.is_valid(geoms[0])
    assert geoms[0].geom_type == "MultiPolygon"


def test_covering_index_counts_edges_and_vertices_and_the_lowest_index_wins():
    """The one point-in-polygon rule: points on a shared edge or vertex go to the lowest index."""
    rng = np.random.default_rng(4)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(X0, X0 + D, 12), rng.uniform(Y0, Y0 + D, 12)])
    )
    box = shapely.box(X0, Y0, X0 + D, Y0 + D)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box
    )
    vertices = shapely.get_coordinates(cells)
    points = np.vstack(
        [vertices, (vertices[:-1] + vertices[1:]) / 2, vertices + 1e-9, [(X0 - D, Y0)]]
    )
    found = geometry.covering_index(points[:, 0], points[:, 1], cells)
    covers = shapely.covers(cells[None, :], shapely.points(points)[:, None])
    expected = np.where(covers.any(axis=1), covers.argmax(axis=1), -1)
    assert (found == expected).all()
    assert found[-1] == -1
