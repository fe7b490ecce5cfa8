"""Relocation sites: every bad site refused with its reason, nothing written on error; files
with English or Chinese fields read through the boundary reader (GeoJSON, GPKG, SHP)."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select

import geopandas as gpd
import shapely

from gridmap import sites
from gridmap.db.models import Site
from gridmap.errors import (
    CoordinateOutOfRangeError,
    DuplicateCodeError,
    HierarchyError,
    InvalidCodeError,
    InvalidGeometryError,
    InvalidInputError,
    OutsideCoverageError,
    UnknownCodeError,
)

COUNTY = "513401"  # 西昌市 in the demo
INSIDE = (102.26, 27.89)  # in 西昌市
OUTSIDE_COUNTY = (102.75, 27.60)  # in 凉山, another county (普格县)


def site(**changes) -> sites.SiteIn:
    fields = {
        "code": "T01",
        "name": "测试避难场所",
        "kind": "shelter",
        "capacity_households": 100,
        "capacity_persons": 400,
        "geom": shapely.Point(*INSIDE),
    }
    return sites.SiteIn(**{**fields, **changes})


def count(session) -> int:
    return int(session.scalar(select(func.count()).select_from(Site)))


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"capacity_households": 0}, InvalidInputError, "more than 0"),
        ({"capacity_persons": -5}, InvalidInputError, "more than 0"),
        ({"capacity_households": 2.5}, InvalidInputError, "whole number"),
        ({"capacity_households": math.nan}, InvalidInputError, "whole number"),
        ({"capacity_persons": 50}, InvalidInputError, "at least one person"),
        ({"occupied_households": 101}, InvalidInputError, "more than the capacity"),
        ({"occupied_persons": -1}, InvalidInputError, "negative"),
        ({"kind": "hotel"}, InvalidInputError, "unknown site kind"),
        ({"code": "a b"}, InvalidCodeError, "letters, digits"),
        ({"code": ""}, InvalidCodeError, "letters, digits"),
        ({"name": ""}, InvalidInputError, "name"),
        ({"facilities": "school,spa"}, InvalidInputError, "unknown facility 'spa'"),
        ({"geom": shapely.LineString([INSIDE, (102.3, 27.9)])}, InvalidGeometryError, "LineString"),
        ({"geom": None}, InvalidGeometryError, "no geometry"),
        ({"geom": shapely.Point(math.nan, 27.9)}, CoordinateOutOfRangeError, "NaN"),
        ({"geom": shapely.Point(INSIDE[1], INSIDE[0])}, CoordinateOutOfRangeError, "swapped"),
    ],
)
def test_bad_sites_are_refused_with_the_reason(changes, error, words) -> None:
    with pytest.raises(error, match=words):
        sites.check(site(**changes))


def test_labels_in_chinese_are_understood() -> None:
    row = sites.check(site(kind="集中安置点", facilities="学校、卫生室，school"))
    assert row["kind"] == "resettlement" and row["facilities"] == ["school", "clinic"]


def test_a_self_crossing_polygon_is_repaired_like_a_boundary() -> None:
    x, y = INSIDE
    bowtie = shapely.Polygon([(x, y), (x + 0.01, y + 0.01), (x + 0.01, y), (x, y + 0.01)])
    row = sites.check(site(geom=bowtie))
    assert row["geom"].is_valid and row["geom"].geom_type == "MultiPolygon"


def test_sites_are_added_inside_their_county_with_their_village(demo_tx) -> None:
    report = sites.add(demo_tx, [site(), site(code="T02", geom=shapely.Point(102.27, 27.88))])
    assert report.codes == ["T01", "T02"] and report.counties == [COUNTY]
    rows = sites.by_codes(demo_tx, ["T01", "T02"], [COUNTY])
    assert all(r["village_code"] and r["village_code"].startswith(COUNTY) for r in rows)


@pytest.mark.parametrize(
    ("given", "county", "error", "words"),
    [
        ([site(geom=shapely.Point(*OUTSIDE_COUNTY))], COUNTY, HierarchyError, "outside county"),
        ([site(geom=shapely.Point(116.4, 39.9))], None, OutsideCoverageError, "no loaded county"),
        ([site()], "110101", UnknownCodeError, "no county 110101"),
        ([site(), site(name="另一个")], None, DuplicateCodeError, "twice"),
        ([site(), site(code="T02", capacity_households=0)], None, InvalidInputError, "more than 0"),
    ],
)
def test_a_bad_batch_writes_nothing(demo_tx, given, county, error, words) -> None:
    before = count(demo_tx)
    with pytest.raises(error, match=words):
        sites.add(demo_tx, given, county=county)
    assert count(demo_tx) == before


def test_a_code_already_used_in_the_county_is_a_conflict(demo_tx) -> None:
    sites.add(demo_tx, [site()])
    with pytest.raises(DuplicateCodeError, match="already used in county 513401"):
        sites.add(demo_tx, [site(name="重复")])


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_files_with_chinese_fields_import_in_every_format(demo_tx, tmp_path, suffix) -> None:
    x, y = INSIDE
    frame = gpd.GeoDataFrame(
        {
            "编码": ["F01", "F02"],
            "名称": ["一号避难场所", "二号安置点"],
            "类型": ["应急避难场所", "集中安置点"],
            "容纳户数": [120, 300],
            "容纳人数": [480, 1200],
            "配套设施": ["学校,卫生室", ""],
        },
        geometry=[shapely.Point(x, y), shapely.Point(x + 0.01, y).buffer(0.002)],
        crs="EPSG:4326",
    )
    path = tmp_path / f"sites{suffix}"
    if suffix == ".shp":  # one geometry type per shapefile; Chinese ones are GBK, no .cpg
        frame = frame.set_geometry(frame.geometry.representative_point())
        frame.to_file(path, encoding="gbk")
        path.with_suffix(".cpg").unlink(missing_ok=True)
    else:
        frame.to_file(path, encoding="utf-8")
    given = sites.read_file(path)
    report = sites.add(demo_tx, given)
    rows = {r["code"]: r for r in sites.by_codes(demo_tx, report.codes, report.counties)}
    assert rows["F01"]["kind"] == "shelter" and rows["F01"]["facilities"] == ["school", "clinic"]
    assert rows["F02"]["kind"] == "resettlement" and rows["F02"]["capacity_persons"] == 1200


def test_a_file_without_the_needed_fields_says_which(tmp_path) -> None:
    path = tmp_path / "bad.geojson"
    gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(*INSIDE)], crs="EPSG:4326").to_file(path)
    with pytest.raises(InvalidInputError, match="no code, name, kind field"):
        sites.read_file(path)


def test_a_resettlement_site_becomes_a_community_with_its_own_grids(demo_tx) -> None:
    from sqlalchemy import text

    from gridmap import db

    village, x, y = demo_tx.execute(
        text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit"
            " WHERE county_code = :c AND level = 'village' AND generation_high IS NULL"
            " ORDER BY households DESC, code LIMIT 1"
        ),
        {"c": COUNTY},
    ).one()
    outline = shapely.box(x - 0.003, y - 0.003, x + 0.003, y + 0.003)
    sites.add(
        demo_tx,
        [
            site(
                code="AZC",
                kind="resettlement",
                capacity_households=900,
                capacity_persons=3600,
                geom=outline,
            )
        ],
    )
    before = db.units.read(demo_tx, codes=[village])
    made = sites.to_community(demo_tx, COUNTY, "AZC", name="安置社区")
    new = made["community_code"]
    assert new[:9] == village[:9] and 1 <= int(new[9:]) <= 199
    used = [int(c[9:]) for c in db.units.read(demo_tx, parent=village[:9], level="village")["code"]]
    assert int(new[9:]) == max(u for u in used if u <= 199)  # after every community code
    community = db.units.read(demo_tx, codes=[new]).iloc[0]
    assert community["name"] == "安置社区" and community["kind"] == "community"
    after = db.units.read(demo_tx, codes=[village]).iloc[0]
    assert after.geometry.area < before.geometry.iloc[0].area
    assert not after.geometry.intersection(community.geometry).area > 1e-12
    lineage = demo_tx.execute(
        text("SELECT count(*) FROM lineage WHERE op = 'split' AND generation_id = :g"),
        {"g": made["generation"]},
    ).scalar()
    assert lineage == len(made["villages_redrawn"])
    homes = demo_tx.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE grid_code LIKE :p) FROM household"
            " WHERE village_code = :v"
        ),
        {"v": new, "p": f"{new}%"},
    ).one()
    assert homes[0] == made["households"] > 0 and homes[1] == homes[0]
    assert made["grids"] >= 1
    assert sites.by_codes(demo_tx, ["AZC"], [COUNTY])[0]["community_code"] == new
    with pytest.raises(InvalidInputError, match="already"):
        sites.to_community(demo_tx, COUNTY, "AZC")


@pytest.mark.parametrize(
    ("changes", "words"),
    [({"kind": "shelter"}, "only resettlement"), ({"kind": "resettlement"}, "is a point")],
)
def test_only_drawn_resettlement_sites_become_communities(demo_tx, changes, words) -> None:
    sites.add(demo_tx, [site(code="NC", **changes)])
    with pytest.raises((InvalidInputError, InvalidGeometryError), match=words):
        sites.to_community(demo_tx, COUNTY, "NC")
