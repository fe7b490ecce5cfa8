from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

import geopandas as gpd
import pyogrio
import shapely

from gridmap import db, hierarchy
from gridmap.db.models import Generation, Lineage, Unit
from gridmap.errors import (
    CoordinateOutOfRangeError,
    HierarchyError,
    ImportFileError,
    InvalidCodeError,
    InvalidGeometryError,
    UnknownCodeError,
)
from tests.conftest import BOUNDARIES
from tests.geometries import BOWTIE, square


def write(
    path: Path, rows: list[dict], geoms: list, *, crs: str | None = "EPSG:4326", **kw
) -> Path:
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)
    pyogrio.write_dataframe(frame, path, **kw)
    return path


def counts(session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Unit)),
        session.scalar(select(func.count()).select_from(Generation)),
    )


def townships_of(session, county: str = "513401") -> tuple[list[dict], list]:
    """Two townships splitting a box inside the county along a meridian."""
    geom = hierarchy.get_unit(session, county).geometry
    inner = shapely.intersection(geom, shapely.box(102.10, 27.60, 102.30, 27.75))
    west = shapely.intersection(inner, shapely.box(0, 0, 102.20, 90))
    east = shapely.intersection(inner, shapely.box(102.20, 0, 180, 90))
    rows = [{"code": f"{county}001", "name": "西街道"}, {"code": f"{county}101", "name": "东镇"}]
    return rows, [west, east]


def test_bundled_liangshan_counties_import_converted_from_gcj02(liangshan):
    units = db.units.read(liangshan, level="county")
    assert len(units) == 17
    assert set(units["code"]) >= {"513401", "513422", "513437"}
    assert "西昌市" in set(units["name"])
    raw = gpd.read_file(BOUNDARIES / "513401.geojson").geometry.iloc[0]
    stored = units.set_index("code").geometry["513401"]
    # GCJ-02 → WGS84 moves Xichang by a few hundred metres to the west-south-west.
    dx = stored.centroid.x - raw.centroid.x
    assert -0.006 < dx < -0.001
    assert shapely.is_valid(stored)


def test_reimporting_the_same_file_writes_no_generation(liangshan):
    before = counts(liangshan)
    report = hierarchy.import_file(
        liangshan, BOUNDARIES / "513401.geojson", level="county", crs_name="gcj02"
    )
    assert report.unchanged == 1
    assert report.generation is None
    assert counts(liangshan) == before


def test_redrawing_keeps_history_and_lineage(liangshan, tmp_path):
    old = hierarchy.get_unit(liangshan, "513401")
    old_generation = db.generations.current(liangshan)
    moved = shapely.affinity.translate(old.geometry, 0.001, 0)
    path = write(tmp_path / "x.geojson", [{"code": "513401", "name": "西昌市"}], [moved])
    report = hierarchy.import_file(liangshan, path, level="county")
    assert report.replaced == 1 and report.generation == old_generation + 1
    current = hierarchy.get_unit(liangshan, "513401")
    # Stored coordinates are snapped to 1e-9°, which may also move a ring's start vertex.
    assert shapely.equals_exact(shapely.normalize(current.geometry), shapely.normalize(moved), 2e-9)
    past = hierarchy.get_unit(liangshan, "513401", generation=old_generation)
    assert shapely.equals_exact(past.geometry, old.geometry, 1e-12)
    links = liangshan.execute(
        select(Lineage.predecessor_id, Lineage.successor_id, Lineage.op)
    ).all()
    assert (int(old["id"]), int(current["id"]), "redraw") in [tuple(x) for x in links]


def test_failed_import_leaves_nothing_behind(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    rows.append({"code": "513401102", "name": "坏镇"})
    geoms.append(shapely.Polygon([(102.2, 27.8), (float("nan"), 27.8), (102.3, 27.9)]))
    path = write(tmp_path / "t.gpkg", rows, geoms)
    before = counts(liangshan)
    with pytest.raises(CoordinateOutOfRangeError, match="feature 2 \\(513401102\\)"):
        hierarchy.import_file(liangshan, path, level="township")
    assert counts(liangshan) == before


def test_townships_get_parents_and_kinds_from_codes(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    path = write(tmp_path / "t.gpkg", rows, geoms)
    report = hierarchy.import_file(liangshan, path, level="township")
    assert report.inserted == 2
    units = db.units.read(liangshan, level="township").set_index("code")
    assert units.loc["513401001", "kind"] == "subdistrict"
    assert units.loc["513401101", "kind"] == "town"
    assert set(units["parent_code"]) == {"513401"}
    assert set(units["county_code"]) == {"513401"}


def test_missing_parent_names_the_level_to_import_first(liangshan, tmp_path):
    path = write(tmp_path / "v.geojson", [{"code": "513401001201", "name": "村"}], [square()])
    with pytest.raises(HierarchyError, match="import the township level first"):
        hierarchy.import_file(liangshan, path, level="village")


def test_geometry_errors_are_reported_before_a_missing_parent(liangshan, tmp_path):
    """The parent is missing too, but the file's own fault (a hole 90 km off) is named first."""
    shell = [(102.20, 27.80), (102.22, 27.80), (102.22, 27.82), (102.20, 27.82)]
    hole = [(103.10, 27.80), (103.12, 27.80), (103.12, 27.82), (103.10, 27.82)]
    rows = [{"code": "513401001201", "name": "村"}, {"code": "513401001202", "name": "坏"}]
    path = write(tmp_path / "v.geojson", rows, [square(), shapely.Polygon(shell, [hole])])
    with pytest.raises(InvalidGeometryError, match=r"feature 1 \(513401001202\).*outside"):
        hierarchy.import_file(liangshan, path, level="village")


def test_code_in_the_wrong_block_is_refused(liangshan, tmp_path):
    path = write(tmp_path / "t.geojson", [{"code": "513401450", "name": "x"}], [square()])
    with pytest.raises(InvalidCodeError, match=r"feature 0.*block"):
        hierarchy.import_file(liangshan, path, level="township")


def test_duplicate_codes_in_a_file_are_refused(liangshan, tmp_path):
    rows = [{"code": "513401001", "name": "a"}, {"code": "513401001", "name": "b"}]
    path = write(tmp_path / "t.geojson", rows, [square(), square(102.3)])
    with pytest.raises(InvalidCodeError, match="more than once"):
        hierarchy.import_file(liangshan, path, level="township")


def test_parent_field_contradicting_the_code_is_refused(liangshan, tmp_path):
    rows = [{"code": "513401001", "name": "a", "parent_code": "513422"}]
    path = write(tmp_path / "t.geojson", rows, [square()])
    with pytest.raises(HierarchyError, match="parent field says 513422"):
        hierarchy.import_file(liangshan, path, level="township")


def test_self_intersection_is_repaired_and_reported(liangshan, tmp_path):
    path = write(tmp_path / "t.geojson", [{"code": "513401001", "name": "a"}], [BOWTIE])
    report = hierarchy.import_file(liangshan, path, level="township")
    assert report.inserted == 1
    assert len(report.repairs) == 1 and report.repairs[0]["area_change_m2"] > 0


def test_gbk_shapefile_without_cpg_keeps_chinese_names(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    path = write(tmp_path / "t.shp", rows, geoms, encoding="GBK")
    (tmp_path / "t.cpg").unlink(missing_ok=True)
    assert b"\xce\xf7" in (tmp_path / "t.dbf").read_bytes()  # 西 in GBK
    hierarchy.import_file(liangshan, path, level="township")
    names = set(db.units.read(liangshan, level="township")["name"])
    assert names == {"西街道", "东镇"}


def test_explicit_fields_and_projected_files(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    frame = gpd.GeoDataFrame(
        [{"XZQDM": r["code"], "XZQMC": r["name"]} for r in rows], geometry=geoms, crs="EPSG:4326"
    ).to_crs("EPSG:4543")  # CGCS2000 3° Gauss–Krüger CM 102E, metres
    path = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(frame, path)
    report = hierarchy.import_file(
        liangshan, path, level="township", code_field="XZQDM", name_field="XZQMC"
    )
    assert report.inserted == 2
    assert any("reprojected" in n for n in report.notes)
    stored = db.units.read(liangshan, level="township").set_index("code").geometry
    assert shapely.hausdorff_distance(stored["513401001"], geoms[0]) < 1e-6


def test_unknown_field_lists_the_fields_present(liangshan, tmp_path):
    path = write(tmp_path / "t.geojson", [{"code": "513401001", "name": "a"}], [square()])
    with pytest.raises(ImportFileError, match="its fields are: code, name"):
        hierarchy.import_file(liangshan, path, level="township", code_field="DM")


def test_missing_file_and_garbage_file(tmp_path, session):
    with pytest.raises(ImportFileError, match="no such file"):
        hierarchy.import_file(session, tmp_path / "nope.geojson", level="county")
    garbage = tmp_path / "g.geojson"
    garbage.write_text("not json at all")
    with pytest.raises(ImportFileError, match="cannot read"):
        hierarchy.import_file(session, garbage, level="county")


def test_uncoded_grids_get_village_codes_in_reading_order(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    hierarchy.import_file(liangshan, write(tmp_path / "t.gpkg", rows, geoms), level="township")
    village = shapely.box(102.11, 27.61, 102.15, 27.65)
    hierarchy.import_file(
        liangshan,
        write(tmp_path / "v.gpkg", [{"code": "513401001201", "name": "新村"}], [village]),
        level="village",
    )
    cells = [
        shapely.box(102.11 + i * 0.02, 27.63 - j * 0.02, 102.13 + i * 0.02, 27.65 - j * 0.02)
        for j in range(2)
        for i in range(2)
    ]
    order = [3, 0, 2, 1]  # shuffled on purpose
    path = write(tmp_path / "g.gpkg", [{"label": str(k)} for k in order], [cells[k] for k in order])
    report = hierarchy.import_file(liangshan, path, level="grid")
    assert report.inserted == 4
    grids = db.units.read(liangshan, level="grid").set_index("code")
    # 001 is the north-west cell, 002 north-east, 003 south-west, 004 south-east.
    for sequence, cell in enumerate(cells, start=1):
        stored = grids.geometry[f"513401001201{sequence:03d}"]
        assert shapely.symmetric_difference(stored, cell).area < 1e-14


def test_get_unit_suggests_nearby_codes(liangshan):
    with pytest.raises(UnknownCodeError, match="nearby codes: 513401"):
        hierarchy.get_unit(liangshan, "513402")


def test_list_units_pages_and_counts(liangshan):
    rows, total = hierarchy.list_units(liangshan, limit=5, offset=15, level="county")
    assert total == 17 and len(rows) == 2
    assert rows[0]["geojson"].startswith('{"type":"MultiPolygon"')


def test_database_refuses_invalid_geometry_even_past_the_library(liangshan):
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    generation = db.generations.open_generation(liangshan, kind="import", description="t")
    with pytest.raises(IntegrityError, match="geom_valid"), liangshan.begin_nested():
        liangshan.execute(
            insert(Unit).values(
                code="513499",
                name="x",
                level="county",
                kind="county",
                county_code="513499",
                geom=func.ST_Multi(func.ST_GeomFromText(BOWTIE.wkt, 4326)),
                generation_low=generation.id,
            )
        )
    assert np.isfinite(generation.id)


def test_each_unit_names_its_own_source_file(session):
    files = sorted(BOUNDARIES.glob("5134*.geojson"))[:3]
    hierarchy.import_files(session, files, level="county", crs_name="gcj02")
    rows = session.execute(select(Unit.code, Unit.source).where(Unit.level == "county"))
    found = {row.code: row.source for row in rows}
    assert found == {f.stem: f.name for f in files}


def test_a_hole_outside_its_shell_is_refused_not_moved(liangshan, tmp_path):
    """make_valid would turn the hole into a second polygon ~100 km away: refused, nothing
    written, with the figures."""
    shell = [(102.20, 27.80), (102.22, 27.80), (102.22, 27.82), (102.20, 27.82)]
    hole = [(103.10, 27.80), (103.12, 27.80), (103.12, 27.82), (103.10, 27.82)]
    path = write(
        tmp_path / "t.geojson",
        [{"code": "513401001", "name": "a"}],
        [shapely.Polygon(shell, [hole])],
    )
    before = counts(liangshan)
    with pytest.raises(ValueError, match=r"feature 0 \(513401001\).*outside its outline") as caught:
        hierarchy.import_file(liangshan, path, level="township")
    assert "km²" in str(caught.value)
    assert counts(liangshan) == before


def test_a_repair_that_drops_area_is_refused_with_the_figures(liangshan, tmp_path):
    """A ring that winds round twice: make_valid would cut its inner square out (36 % of it)."""
    x, y, d = 102.20, 27.80, 0.002  # a 10 × 10 square of 0.002° steps, inner 6 × 6
    ring = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0.0001), (2, 2), (8, 2), (8, 8), (2, 8)]
    ring += [(2, 2.0001), (0, 0)]
    path = write(
        tmp_path / "t.geojson",
        [{"code": "513401001", "name": "a"}],
        [shapely.Polygon([(x + d * a, y + d * b) for a, b in ring])],
    )
    before = counts(liangshan)
    with pytest.raises(ValueError, match=r"feature 0 \(513401001\).*would drop") as caught:
        hierarchy.import_file(liangshan, path, level="township")
    assert "36.0%" in str(caught.value) and "winds round twice" in str(caught.value)
    assert counts(liangshan) == before


def test_a_polygon_over_the_vertex_cap_is_refused(liangshan, tmp_path):
    from gridmap.geometry import MAX_VERTICES

    angles = np.linspace(0, 2 * np.pi, MAX_VERTICES + 10, endpoint=False)
    ring = np.column_stack([102.2 + 0.01 * np.cos(angles), 27.8 + 0.01 * np.sin(angles)])
    path = write(tmp_path / "t.gpkg", [{"code": "513401001", "name": "a"}], [shapely.Polygon(ring)])
    with pytest.raises(ValueError, match=r"feature 0 \(513401001\) has 100,011 vertices"):
        hierarchy.import_file(liangshan, path, level="township")


def test_national_156_prefixes_are_stripped_with_a_note(liangshan, tmp_path):
    rows, geoms = townships_of(liangshan)
    rows = [{**row, "code": "156" + row["code"], "parent": "156513401"} for row in rows]
    path = write(tmp_path / "t.gpkg", rows, geoms)
    report = hierarchy.import_file(liangshan, path, level="township")
    assert report.inserted == 2
    assert any("156" in note for note in report.notes)
    units = db.units.read(liangshan, level="township").set_index("code")
    assert {"513401001", "513401101"} <= set(units.index)
    assert set(units.loc[["513401001", "513401101"], "parent_code"]) == {"513401"}


def _geojson(tmp_path: Path, geometry: dict) -> Path:
    import json

    feature = {"type": "Feature", "properties": {"code": "513401001", "name": "a"}}
    path = tmp_path / "t.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [{**feature, "geometry": geometry}]})
    )
    return path


def test_an_unclosed_ring_names_the_feature_not_a_traceback(liangshan, tmp_path):
    ring = [[102.2, 27.8], [102.22, 27.8], [102.22, 27.82], [102.2, 27.82]]  # not closed
    path = _geojson(tmp_path, {"type": "Polygon", "coordinates": [ring]})
    before = counts(liangshan)
    with pytest.raises(ValueError, match=r"feature 0 \(513401001\).*not form a closed"):
        hierarchy.import_file(liangshan, path, level="township")
    assert counts(liangshan) == before


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Hexagon", "coordinates": [[[102.2, 27.8], [102.22, 27.8], [102.2, 27.8]]]},
        {
            "type": "Polygon",
            "coordinates": [[["102.2", "27.8"], ["102.3", "27.8"], ["102.2", "27.9"]]],
        },
    ],
    ids=["unknown-type", "string-coordinates"],
)
def test_unreadable_geometries_say_what_gdal_could_not_read(liangshan, tmp_path, geometry):
    path = _geojson(tmp_path, geometry)
    with pytest.raises(ValueError, match=r"feature 0 \(513401001\)") as caught:
        hierarchy.import_file(liangshan, path, level="township")
    assert "Hexagon" in str(caught.value) or "cannot" in str(caught.value)


def test_a_unit_overlapping_a_loaded_neighbour_stops_the_import(liangshan, tmp_path):
    """雷波县 redrawn over 西昌市 (thousands of km²) is refused, naming both; allowed, it is
    imported with the overlap in the notes."""
    xichang = hierarchy.get_unit(liangshan, "513401").geometry
    path = write(tmp_path / "c.gpkg", [{"code": "513437", "name": "雷波县"}], [xichang])
    before = counts(liangshan)
    with pytest.raises(HierarchyError, match=r"513437 overlaps 513401 by [\d,]+\.\d+ km²") as e:
        hierarchy.import_file(liangshan, path, level="county")
    assert "--allow-overlaps" in str(e.value)
    assert counts(liangshan) == before
    report = hierarchy.import_file(liangshan, path, level="county", allow_overlaps=True)
    assert report.replaced == 1
    assert any("overlap" in note and "513401" in note for note in report.notes)


def test_a_write_rolled_back_after_opening_a_generation_leaves_no_gap(liangshan, tmp_path):
    """A killed or failed write used to burn a sequence number, and the next import then
    retired rows into a generation that never existed (a foreign-key error)."""
    first = write(tmp_path / "a.geojson", [{"code": "513401001", "name": "甲"}], [square()])
    second = write(tmp_path / "b.geojson", [{"code": "513401001", "name": "乙"}], [square()])
    hierarchy.import_file(liangshan, first, level="township")
    newest = db.generations.current(liangshan)
    with liangshan.begin_nested() as aborted:
        db.generations.open_generation(liangshan, kind="import", description="killed")
        aborted.rollback()
    report = hierarchy.import_file(liangshan, second, level="township")
    assert report.generation == newest + 1 and report.replaced == 1
    old = liangshan.scalars(select(Unit).where(Unit.code == "513401001", Unit.name == "甲")).one()
    assert old.generation_high == newest
