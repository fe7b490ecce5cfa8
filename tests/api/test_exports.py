"""GET /api/v1/exports: downloads GDAL can open, proper headers, clear errors, no leftovers."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import pyogrio

from tests.api.test_units import assert_problem
from tests.test_exports import BASE_LAYERS, ogrinfo_layers

COUNTY = "513401"


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The in-process app makes its export scratch directories in this test's own temporary
    directory: in the shared /tmp, other processes' exports would look like leftovers."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("gridmap-export-*")}


def download(client, url: str, media_type: str, filename: str, tmp_path: Path) -> Path:
    """GET ``url``, check the headers, save the body under ``filename``."""
    before = leftovers()
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert leftovers() <= before  # the scratch directory went with the response
    path = tmp_path / filename
    path.write_bytes(response.content)
    return path


def test_geopackage_download_opens_in_gdal(client, tmp_path) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}.gpkg",
        "application/geopackage+sqlite3",
        f"{COUNTY}_epsg4490.gpkg",
        tmp_path,
    )
    layers = ogrinfo_layers(str(path))
    assert set(BASE_LAYERS) <= set(layers) and "households" not in layers
    assert {layers[name]["epsg"] for name in BASE_LAYERS} == {4490}
    assert layers["townships"]["features"] == 36
    assert pyogrio.read_dataframe(path, layer="counties")["name"].tolist() == ["西昌市"]


def test_geopackage_in_gauss_kruger_with_households(client, tmp_path) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}.gpkg?crs=gk&households=true",
        "application/geopackage+sqlite3",
        f"{COUNTY}_epsg4543.gpkg",
        tmp_path,
    )
    layers = ogrinfo_layers(str(path))
    assert layers["households"]["epsg"] == 4543 and layers["households"]["features"] > 300_000


def test_gbk_shapefiles_come_as_a_zip_of_layer_zips(client, tmp_path) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}.shp?encoding=gbk",
        "application/zip",
        f"{COUNTY}_epsg4490_gbk_shp.zip",
        tmp_path,
    )
    root = f"{COUNTY}_epsg4490_gbk_shp"
    with zipfile.ZipFile(path) as outer:
        names = set(outer.namelist())
        assert {f"{root}/{COUNTY}_{layer}.zip" for layer in BASE_LAYERS} <= names
        assert {f"{root}/export.json", f"{root}/field_dictionary.csv"} <= names
        inner = zipfile.ZipFile(io.BytesIO(outer.read(f"{root}/{COUNTY}_villages.zip")))
        assert inner.read(f"{COUNTY}_villages.cpg") == b"GBK"
        (tmp_path / "villages.zip").write_bytes(outer.read(f"{root}/{COUNTY}_villages.zip"))
    layer = ogrinfo_layers(f"/vsizip/{tmp_path / 'villages.zip'}")[f"{COUNTY}_villages"]
    assert layer["features"] == 221 and layer["epsg"] == 4490
    names = pyogrio.read_dataframe(f"/vsizip/{tmp_path / 'villages.zip'}")["name"]
    assert names.str.endswith(("村", "社区")).all()


@pytest.mark.parametrize(
    ("fmt", "epsg", "member"),
    [
        ("geojson", 4326, f"{COUNTY}_grids.geojson"),
        ("csv", 4490, f"{COUNTY}_grids.csv"),
        ("parquet", 4490, f"grids/county_code={COUNTY}/part-0.parquet"),
    ],
)
def test_multi_file_formats_come_zipped(client, tmp_path, fmt, epsg, member) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}.{fmt}",
        "application/zip",
        f"{COUNTY}_epsg{epsg}_{fmt}.zip",
        tmp_path,
    )
    root = f"{COUNTY}_epsg{epsg}_{fmt}"
    with zipfile.ZipFile(path) as archive:
        assert f"{root}/{member}" in archive.namelist()
        report = json.loads(archive.read(f"{root}/export.json"))
    assert report["epsg"] == epsg and report["format"] == fmt
    grids = next(r for r in report["layers"] if r["name"] == "grids")["features"]
    if fmt != "parquet":  # GDAL here has no Parquet driver; tests/test_exports.py reads it
        source = f"/vsizip/{path}/{root}/{member}"
        assert next(iter(ogrinfo_layers(source).values()))["features"] == grids


def test_kml_download(client, tmp_path) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}.kml",
        "application/vnd.google-earth.kml+xml",
        f"{COUNTY}_epsg4326.kml",
        tmp_path,
    )
    assert ogrinfo_layers(str(path))["villages"]["features"] == 221


def test_summary_downloads(client, tmp_path) -> None:
    path = download(
        client,
        f"/api/v1/exports/{COUNTY}/summary.csv?level=village",
        "text/csv",
        f"{COUNTY}_summary_village.csv",
        tmp_path,
    )
    assert path.read_bytes().startswith("\ufeff编码,名称".encode())
    assert len(pd.read_csv(path, encoding="utf-8-sig")) == 221
    workbook = download(
        client,
        f"/api/v1/exports/{COUNTY}/summary.xlsx?lang=en",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"{COUNTY}_summary.xlsx",
        tmp_path,
    )
    sheets = pd.read_excel(workbook, sheet_name=None)
    assert list(sheets) == ["townships", "villages"]
    assert sheets["townships"].iloc[-1]["Code"] == "Total"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (f"/api/v1/exports/{COUNTY}.dwg", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.geojson?crs=gk", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.gpkg?crs=EPSG:3857", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.kml?encoding=gbk", 422, "InvalidInputError"),
        ("/api/v1/exports/513499.gpkg", 404, "UnknownCodeError"),
        ("/api/v1/exports/5134.gpkg", 422, "InvalidCodeError"),
        (f"/api/v1/exports/{COUNTY}/summary.pdf", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}/summary.csv?level=grid", 422, "InvalidInputError"),
        ("/api/v1/exports/513499/summary.csv", 404, "UnknownCodeError"),
        # "²".isdigit() is True but int("²") raises; int() refuses over 4,300 digits
        (f"/api/v1/exports/{COUNTY}.gpkg?crs=%C2%B2", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.gpkg?crs=EPSG:%C2%B2", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.gpkg?crs={'9' * 5000}", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.gpkg?crs=%00", 422, "InvalidInputError"),
        ("/api/v1/exports/%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2.gpkg", 422, "InvalidCodeError"),
        (
            "/api/v1/exports/%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2/summary.csv",
            422,
            "InvalidCodeError",
        ),
        ("/api/v1/exports/%00.gpkg", 422, "InvalidCodeError"),
        (f"/api/v1/exports/{'5' * 5000}.gpkg", 422, "InvalidCodeError"),
        (f"/api/v1/exports/{COUNTY}.%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.shp?encoding=%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.shp?encoding={'a' * 5000}", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}.gpkg?households=%00", 422, "RequestValidationError"),
        (f"/api/v1/exports/{COUNTY}/summary.%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}/summary.csv?level=%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}/summary.xlsx?level=%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}/summary.csv?lang=%00", 422, "InvalidInputError"),
        (f"/api/v1/exports/{COUNTY}/summary.csv?lang={'a' * 5000}", 422, "InvalidInputError"),
    ],
)
def test_bad_requests_are_problems_naming_the_fix(client, url, status, code) -> None:
    before = leftovers()
    body = assert_problem(client.get(url), status, code)
    assert leftovers() <= before
    if code == "InvalidInputError" and "valid" in body["context"]:
        assert all(choice in body["detail"] for choice in body["context"]["valid"])
