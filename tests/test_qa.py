import numpy as np
import pytest

import geopandas as gpd
import pyproj
import shapely

from gridmap import db, hierarchy, qa
from gridmap.errors import UnknownCodeError

GEOD = pyproj.Geod(ellps="GRS80")


def geodesic_area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def import_frame(session, rows, geoms, level):
    units = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
    units, _, _ = hierarchy.prepare_units(units, level=level)
    return hierarchy.import_units(session, units, level=level, source="test", crs_name="wgs84")


def test_bundled_liangshan_is_topologically_clean(liangshan):
    """Amap's county polygons share their vertices exactly, and GCJ-02 → WGS84 keeps that."""
    report = qa.check_county(liangshan, "513401")
    assert report.units["county"] == 1
    assert report.counts["overlap"] == 0
    assert report.counts["gap"] == 0


def test_independently_simplified_counties_show_real_slivers(liangshan):
    """Counties simplified one by one (as in hand-made files) no longer meet: QA finds both."""
    counties = db.units.read(liangshan, level="county")
    simplified = shapely.simplify(np.asarray(counties.geometry.values, dtype=object), 0.003)
    rows = counties[["code", "name"]].to_dict("records")
    report = import_frame(liangshan, rows, list(simplified), "county")
    assert report.replaced == 17
    found = qa.check_county(liangshan, "513401")
    assert found.counts["overlap"] > 0 and found.counts["gap"] > 0
    for finding in found.findings:
        assert finding.area_m2 >= qa.DEFAULT_MIN_AREA_M2
        assert "513401" in finding.codes
        # Every sliver lies on Xichang's boundary.
        distance = shapely.distance(
            shapely.Point(finding.lon, finding.lat),
            shapely.boundary(counties.set_index("code").geometry["513401"]),
        )
        assert distance < 0.03  # within ~3 km: slivers sit on the line or at a triple point


def test_gaps_and_overlaps_between_children_have_measured_areas(liangshan):
    parent = hierarchy.get_unit(liangshan, "513401").geometry
    box = shapely.box(102.10, 27.60, 102.30, 27.75)
    assert parent.contains(box)
    # Three townships tile the county but for a gap strip 102.20–102.21 and an overlap strip
    # 102.25–102.26.
    west = shapely.intersection(parent, shapely.box(0, 0, 102.20, 90))
    east = shapely.difference(parent, shapely.box(0, 0, 102.25, 90))
    middle = shapely.intersection(parent, shapely.box(102.21, 0, 102.26, 90))
    rows = [
        {"code": "513401001", "name": "a"},
        {"code": "513401101", "name": "b"},
        {"code": "513401201", "name": "c"},
    ]
    import_frame(liangshan, rows, [west, east, middle], "township")
    report = qa.check_county(liangshan, "513401")
    overlaps = [f for f in report.findings if f.check == "overlap" and f.level == "township"]
    gaps = [f for f in report.findings if f.check == "gap" and f.level == "township"]
    assert len(overlaps) == 1 and set(overlaps[0].codes) == {"513401101", "513401201"}
    expected_overlap = geodesic_area(shapely.intersection(east, middle))
    assert overlaps[0].area_m2 == pytest.approx(expected_overlap, rel=0.005)
    assert 102.25 <= overlaps[0].lon <= 102.26
    # The strip crosses a non-convex county, so it may come out in several pieces.
    assert gaps and all(102.20 <= g.lon <= 102.21 for g in gaps)
    expected_gap = geodesic_area(shapely.intersection(parent, shapely.box(102.20, 0, 102.21, 90)))
    assert sum(g.area_m2 for g in gaps) == pytest.approx(expected_gap, rel=0.005)


def test_grid_across_a_village_line_is_reported(liangshan):
    import_frame(
        liangshan,
        [{"code": "513401001", "name": "t"}],
        [shapely.box(102.10, 27.60, 102.30, 27.75)],
        "township",
    )
    villages = [
        shapely.box(102.10, 27.60, 102.20, 27.75),
        shapely.box(102.20, 27.60, 102.30, 27.75),
    ]
    import_frame(
        liangshan,
        [{"code": "513401001201", "name": "v1"}, {"code": "513401001202", "name": "v2"}],
        villages,
        "village",
    )
    import_frame(
        liangshan,
        [{"code": "513401001201001", "name": "g"}],
        [shapely.box(102.10, 27.60, 102.21, 27.75)],
        "grid",
    )
    report = qa.check_county(liangshan, "513401")
    crossing = [f for f in report.findings if f.check == "crosses_village"]
    assert len(crossing) == 1
    assert crossing[0].codes == ["513401001201001", "513401001201"]
    assert crossing[0].area_m2 == pytest.approx(
        geodesic_area(shapely.box(102.20, 27.60, 102.21, 27.75)), rel=0.005
    )
    # The grid covers v1 entirely, so v1 has no gap.
    assert not [f for f in report.findings if f.check == "gap" and f.level == "grid"]


def test_unknown_county_is_a_clear_error(liangshan):
    with pytest.raises(UnknownCodeError, match="513499"):
        qa.check_county(liangshan, "513499")


def test_report_serializes_with_chinese_check_names(liangshan):
    data = qa.check_county(liangshan, "513401").to_dict()
    assert set(data["counts"]) == set(qa.CHECK_NAMES_ZH)
    assert data["county_code"] == "513401"
