import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shapely

from gridmap import crs, grids
from tests.geometries import X0, Y0

METRE = 1 / 111_000  # about one metre in degrees, for building test shapes


def households_in(area: shapely.Geometry, n: int, rng: np.random.Generator, clusters: int = 4):
    """``n`` points clustered around a few centres, all inside ``area``.

    Bounded: a thin sliver of a village may catch few clustered draws, so after a few rounds the
    rest is drawn uniformly in the box, and any shortfall repeats a point known to be inside.
    """
    minx, miny, maxx, maxy = area.bounds
    centres = np.column_stack(
        (rng.uniform(minx, maxx, clusters), rng.uniform(miny, maxy, clusters))
    )
    points, found = [], 0
    for round_ in range(40):
        if found >= n:
            break
        if round_ < 20:
            xy = centres[rng.integers(0, clusters, 4 * n)] + rng.normal(
                0, (maxx - minx) / 10, (4 * n, 2)
            )
        else:
            xy = np.column_stack((rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)))
        inside = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]
        points.append(inside)
        found += len(inside)
    inner = shapely.get_coordinates(shapely.point_on_surface(area))
    xy = np.concatenate([*points, np.repeat(inner, max(0, n - found), axis=0)])[:n]
    return xy[:, 0], xy[:, 1]


def assert_tiles(village: shapely.Geometry, result: grids.VillageGrids) -> None:
    report = grids.check_grids(village, result.grids, result.rules)
    assert report["gap_or_spill_m2"] < 1.0
    assert report["overlap_m2"] < 1.0
    assert report["coverage_valid"]
    assert report["multipart_grids"] == 0


@pytest.mark.parametrize(
    ("households", "rules", "expected"),
    [
        (50, grids.RURAL_RULES, 1),
        (100, grids.RURAL_RULES, 1),
        (301, grids.RURAL_RULES, 2),
        (1000, grids.RURAL_RULES, 5),
        (1000, grids.URBAN_RULES, 2),
        (2400, grids.URBAN_RULES, 6),
    ],
)
def test_grid_count_stays_within_both_bounds(households, rules, expected):
    k = grids.grid_count(households, rules)
    assert k == expected
    if households >= rules.min_households:
        assert rules.min_households <= households / k <= rules.max_households


def test_rules_follow_urban_rural_code_then_kind():
    assert grids.rules_for("111", "village") == grids.URBAN_RULES
    assert grids.rules_for("220", "community") == grids.RURAL_RULES
    assert grids.rules_for(None, "community") == grids.URBAN_RULES
    assert grids.rules_for(None, "village") == grids.RURAL_RULES
    with pytest.raises(ValueError, match="min"):
        grids.GridRules(300, 100)


def test_a_village_is_split_into_balanced_contiguous_grids():
    rng = np.random.default_rng(1)
    village = shapely.box(X0, Y0, X0 + 0.03, Y0 + 0.02)
    lon, lat = households_in(village, 2000, rng)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.RURAL_RULES
    )
    assert_tiles(village, result)
    counts = result.grids["households"].to_numpy()
    assert counts.sum() == 2000
    assert counts.min() >= 100 and counts.max() <= 300
    assert result.spread <= 1.5
    assert result.grids["code"].tolist() == [
        f"513401100201{i:03d}" for i in range(1, len(counts) + 1)
    ]
    assert grids.polsby_popper(np.asarray(result.grids.geometry.values)).mean() > 0.3


def test_numbering_runs_west_to_east_then_north_to_south():
    rng = np.random.default_rng(2)
    village = shapely.box(X0, Y0, X0 + 0.04, Y0 + 0.04)
    lon, lat = rng.uniform(X0, X0 + 0.04, 1600), rng.uniform(Y0, Y0 + 0.04, 1600)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.GridRules(350, 450)
    )
    centres = shapely.point_on_surface(np.asarray(result.grids.geometry.values))
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    assert len(result.grids) == 4
    assert y[0] > y[-1]  # the first grid is in the north, the last in the south
    assert x[0] < x[1]  # and the first row reads west to east


def test_village_below_the_minimum_is_one_grid_equal_to_it():
    village = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    rng = np.random.default_rng(3)
    lon, lat = households_in(village, 60, rng)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.RURAL_RULES
    )
    assert len(result.grids) == 1
    assert shapely.equals(result.grids.geometry.iloc[0], village)
    assert result.grids["households"].iloc[0] == 60


def test_tiny_village_smaller_than_a_cell():
    village = shapely.box(
        X0, Y0, X0 + 30 * METRE, Y0 + 30 * METRE
    )  # ≈ 900 m², a res-10 cell is 15,000
    rng = np.random.default_rng(4)
    lon, lat = households_in(village, 250, rng, clusters=1)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.GridRules(50, 100)
    )
    assert_tiles(village, result)
    assert result.grids["households"].sum() == 250


def test_village_in_two_parts():
    village = shapely.MultiPolygon(
        [
            shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01),
            shapely.box(X0 + 0.03, Y0, X0 + 0.04, Y0 + 0.01),
        ]
    )
    rng = np.random.default_rng(5)
    lon, lat = households_in(village, 900, rng)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.RURAL_RULES
    )
    report = grids.check_grids(village, result.grids, result.rules)
    assert report["gap_or_spill_m2"] < 1.0 and report["overlap_m2"] < 1.0
    assert result.grids["households"].sum() == 900
    assert result.grids["households"].max() <= 300


def test_village_with_a_hole():
    outer = shapely.box(X0, Y0, X0 + 0.03, Y0 + 0.03)
    hole = shapely.box(X0 + 0.01, Y0 + 0.01, X0 + 0.02, Y0 + 0.02)
    village = shapely.difference(outer, hole)
    rng = np.random.default_rng(6)
    lon, lat = households_in(village, 1200, rng, clusters=6)
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.RURAL_RULES
    )
    assert_tiles(village, result)
    assert not shapely.intersects(
        shapely.union_all(result.grids.geometry.values), hole.buffer(-1e-6)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sides=st.integers(5, 12),
    households=st.integers(0, 2500),
    clusters=st.integers(1, 8),
)
def test_any_village_is_tiled_exactly(seed, sides, households, clusters):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, sides))
    radius = rng.uniform(0.004, 0.02, sides)
    ring = np.column_stack((X0 + radius * np.cos(angles), Y0 + radius * np.sin(angles)))
    village = shapely.make_valid(shapely.Polygon(ring))
    if village.geom_type != "Polygon" or village.area < 1e-7:
        return
    lon, lat = (
        households_in(village, households, rng, clusters)
        if households
        else (np.zeros(0), np.zeros(0))
    )
    result = grids.generate_grids(
        village, lon, lat, village_code="513401100201", rules=grids.RURAL_RULES
    )
    assert_tiles(village, result)
    assert result.grids["households"].sum() == households
    area = crs.areas_m2(np.asarray(result.grids.geometry.values, dtype=object)).sum()
    assert area == pytest.approx(crs.areas_m2(np.array([village], dtype=object))[0], rel=1e-6)
