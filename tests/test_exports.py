"""GIS exports read back by GDAL twice: pyogrio (bundled GDAL) and the ogrinfo command line.

One module-scoped transaction on the demo database adds a few incidents (one with a long
description) and exports every format once; the tests then compare what GDAL reads with what
the database holds. Nothing is committed.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import geopandas as gpd
import pyogrio
import shapely
from pyproj import Geod, Transformer

from gridmap import db, exports, incidents, lookup
from gridmap.errors import InvalidCodeError, InvalidInputError, UnknownCodeError
from tests.conftest import rolled_back

COUNTY = "513401"
LONG_DESCRIPTION = "路口垃圾堆放" * 60  # 360 characters, over a shapefile field's 254 bytes
BASE_LAYERS = ("counties", "townships", "villages", "grids", "workers", "incidents")
LEVELS = {"counties": "county", "townships": "township", "villages": "village", "grids": "grid"}


# ---------------------------------------------------------------------------------------------
# GDAL command line helpers (Debian gdal-bin)
# ---------------------------------------------------------------------------------------------


def ogrinfo(*args: str) -> str:
    """Run ogrinfo and return its output; fail the test on a non-zero exit."""
    done = subprocess.run(["ogrinfo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ogrinfo_layers(source: str) -> dict[str, dict[str, Any]]:
    """Per layer: feature count and the EPSG code of its CRS, from ``ogrinfo -so -al``."""
    found: dict[str, dict[str, Any]] = {}
    for block in ogrinfo("-so", "-al", source).split("\nLayer name: ")[1:]:
        name = block.splitlines()[0].strip()
        count = re.search(r"^Feature Count: (\d+)$", block, re.MULTILINE)
        # The CRS's own ID closes its WKT at the outermost level (4 spaces in).
        epsg = re.search(r'^    ID\["EPSG",(\d+)\]\]$', block, re.MULTILINE)
        found[name] = {
            "features": int(count.group(1)) if count else None,
            "epsg": int(epsg.group(1)) if epsg else None,
            "text": block,
        }
    return found


# ---------------------------------------------------------------------------------------------
# Fixtures: one transaction, a few incidents, every format written once
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tx(demo_engine: Engine, demo_index: lookup.Index) -> Iterator[Session]:
    """A module-long transaction on the demo database with four incidents, rolled back."""
    with rolled_back(demo_engine) as session:
        grids = db.units.read(session, county=COUNTY, level="grid").iloc[::150][:4]
        points = shapely.point_on_surface(grids.geometry.values)
        made = [
            incidents.report_incident(
                session,
                demo_index,
                incidents.Report(
                    lon=point.x,
                    lat=point.y,
                    category="0501",
                    description=LONG_DESCRIPTION if i == 0 else f"测试事件{i}",
                    reporter="张三",
                ),
            )
            for i, point in enumerate(points)
        ]
        incidents.act(session, made[1].incident["id"], "accept", actor="受理员")
        yield session


def database_counts(session: Session, *, households: bool = False) -> dict[str, int]:
    """What every layer should hold, straight from SQL."""
    counts = {
        name: db.units.count(session, county=COUNTY, level=level) for name, level in LEVELS.items()
    }
    for name, table in (("workers", "worker"), ("incidents", "incident")):
        counts[name] = session.execute(
            text(f"SELECT count(*) FROM {table} WHERE county_code = :c"), {"c": COUNTY}
        ).scalar_one()
    if households:
        counts["households"] = session.execute(
            text("SELECT count(*) FROM household WHERE county_code = :c"), {"c": COUNTY}
        ).scalar_one()
    return counts


@pytest.fixture(scope="module")
def out(tx: Session, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every format written once: paths and reports, plus the database counts."""
    root = tmp_path_factory.mktemp("exports")
    runs = {
        "gpkg": ("gpkg", root / "513401.gpkg", {"households": True}),
        "gpkg_gk": ("gpkg", root / "513401_gk.gpkg", {"crs": "gk"}),
        "shp": ("shp", root / "shp", {}),
        "shp_gbk": ("shp", root / "shp_gbk", {"encoding": "gbk"}),
        "shp_gk": ("shp", root / "shp_gk", {"crs": "gk"}),
        "geojson": ("geojson", root / "geojson", {}),
        "kml": ("kml", root / "513401.kml", {}),
        "csv": ("csv", root / "csv", {}),
        "parquet": ("parquet", root / "parquet", {"households": True}),
    }
    reports = {
        key: exports.export_county(tx, COUNTY, fmt, path, **options)
        for key, (fmt, path, options) in runs.items()
    }
    return {
        "root": root,
        "paths": {key: path for key, (_, path, _) in runs.items()},
        "reports": reports,
        "counts": database_counts(tx, households=True),
    }


# ---------------------------------------------------------------------------------------------
# The layer table
# ---------------------------------------------------------------------------------------------


def test_layer_table_fields_fit_every_format() -> None:
    for layer in exports.LAYERS:
        names = [f.name for f in layer.all_fields]
        short = [f.shp for f in layer.all_fields]
        aliases = [f.alias_zh for f in layer.all_fields]  # unique per table in GeoPackage
        for values in (names, short, aliases):
            assert len(set(values)) == len(values), layer.name
        for field in layer.all_fields:
            assert field.shp.isascii() and len(field.shp.encode()) <= 10, field
            assert field.alias_zh and field.alias_en and field.type in exports.FIELD_TYPES
        assert "county_code" in names  # the GeoParquet partition column
        assert (("area_m2" in names) and ("area_mu" in names)) == layer.is_polygon
    assert [layer.name for layer in exports.layers_for()] == list(BASE_LAYERS)
    assert exports.field_dictionary()["shp_field"].str.len().max() <= 10
    assert exports.layers_for(households=True)[-1].name == "households"


@settings(max_examples=60, deadline=None)
@given(
    lon=st.floats(74.0, 134.0),
    lat=st.floats(19.0, 52.0),
    width=st.floats(1e-4, 0.05),
    height=st.floats(1e-4, 0.05),
)
def test_areas_in_mu_follow_square_metres(lon, lat, width, height) -> None:
    box = shapely.box(lon, lat, lon + width, lat + height)
    m2, mu = exports.polygon_areas([box])
    assert m2[0] > 0 and mu[0] > 0
    assert math.isclose(mu[0], m2[0] / 666.6667, rel_tol=1e-7, abs_tol=1e-4)
    geodesic = abs(Geod(ellps="GRS80").geometry_area_perimeter(shapely.segmentize(box, 1e-3))[0])
    assert m2[0] == pytest.approx(geodesic, rel=1e-3)  # GK zone scale error stays under 0.1 %


@settings(max_examples=40, deadline=None)
@given(lon=st.floats(97.5, 106.5), lat=st.floats(21.0, 34.0))
def test_gk_projection_is_lon_lat_in_metres_out(lon, lat) -> None:
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326"))
    projected = exports.to_epsg(frame, 4543).geometry.iloc[0]
    assert 0 < projected.x < 1_000_000 and 2_000_000 < projected.y < 4_000_000
    back = Transformer.from_crs("EPSG:4543", "EPSG:4490", always_xy=True)
    assert back.transform(projected.x, projected.y) == pytest.approx((lon, lat), abs=1e-8)


# ---------------------------------------------------------------------------------------------
# GeoPackage
# ---------------------------------------------------------------------------------------------


def test_gpkg_layers_and_counts_match_the_database(out) -> None:
    path, counts = out["paths"]["gpkg"], out["counts"]
    listed = {str(name) for name, _ in pyogrio.list_layers(path)}
    assert listed == {*BASE_LAYERS, "households", exports.FIELD_DICTIONARY}
    cli = ogrinfo_layers(str(path))
    for name, expected in counts.items():
        assert pyogrio.read_info(path, layer=name)["features"] == expected, name
        assert pyogrio.read_info(path, layer=name)["crs"] == "EPSG:4490"
        assert cli[name]["features"] == expected and cli[name]["epsg"] == 4490, name
    assert counts["incidents"] >= 4 and counts["households"] > 300_000
    report = out["reports"]["gpkg"]
    assert report["crs"] == "EPSG:4490" and report["county_name"] == "西昌市"
    assert {r["name"]: r["features"] for r in report["layers"]} == counts


def test_gpkg_coordinates_come_back_lon_lat(out) -> None:
    path = str(out["paths"]["gpkg"])
    block = ogrinfo("-al", "-fid", "1", path, "townships")
    assert "Data axis to CRS axis mapping: 2,1" in block  # traditional GIS order
    lon, lat = map(float, re.search(r"MULTIPOLYGON \(\(\(([\d.]+) ([\d.]+)", block).groups())
    assert 101 < lon < 103 and 27 < lat < 29
    x, y = shapely.get_coordinates(pyogrio.read_dataframe(path, layer="workers").geometry).T
    assert ((x > 101) & (x < 103)).all() and ((y > 27) & (y < 29)).all()


@pytest.mark.parametrize("layer", ["counties", "townships", "villages", "grids"])
def test_gpkg_geometries_match_the_database(out, tx, layer) -> None:
    written = pyogrio.read_dataframe(out["paths"]["gpkg"], layer=layer).sort_values("code")
    stored = db.units.read(tx, county=COUNTY, level=LEVELS[layer]).sort_values("code")
    assert written["code"].tolist() == stored["code"].tolist()
    assert written["name"].tolist() == stored["name"].tolist()  # Chinese names survive
    same = shapely.equals_exact(written.geometry.values, stored.geometry.values, tolerance=1e-7)
    assert same.all(), written["code"][~same].tolist()[:5]


def test_gpkg_points_match_the_database(out, tx) -> None:
    written = pyogrio.read_dataframe(out["paths"]["gpkg"], layer="incidents").sort_values("id")
    stored = tx.execute(
        text("SELECT id, ST_X(geom), ST_Y(geom) FROM incident WHERE county_code = :c ORDER BY id"),
        {"c": COUNTY},
    ).all()
    assert written["id"].tolist() == [row[0] for row in stored]
    xy = shapely.get_coordinates(written.geometry.values)
    assert np.abs(xy - np.array([row[1:] for row in stored])).max() < 1e-7
    assert LONG_DESCRIPTION in written["description"].tolist()  # whole outside shapefiles
    assert set(written["stage_zh"]) >= {"受理", "立案"}


def test_gpkg_carries_aliases_and_a_field_dictionary(out) -> None:
    path = out["paths"]["gpkg"]
    dictionary = pyogrio.read_dataframe(path, layer=exports.FIELD_DICTIONARY)
    households = dictionary[dictionary["layer"] == "households"]
    assert dict(zip(households["field"], households["alias_zh"], strict=True))["persons"] == "人口"
    with sqlite3.connect(path) as connection:
        aliases = dict(
            connection.execute(
                "SELECT column_name, name FROM gpkg_data_columns WHERE table_name = 'grids'"
            ).fetchall()
        )
        extension = connection.execute(
            "SELECT extension_name FROM gpkg_extensions WHERE table_name = 'gpkg_data_columns'"
        ).fetchall()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert aliases["area_mu"] == "面积(亩)" and aliases["households"] == "户数"
    assert extension == [("gpkg_schema",)] and version == 10200
    info = ogrinfo("-so", str(path), "grids")
    assert "IDENTIFIER=网格" in info


def test_read_layers_gives_the_written_frames(tx) -> None:
    layers = exports.read_layers(tx, COUNTY)
    assert list(layers) == list(BASE_LAYERS)
    for layer in exports.layers_for():
        frame = layers[layer.name]
        assert list(frame.columns) == [f.name for f in layer.all_fields] + ["geometry"]
        assert frame.crs.to_epsg() == 4326
    assert layers["incidents"]["reported_at"].dt.tz.utcoffset(None).total_seconds() == 8 * 3600


def test_polygon_layers_have_areas_adding_up(out) -> None:
    path = out["paths"]["gpkg"]
    county = pyogrio.read_dataframe(path, layer="counties")
    for layer in ("townships", "villages", "grids"):
        frame = pyogrio.read_dataframe(path, layer=layer)
        assert (frame["area_m2"] > 0).all() and (frame["area_mu"] > 0).all()
        assert np.allclose(frame["area_mu"], frame["area_m2"] / 666.6667, rtol=1e-7, atol=1e-4)
    townships = pyogrio.read_dataframe(path, layer="townships")["area_m2"].sum()
    assert townships == pytest.approx(county["area_m2"].iloc[0], rel=1e-3)  # no gaps, overlaps


def test_workers_without_a_fix_sit_in_their_grid_and_are_flagged(out, tx) -> None:
    path = out["paths"]["gpkg"]
    workers = pyogrio.read_dataframe(path, layer="workers")
    grids = pyogrio.read_dataframe(path, layer="grids").set_index("code")
    placed = workers[workers["position_source"] == "primary_grid"]
    assert len(placed) > 0 and (placed["position_zh"] == "主责网格内点(推定)").all()
    assert shapely.covers(
        grids.geometry.loc[placed["grid_code"]].values, placed.geometry.values
    ).all()
    assert set(workers["position_source"]) <= {"gps", "primary_grid", "supporting_grid", "none"}
    assert set(workers["role_zh"]) <= {"专职网格员", "兼职网格员", "包联干部"}


def test_gk_export_is_in_the_county_zone(out, tx) -> None:
    path = out["paths"]["gpkg_gk"]
    assert out["reports"]["gpkg_gk"]["epsg"] == 4543  # 西昌 lies near 102°E
    cli = ogrinfo_layers(str(path))
    assert {cli[name]["epsg"] for name in BASE_LAYERS} == {4543}
    grids = pyogrio.read_dataframe(path, layer="grids").sort_values("code")
    easting, northing = shapely.get_coordinates(grids.geometry.values).T
    assert easting.min() > 400_000 and easting.max() < 600_000
    assert northing.min() > 3_000_000 and northing.max() < 3_200_000
    # Projected polygon areas agree with area_m2 (measured on densified lon/lat edges).
    assert np.allclose(grids.geometry.area, grids["area_m2"], rtol=1e-3)
    back = Transformer.from_crs("EPSG:4543", "EPSG:4490", always_xy=True)
    lonlat = shapely.transform(
        grids.geometry.values, lambda c: np.column_stack(back.transform(*c.T))
    )
    stored = db.units.read(tx, county=COUNTY, level="grid").sort_values("code")
    assert shapely.equals_exact(lonlat, stored.geometry.values, tolerance=1e-7).all()


# ---------------------------------------------------------------------------------------------
# Shapefiles
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "cpg"), [("shp", "UTF-8"), ("shp_gbk", "GBK")])
def test_shapefile_zips_hold_a_layer_each(out, key, cpg) -> None:
    folder, counts = out["paths"][key], out["counts"]
    assert sorted(p.name for p in folder.glob("*.zip")) == sorted(
        f"{COUNTY}_{name}.zip" for name in BASE_LAYERS
    )
    for name in BASE_LAYERS:
        archive = folder / f"{COUNTY}_{name}.zip"
        stem = f"{COUNTY}_{name}"
        with zipfile.ZipFile(archive) as zipped:
            members = set(zipped.namelist())
            assert {f"{stem}{ext}" for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")} <= members
            assert zipped.read(f"{stem}.cpg").decode() == cpg
            dictionary = pd.read_csv(zipped.open(f"{stem}_fields.csv"), encoding="utf-8-sig")
        assert list(dictionary.columns[:4]) == ["field", "alias_zh", "alias_en", "type"]
        vsi = f"/vsizip/{archive}/{stem}.shp"
        info = pyogrio.read_info(vsi)
        assert info["features"] == counts[name] and info["crs"] == "EPSG:4490"
        assert all(len(field.encode()) <= 10 and field.isascii() for field in info["fields"])
        assert set(info["fields"]) == set(dictionary["field"])
        cli = ogrinfo_layers(vsi)[stem]
        assert cli["features"] == counts[name] and cli["epsg"] == 4490


def test_gbk_shapefile_is_gbk_on_disk_and_chinese_when_read(out) -> None:
    archive = out["paths"]["shp_gbk"] / f"{COUNTY}_townships.zip"
    with zipfile.ZipFile(archive) as zipped:
        dbf = zipped.read(f"{COUNTY}_townships.dbf")
    names = pyogrio.read_dataframe(f"/vsizip/{archive}")["name"].tolist()
    assert names[0].endswith(("街道", "镇", "乡"))
    assert names[0].encode("gbk") in dbf and names[0].encode("utf-8") not in dbf
    assert f"name (String) = {names[0]}" in ogrinfo("-al", "-fid", "0", f"/vsizip/{archive}")


def test_shapefile_cuts_long_text_and_says_so(out) -> None:
    report = out["reports"]["shp"]
    assert any(note.startswith("incidents.description:") for note in report["notes"])
    frame = pyogrio.read_dataframe(f"/vsizip/{out['paths']['shp'] / '513401_incidents.zip'}")
    longest = max(frame["descr"].dropna(), key=len)
    assert LONG_DESCRIPTION.startswith(longest) and len(longest.encode()) <= 254
    assert set(frame["on_duty" if "on_duty" in frame else "near_bdry"].dropna()) <= {0, 1}


def test_shapefile_gk_prj_names_the_zone(out) -> None:
    archive = out["paths"]["shp_gk"] / f"{COUNTY}_villages.zip"
    with zipfile.ZipFile(archive) as zipped:
        prj = zipped.read(f"{COUNTY}_villages.prj").decode()
    assert "Gauss_Kruger" in prj and "102" in prj
    assert ogrinfo_layers(f"/vsizip/{archive}")[f"{COUNTY}_villages"]["epsg"] == 4543


# ---------------------------------------------------------------------------------------------
# GeoJSON, KML, CSV, GeoParquet
# ---------------------------------------------------------------------------------------------


def test_geojson_is_rfc7946(out) -> None:
    folder, counts = out["paths"]["geojson"], out["counts"]
    assert out["reports"]["geojson"]["crs"] == "EPSG:4326"
    for name in BASE_LAYERS:
        path = folder / f"{COUNTY}_{name}.geojson"
        body = json.loads(path.read_text(encoding="utf-8"))
        assert "crs" not in body and len(body["features"]) == counts[name]
        cli = ogrinfo_layers(str(path))
        assert next(iter(cli.values()))["features"] == counts[name]
        assert next(iter(cli.values()))["epsg"] == 4326
    townships = json.loads((folder / f"{COUNTY}_townships.geojson").read_text(encoding="utf-8"))
    lon, lat = townships["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 101 < lon < 103 and 27 < lat < 29
    assert townships["features"][0]["properties"]["kind_zh"] in ("街道", "镇", "乡")


def test_kml_reads_back_with_every_layer(out) -> None:
    path, counts = str(out["paths"]["kml"]), out["counts"]
    cli = ogrinfo_layers(path)
    for name in BASE_LAYERS:
        assert cli[name]["features"] == counts[name] and cli[name]["epsg"] == 4326, name
    townships = pyogrio.read_dataframe(path, layer="townships")
    assert townships["Name"].str.endswith(("街道", "镇", "乡")).all()
    assert set(pyogrio.read_dataframe(path, layer="incidents")["Name"]) == {"垃圾堆放"}


def test_csv_has_a_bom_wkt_and_sidecars_gdal_reads(out) -> None:
    folder, counts = out["paths"]["csv"], out["counts"]
    for name in BASE_LAYERS:
        path = folder / f"{COUNTY}_{name}.csv"
        assert path.read_bytes().startswith(b"\xef\xbb\xbfWKT,")
        cli = ogrinfo_layers(str(path))[f"{COUNTY}_{name}"]
        assert cli["features"] == counts[name]
        assert "China Geodetic Coordinate System 2000" in cli["text"]  # from the .prj
    villages = pyogrio.read_dataframe(folder / f"{COUNTY}_villages.csv")
    assert villages.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert villages["households"].dtype.kind == "i"  # typed by the .csvt
    assert villages["name"].str.endswith(("村", "社区")).all()
    dictionary = pd.read_csv(folder / "field_dictionary.csv", encoding="utf-8-sig")
    assert {"layer", "field", "alias_zh", "alias_en", "type"} <= set(dictionary.columns)
    assert json.loads((folder / "export.json").read_text(encoding="utf-8"))["epsg"] == 4490


def test_geoparquet_is_partitioned_by_county(out) -> None:
    folder, counts = out["paths"]["parquet"], out["counts"]
    for name in (*BASE_LAYERS, "households"):
        part = folder / name / f"county_code={COUNTY}" / "part-0.parquet"
        assert part.is_file(), part
        geo = json.loads(pq.read_schema(part).metadata[b"geo"])
        assert geo["primary_column"] == "geometry" and geo["version"].startswith("1.")
        assert geo["columns"]["geometry"]["crs"]["id"] == {"authority": "EPSG", "code": 4490}
        frame = gpd.read_parquet(folder / name)  # the partition becomes a column again
        assert len(frame) == counts[name]
        assert set(frame["county_code"].astype(str)) == {COUNTY}  # hive infers an integer


# ---------------------------------------------------------------------------------------------
# Bad input and atomic output
# ---------------------------------------------------------------------------------------------


def test_bad_choices_are_refused_naming_the_valid_ones(demo_session, tmp_path) -> None:
    with pytest.raises(UnknownCodeError, match="513499"):
        exports.export_county(demo_session, "513499", "gpkg", tmp_path / "x.gpkg")
    with pytest.raises(InvalidCodeError):
        exports.export_county(demo_session, "5134", "gpkg", tmp_path / "x.gpkg")
    with pytest.raises(InvalidInputError, match="gpkg, shp, geojson, kml, csv, parquet"):
        exports.export_county(demo_session, COUNTY, "dwg", tmp_path / "x.dwg")
    with pytest.raises(InvalidInputError, match="EPSG:4490, EPSG:4326, gk"):
        exports.export_county(demo_session, COUNTY, "gpkg", tmp_path / "x.gpkg", crs="EPSG:3857")
    with pytest.raises(InvalidInputError, match="always WGS84"):
        exports.export_county(demo_session, COUNTY, "geojson", tmp_path / "g", crs="gk")
    with pytest.raises(InvalidInputError, match="only to shapefiles"):
        exports.export_county(demo_session, COUNTY, "csv", tmp_path / "c", encoding="gbk")
    with pytest.raises(InvalidInputError, match="utf-8, gbk"):
        exports.export_county(demo_session, COUNTY, "shp", tmp_path / "s", encoding="latin-1")
    with pytest.raises(InvalidInputError, match=r"ending in \.gpkg"):
        exports.export_county(demo_session, COUNTY, "gpkg", tmp_path / "x.sqlite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "crs_name",
    ["²", "epsg:²", "EPSG:４５３４", "9" * 5000, "epsg:" + "9" * 5000, "\x00", "45340000"],
)
def test_crs_codes_need_a_few_ascii_digits(crs_name) -> None:
    """ "²".isdigit() is True but int("²") raises, and int() refuses over 4,300 digits."""
    with pytest.raises(InvalidInputError, match="unknown export CRS"):
        exports.check_crs(crs_name, exports.FORMATS["gpkg"])
    assert exports.check_crs("EPSG:4534", exports.FORMATS["gpkg"]) == "EPSG:4534"
    assert exports.check_crs("4554", exports.FORMATS["shp"]) == "EPSG:4554"


@pytest.mark.parametrize("county", ["²²²²²²", "５１３４０１"])
def test_downloads_need_an_ascii_county_code(demo_session, tmp_path, county) -> None:
    with pytest.raises(InvalidCodeError, match="ASCII digits"):
        exports.export_download(demo_session, county, "gpkg", tmp_path)
    with pytest.raises(InvalidCodeError, match="ASCII digits"):
        exports.summary_download(demo_session, county, "csv", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_times_are_written_in_china_time() -> None:
    layer = next(layer for layer in exports.LAYERS if layer.name == "incidents")
    utc = pd.Series(pd.to_datetime(["2026-11-22T16:05:00Z"]))
    source = gpd.GeoDataFrame(
        {f.name: [None] for f in layer.fields} | {"reported_at": utc},
        geometry=[shapely.Point(102.26, 27.89)],
    )
    [written] = exports.prepare(layer, source)["reported_at"]
    assert written.tzinfo == incidents.CHINA_TZ
    assert written.isoformat() == "2026-11-23T00:05:00+08:00"


def test_existing_output_is_replaced_only_when_asked(demo_session, tmp_path) -> None:
    target = tmp_path / "513401.gpkg"
    target.write_bytes(b"old")
    with pytest.raises(InvalidInputError, match="already exists"):
        exports.export_county(demo_session, COUNTY, "gpkg", target)
    assert target.read_bytes() == b"old"
    exports.export_county(demo_session, COUNTY, "gpkg", target, overwrite=True)
    assert pyogrio.read_info(target, layer="grids")["features"] > 1000
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not a previous gridmap export"):
        exports.export_county(demo_session, COUNTY, "csv", mine, overwrite=True)
    assert (mine / "keep.txt").read_text() == "mine"
    exports.export_county(demo_session, COUNTY, "csv", tmp_path / "csv")
    exports.export_county(demo_session, COUNTY, "csv", tmp_path / "csv", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["513401.gpkg", "csv", "notes"]


def test_a_failed_export_leaves_nothing_behind(demo_session, tmp_path, monkeypatch) -> None:
    real = exports.WRITERS["shp"]

    def fail_halfway(job: Any, out: Path) -> list[str]:
        real(job, out)  # every zip written, then the disk "fills up"
        raise OSError("No space left on device")

    monkeypatch.setitem(exports.WRITERS, "shp", fail_halfway)
    with pytest.raises(OSError, match="No space"):
        exports.export_county(demo_session, COUNTY, "shp", tmp_path / "shp")
    assert list(tmp_path.iterdir()) == []


def test_gbk_refuses_text_it_cannot_hold(demo_tx, demo_index, tmp_path) -> None:
    grid = db.units.read(demo_tx, county=COUNTY, level="grid").geometry.iloc[0]
    point = shapely.point_on_surface(grid)
    incidents.report_incident(
        demo_tx,
        demo_index,
        incidents.Report(lon=point.x, lat=point.y, category="0501", description="井盖缺失😀"),
    )
    with pytest.raises(InvalidInputError, match="GBK cannot encode") as raised:
        exports.export_county(demo_tx, COUNTY, "shp", tmp_path / "shp", encoding="gbk")
    assert raised.value.context["field"] == "description"
    assert list(tmp_path.iterdir()) == []
    report = exports.export_county(demo_tx, COUNTY, "shp", tmp_path / "shp")  # UTF-8 holds it
    assert report["encoding"] == "UTF-8"


# ---------------------------------------------------------------------------------------------
# Summary tables
# ---------------------------------------------------------------------------------------------


def test_summary_tables_add_up_to_the_county(out, tx) -> None:
    tables = exports.summary_tables(tx, COUNTY)
    counts = out["counts"]
    townships, villages = tables["township"], tables["village"]
    assert len(townships) == counts["townships"] and len(villages) == counts["villages"]
    for table in (townships, villages):
        assert table["grids"].sum() == counts["grids"]
        assert table["households"].sum() == counts["households"]
        assert table["incidents_total"].sum() == counts["incidents"]
        stages = [f"incidents_{s}" for s in ("reported", "accepted", "dispatched", "handling")]
        assert (table[stages].sum(axis=1) <= table["incidents_total"]).all()
    assert townships["villages"].sum() == counts["villages"]
    totals = exports.summary_totals(tx, COUNTY)
    assert totals["workers"] == counts["workers"]
    assert set(villages["township_code"]) == set(townships["code"])


def test_summary_files_have_chinese_headers_and_a_bom(out, tx, tmp_path) -> None:
    csv_report = exports.export_summary(tx, COUNTY, "csv", tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.startswith("\ufeff编码,名称,类型,村(社区)数,网格数,户数,人口".encode())
    assert "事件(核查结案)".encode() in raw.split(b"\r\n")[0]
    assert csv_report["rows"] == {"township": out["counts"]["townships"]}
    exports.export_summary(tx, COUNTY, "xlsx", tmp_path / "t.xlsx")
    sheets = pd.read_excel(tmp_path / "t.xlsx", sheet_name=None, dtype={"编码": str})
    assert list(sheets) == ["乡镇(街道)", "村(社区)"]
    villages = sheets["村(社区)"]
    assert len(villages) == out["counts"]["villages"] + 1  # and the totals row
    assert (
        villages.iloc[-1]["编码"] == "合计"
        and villages.iloc[-1]["户数"] == out["counts"]["households"]
    )
    assert villages.iloc[0]["编码"].startswith(COUNTY)  # codes stay text
    exports.export_summary(tx, COUNTY, "csv", tmp_path / "v.csv", level="village", lang="en")
    english = pd.read_csv(tmp_path / "v.csv", encoding="utf-8-sig", dtype={"Code": str})
    assert list(english.columns[:3]) == ["Code", "Name", "Kind"]
    assert "Incidents (closed)" in english.columns
    with pytest.raises(InvalidInputError, match="township, village"):
        exports.export_summary(tx, COUNTY, "csv", tmp_path / "x.csv", level="grid")
    with pytest.raises(InvalidInputError, match="csv, xlsx"):
        exports.export_summary(tx, COUNTY, "ods", tmp_path / "x.ods")
