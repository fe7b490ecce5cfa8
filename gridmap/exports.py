"""GIS exports (成果导出): a county's layers for QGIS/ArcGIS, in CGCS2000 by default.

One table (:data:`LAYERS`) lists every layer with its Chinese alias, geometry type and fields;
every format is written from it through the same code path, so a new layer (relocation sites,
say) is one more row. Polygon layers get ``area_m2`` and ``area_mu`` (亩), measured in each
feature's CGCS2000 3-degree Gauss–Krüger zone (:func:`gridmap.crs.areas_m2`).

Coordinates are stored in WGS84 and CGCS2000 differs from it by well under a metre, far below
the accuracy of grid boundaries, so the default EPSG:4490 output *relabels* the same lon/lat
numbers (no datum shift). ``crs="gk"`` projects to the county's
Gauss–Krüger zone (EPSG:4534–4554, no zone prefix in the easting). Coordinates are always written
lon/lat (traditional GIS order), whatever axis order the EPSG definition lists.

Output never appears half-written: everything goes to a temporary sibling of the target first
and is moved into place at the end.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import geopandas as gpd
import pyogrio
import pyproj
import shapely
from pyproj import Transformer

from gridmap import __version__, codes, crs, db, hierarchy, incidents
from gridmap.errors import InvalidCodeError, InvalidInputError
from gridmap.vocabulary import (
    CaseType,
    ExportCRS,
    Language,
    Level,
    Stage,
    Tier,
    UnitKind,
    UrbanRural,
    WorkerRole,
)

M2_PER_MU = 10_000 / 15  # 1 亩 = 666.6667 m² (15 亩 = 1 公顷)
GK_EPSG_RANGE = (4534, 4554)  # CGCS2000 3-degree GK zones, CM 75E..135E, no zone prefix
MANIFEST = "export.json"
DBF_TEXT_BYTES = 254  # longest text a dBASE (shapefile) field holds
FIELD_DICTIONARY = "field_dictionary"

# ---------------------------------------------------------------------------------------------
# The layer table
# ---------------------------------------------------------------------------------------------

FIELD_TYPES = ("str", "int", "int64", "float", "bool", "datetime")


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute: its name everywhere, its shapefile name (≤ 10 ASCII bytes), its aliases."""

    name: str
    shp: str
    alias_zh: str
    alias_en: str
    type: str = "str"


@dataclass(frozen=True, slots=True)
class Layer:
    """One exported layer: names, geometry type, fields and where its rows come from."""

    name: str
    alias_zh: str
    alias_en: str
    geometry_type: str  # "MultiPolygon" or "Point"
    fields: tuple[Field, ...]
    read: Callable[[Session, str], gpd.GeoDataFrame]
    optional: bool = False  # written only when asked for (households)
    title: str = "name"  # field that names a feature on a map (KML placemark titles)

    @property
    def is_polygon(self) -> bool:
        """Polygon layers carry areas."""
        return self.geometry_type.endswith("Polygon")

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The fields as written: polygon layers end with area_m2 and area_mu."""
        return self.fields + ((AREA_M2, AREA_MU) if self.is_polygon else ())


CODE = Field("code", "code", "编码", "Code")
NAME = Field("name", "name", "名称", "Name")
KIND = Field("kind", "kind", "类型代码", "Kind (code)")
KIND_ZH = Field("kind_zh", "kind_zh", "类型", "Kind")
PARENT_CODE = Field("parent_code", "parent", "上级编码", "Parent code")
PARENT_NAME = Field("parent_name", "parent_nm", "上级名称", "Parent name")
COUNTY_CODE = Field("county_code", "county", "县级编码", "County code")
URBAN_RURAL = Field("urban_rural", "urban_rur", "城乡分类代码", "Urban-rural class (code)")
URBAN_RURAL_ZH = Field("urban_rural_zh", "urban_zh", "城乡分类", "Urban-rural class")
HOUSEHOLDS = Field("households", "households", "户数", "Households", "int")
PERSONS = Field("persons", "persons", "人口", "Persons", "int")
SYNTHETIC = Field("synthetic", "synthetic", "合成数据", "Synthetic data", "bool")
SOURCE = Field("source", "source", "数据来源", "Source")
AREA_M2 = Field("area_m2", "area_m2", "面积(平方米)", "Area (m²)", "float")
AREA_MU = Field("area_mu", "area_mu", "面积(亩)", "Area (mu)", "float")
GRID_CODE = Field("grid_code", "grid_code", "网格编码", "Grid code")
VILLAGE_CODE = Field("village_code", "village", "村(社区)编码", "Village code")
TOWNSHIP_CODE = Field("township_code", "township", "乡镇(街道)编码", "Township code")

UNIT_FIELDS = (
    CODE,
    NAME,
    KIND,
    KIND_ZH,
    PARENT_CODE,
    PARENT_NAME,
    COUNTY_CODE,
    URBAN_RURAL,
    URBAN_RURAL_ZH,
    HOUSEHOLDS,
    PERSONS,
    SYNTHETIC,
    SOURCE,
)
GRID_FIELDS = (
    *UNIT_FIELDS,
    Field("worker_id", "worker_id", "主责网格员编号", "Primary worker id", "int"),
    Field("worker_name", "worker", "主责网格员", "Primary worker"),
)
WORKER_FIELDS = (
    Field("id", "id", "编号", "Id", "int"),
    Field("name", "name", "姓名", "Name"),
    Field("phone", "phone", "电话", "Phone"),
    Field("role", "role", "角色代码", "Role (code)"),
    Field("role_zh", "role_zh", "角色", "Role"),
    Field("on_duty", "on_duty", "在岗", "On duty", "bool"),
    Field("grid_code", "grid_code", "所属网格", "Grid (primary, else first supporting)"),
    Field("grids", "grids", "联系网格", "All grids (comma-separated)"),
    Field("last_seen", "last_seen", "最后定位时间", "Last GPS fix at", "datetime"),
    Field("position_source", "pos_src", "位置来源代码", "Position source (code)"),
    Field("position_zh", "pos_zh", "位置来源", "Position source"),
    COUNTY_CODE,
    SYNTHETIC,
)
INCIDENT_FIELDS = (
    Field("id", "id", "案件编号", "Incident id", "int64"),
    Field("category_code", "category", "事件类别编码", "Category code"),
    Field("category_zh", "cat_zh", "事件类别", "Category"),
    Field("category_en", "cat_en", "事件类别(英文)", "Category (English)"),
    Field("case_type", "case_type", "案件类型代码", "Case type (code)"),
    Field("case_type_zh", "case_zh", "案件类型", "Case type"),
    Field("stage", "stage", "环节代码", "Stage (code)"),
    Field("stage_zh", "stage_zh", "环节", "Stage"),
    Field("tier", "tier", "响应层级代码", "Tier (code)"),
    Field("tier_zh", "tier_zh", "响应层级", "Tier"),
    GRID_CODE,
    VILLAGE_CODE,
    TOWNSHIP_CODE,
    COUNTY_CODE,
    Field("near_boundary", "near_bdry", "靠近边界", "Near a boundary", "bool"),
    Field("description", "descr", "描述", "Description"),
    Field("reporter", "reporter", "上报人", "Reporter"),
    Field("source", "source", "上报渠道", "Reported via"),
    Field("worker_id", "worker_id", "承办网格员编号", "Assigned worker id", "int"),
    Field("reported_at", "reported", "上报时间", "Reported at", "datetime"),
    Field("stage_due", "stage_due", "本环节时限", "Stage due at", "datetime"),
    Field("due_at", "due_at", "办结时限", "Due at", "datetime"),
    Field("closed_at", "closed_at", "结案时间", "Closed at", "datetime"),
    Field("rating", "rating", "评价", "Rating (1-5)", "int"),
    SYNTHETIC,
)
HOUSEHOLD_FIELDS = (
    Field("id", "id", "住户编号", "Household id", "int64"),
    VILLAGE_CODE,
    GRID_CODE,
    COUNTY_CODE,
    Field("persons", "persons", "人口", "Persons", "int"),
    Field("urban", "urban", "城镇住户", "Urban household", "bool"),
    SYNTHETIC,
)

POSITION_ZH = {
    "gps": "最后定位",
    "primary_grid": "主责网格内点(推定)",
    "supporting_grid": "协助网格内点(推定)",
    "none": "无位置",
}


def _read_units(session: Session, county: str, level: str) -> gpd.GeoDataFrame:
    frame = db.exports.units(session, county, level)
    frame["kind_zh"] = frame["kind"].map(UnitKind.labels())
    frame["urban_rural_zh"] = frame["urban_rural"].map(UrbanRural.labels())
    return frame


def _read_workers(session: Session, county: str) -> gpd.GeoDataFrame:
    frame = db.exports.workers(session, county)
    frame["role_zh"] = frame["role"].map(WorkerRole.labels())
    frame["position_zh"] = frame["position_source"].map(POSITION_ZH)
    return frame


def _read_incidents(session: Session, county: str) -> gpd.GeoDataFrame:
    frame = db.exports.incidents(session, county)
    frame["stage_zh"] = frame["stage"].map(Stage.labels())
    frame["tier_zh"] = frame["tier"].map(Tier.labels())
    frame["case_type_zh"] = frame["case_type"].map(CaseType.labels())
    return frame


LAYERS: tuple[Layer, ...] = (
    Layer(
        "counties",
        "县(市、区)",
        "County",
        "MultiPolygon",
        UNIT_FIELDS,
        functools.partial(_read_units, level="county"),
    ),
    Layer(
        "townships",
        "乡镇(街道)",
        "Townships and subdistricts",
        "MultiPolygon",
        UNIT_FIELDS,
        functools.partial(_read_units, level="township"),
    ),
    Layer(
        "villages",
        "村(社区)",
        "Villages and communities",
        "MultiPolygon",
        UNIT_FIELDS,
        functools.partial(_read_units, level="village"),
    ),
    Layer(
        "grids",
        "网格",
        "Grids",
        "MultiPolygon",
        GRID_FIELDS,
        functools.partial(_read_units, level="grid"),
    ),
    Layer("workers", "网格员", "Grid workers", "Point", WORKER_FIELDS, _read_workers),
    Layer(
        "incidents",
        "事件",
        "Incidents",
        "Point",
        INCIDENT_FIELDS,
        _read_incidents,
        title="category_zh",
    ),
    Layer(
        "households",
        "住户",
        "Households",
        "Point",
        HOUSEHOLD_FIELDS,
        db.exports.households,
        optional=True,
        title="id",
    ),
)
LAYER_NAMES: tuple[str, ...] = tuple(layer.name for layer in LAYERS)

# ---------------------------------------------------------------------------------------------
# Formats, CRS and encodings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Format:
    """An output format: one file (GeoPackage, KML) or a directory of per-layer files."""

    name: str
    label: str  # short name for messages
    title: str
    extension: str  # of the single file, or of each per-layer file in the directory
    single_file: bool
    lonlat_only: bool  # GeoJSON (RFC 7946) and KML are WGS84 lon/lat by definition
    media_type: str  # what the API sends: directories travel as one zip

    @property
    def download_extension(self) -> str:
        """Extension of the file the API sends."""
        return self.extension if self.single_file else ".zip"


ZIP = "application/zip"
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            name="gpkg",
            label="GeoPackage",
            title="GeoPackage, every layer in one file",
            extension=".gpkg",
            single_file=True,
            lonlat_only=False,
            media_type="application/geopackage+sqlite3",
        ),
        Format(
            name="shp",
            label="Shapefile",
            title="Shapefile, one zip per layer",
            extension=".zip",
            single_file=False,
            lonlat_only=False,
            media_type=ZIP,
        ),
        Format(
            name="geojson",
            label="GeoJSON",
            title="GeoJSON (RFC 7946), one file per layer",
            extension=".geojson",
            single_file=False,
            lonlat_only=True,
            media_type=ZIP,
        ),
        Format(
            name="kml",
            label="KML",
            title="KML, one folder per layer",
            extension=".kml",
            single_file=True,
            lonlat_only=True,
            media_type="application/vnd.google-earth.kml+xml",
        ),
        Format(
            name="csv",
            label="CSV",
            title="CSV with WKT geometry, one file per layer",
            extension=".csv",
            single_file=False,
            lonlat_only=False,
            media_type=ZIP,
        ),
        Format(
            name="parquet",
            label="GeoParquet",
            title="GeoParquet, one dataset per layer partitioned by county_code",
            extension=".parquet",
            single_file=False,
            lonlat_only=False,
            media_type=ZIP,
        ),
    )
}
CRS_CHOICES = ExportCRS.values()
# The canonical names (crs.crs_key) an export can be written in.
_EXPORT_CRS = {
    "cgcs2000": ExportCRS.CGCS2000,
    "wgs84": ExportCRS.WGS84,
    "gk": ExportCRS.GAUSS_KRUGER,
}
_EPSG_CODE = re.compile(r"(?:epsg:)?(\d{1,6})", re.ASCII)
ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK"}


def check_format(fmt: str) -> Format:
    """The Format named ``fmt`` (case-insensitive, leading dot allowed), else a clear error."""
    key = str(fmt).strip().lower().lstrip(".")
    key = {"shapefile": "shp", "geoparquet": "parquet", "json": "geojson"}.get(key, key)
    if key not in FORMATS:
        raise InvalidInputError(
            f"unknown export format {fmt!r}; valid choices: {', '.join(FORMATS)}",
            format=str(fmt),
            valid=list(FORMATS),
        )
    return FORMATS[key]


def check_crs(crs_name: str | None, fmt: Format) -> str:
    """Normalize a CRS choice to EPSG:4490, EPSG:4326, gk or an explicit GK zone EPSG:45xx.

    GeoJSON and KML are WGS84 lon/lat by definition: None or EPSG:4490 give EPSG:4326 there
    (the same numbers, see the module docstring); projected choices are refused.
    """
    if crs_name is None or not str(crs_name).strip():
        return "EPSG:4326" if fmt.lonlat_only else "EPSG:4490"
    key = crs.crs_key(crs_name)
    name: str | None = _EXPORT_CRS.get(key)
    # ASCII digits only, and few: "²".isdigit() is True but int("²") fails, and int() refuses
    # strings of over 4,300 digits.
    explicit = _EPSG_CODE.fullmatch(key)
    if name is None and explicit is not None:
        code = int(explicit.group(1))
        if GK_EPSG_RANGE[0] <= code <= GK_EPSG_RANGE[1]:
            name = f"EPSG:{code}"
    if name is None:
        raise InvalidInputError(
            f"unknown export CRS {crs_name!r}; valid choices: {', '.join(CRS_CHOICES)} "
            f"(gk = the county's CGCS2000 3-degree Gauss-Krüger zone; an explicit zone "
            f"EPSG:{GK_EPSG_RANGE[0]}–{GK_EPSG_RANGE[1]} is accepted too)",
            crs=str(crs_name),
            valid=list(CRS_CHOICES),
        )
    if fmt.lonlat_only:
        if name not in ("EPSG:4326", "EPSG:4490"):
            raise InvalidInputError(
                f"{fmt.label} is always WGS84 lon/lat (EPSG:4326), so crs={crs_name!r} cannot "
                "be written; use gpkg, shp, csv or parquet for Gauss-Krüger coordinates",
                crs=str(crs_name),
                format=fmt.name,
                valid=["EPSG:4326"],
            )
        return "EPSG:4326"
    return name


def check_encoding(encoding: str | None, fmt: Format) -> str:
    """UTF-8 or GBK (shapefile attribute text only), as written to the .cpg file."""
    key = str(encoding or "utf-8").strip().lower()
    if key not in ENCODINGS:
        raise InvalidInputError(
            f"unknown encoding {encoding!r}; valid choices: utf-8, gbk (gbk for shapefiles only)",
            encoding=str(encoding),
            valid=["utf-8", "gbk"],
        )
    value = ENCODINGS[key]
    if value != "UTF-8" and fmt.name != "shp":
        raise InvalidInputError(
            f"encoding {encoding!r} applies only to shapefiles; {fmt.label} is always UTF-8",
            encoding=str(encoding),
            format=fmt.name,
        )
    return value


def target_epsg(crs_name: str, county_geometry: shapely.Geometry) -> int:
    """EPSG code to write: 4490, 4326, or the GK zone of the county's centroid longitude."""
    if crs_name == "gk":
        return int(crs.gk_zone_epsg(shapely.get_x(shapely.centroid(county_geometry))))
    return int(crs_name.removeprefix("EPSG:"))


def default_path(county: str, fmt: str) -> Path:
    """Where an export goes when no path is given: ``513401.gpkg``, ``513401_shp/``…"""
    spec = check_format(fmt)
    return Path(f"{county}{spec.extension}" if spec.single_file else f"{county}_{spec.name}")


# ---------------------------------------------------------------------------------------------
# Reading and preparing layers (pure functions first)
# ---------------------------------------------------------------------------------------------


def polygon_areas(geoms: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Areas of lon/lat polygons in m² (0.01 m²) and in 亩 (0.0001 mu), in each GK zone."""
    m2 = crs.areas_m2(np.asarray(geoms, dtype=object))
    return np.round(m2, 2), np.round(m2 / M2_PER_MU, 4)


def _typed(frame: pd.DataFrame, fields: Iterable[Field]) -> pd.DataFrame:
    """Columns of ``fields`` in order, with types every driver writes the same way."""
    out: dict[str, Any] = {}
    for field in fields:
        column = frame[field.name]
        if field.type == "str":
            out[field.name] = column.astype(object).where(column.notna(), None)
        elif field.type == "int":
            out[field.name] = pd.array(column, dtype="Int32")
        elif field.type == "int64":
            out[field.name] = pd.array(column, dtype="Int64")
        elif field.type == "float":
            out[field.name] = column.astype("float64")
        elif field.type == "bool":
            out[field.name] = pd.array(column, dtype="boolean")
        else:  # datetime: shown in Beijing time, offset kept
            out[field.name] = pd.to_datetime(column, utc=True).dt.tz_convert(incidents.CHINA_TZ)
    return pd.DataFrame(out, index=frame.index)


def prepare(layer: Layer, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A source frame (lon/lat) as written: the layer's fields in order, areas for polygons."""
    missing = [f.name for f in layer.fields if f.name not in frame]
    if missing:  # a layer source that does not deliver its table's fields is a bug, not data
        raise KeyError(f"layer {layer.name}: the source gave no column for {', '.join(missing)}")
    frame = frame.reset_index(drop=True)
    if layer.is_polygon:
        frame["area_m2"], frame["area_mu"] = polygon_areas(frame.geometry.values)
    return gpd.GeoDataFrame(
        _typed(frame, layer.all_fields),
        geometry=gpd.GeoSeries(frame.geometry.values, crs="EPSG:4326"),
    )


def to_epsg(frame: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """Label lon/lat as EPSG:4490 or 4326 (same numbers), or project to a GK zone (always_xy)."""
    if epsg in (4326, 4490):
        return frame.set_crs(epsg=epsg, allow_override=True)
    transformer = _lonlat_to(epsg)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

    geoms = shapely.transform(np.asarray(frame.geometry.values, dtype=object), project)
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=f"EPSG:{epsg}"))


@functools.cache
def _lonlat_to(epsg: int) -> Transformer:
    return Transformer.from_crs("EPSG:4490", f"EPSG:{epsg}", always_xy=True)


def layers_for(*, households: bool = False) -> tuple[Layer, ...]:
    """The layers an export writes: every layer, optional ones only when asked for."""
    return tuple(layer for layer in LAYERS if not layer.optional or households)


def read_layers(
    session: Session, county: str, *, households: bool = False
) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of a county as written (EPSG:4326 lon/lat, areas included), by layer name.

    Raises InvalidCodeError for a malformed code and UnknownCodeError for a county not loaded.
    """
    hierarchy.get_unit(session, county, level="county")
    return {
        layer.name: prepare(layer, layer.read(session, county))
        for layer in layers_for(households=households)
    }


def field_dictionary(layers: Iterable[Layer] = LAYERS) -> pd.DataFrame:
    """Every field of ``layers``: layer, field, shapefile field, Chinese and English alias, type."""
    rows = [
        {
            "layer": layer.name,
            "layer_zh": layer.alias_zh,
            "field": field.name,
            "shp_field": field.shp,
            "alias_zh": field.alias_zh,
            "alias_en": field.alias_en,
            "type": field.type,
        }
        for layer in layers
        for field in layer.all_fields
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Writers: each gets the prepared layers and a path that does not exist yet
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    county: str
    epsg: int
    encoding: str
    layers: tuple[tuple[Layer, gpd.GeoDataFrame], ...]
    notes: list[str]  # what a format could not hold as given, for the report

    def stem(self, layer: Layer) -> str:
        return f"{self.county}_{layer.name}"


def _write_csv_frame(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8 with a BOM, so Excel shows the Chinese text without an import dialog."""
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


@contextmanager
def _gdal_config(**options: str) -> Iterator[None]:
    """Set GDAL config options for the duration of a write, then put the old values back.

    The options are process-wide: two exports at once may restore each other's setting early,
    which costs speed, never correctness (the file is synced before it is moved into place).
    """
    old = {name: pyogrio.get_gdal_config_option(name) for name in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def _write_gpkg(job: _Job, out: Path) -> list[str]:
    # SQLite would sync the scratch file after every layer; the export syncs it once, before
    # moving it into place (_sync), which is as safe and 2-3 times faster.
    fields = field_dictionary(layer for layer, _ in job.layers)
    with _gdal_config(OGR_SQLITE_SYNCHRONOUS="OFF"):
        _write_gpkg_layers(job, out, fields)
    _write_gpkg_aliases(out, fields)
    return [out.name]


def _write_gpkg_layers(job: _Job, out: Path, fields: pd.DataFrame) -> None:
    for position, (layer, frame) in enumerate(job.layers):
        # The standard allows only UTC datetimes ("…Z"); GDAL warns on anything else.
        utc = {
            f.name: frame[f.name].dt.tz_convert("UTC")
            for f in layer.all_fields
            if f.type == "datetime"
        }
        pyogrio.write_dataframe(
            frame.assign(**utc),
            out,
            layer=layer.name,
            driver="GPKG",
            geometry_type=layer.geometry_type,
            use_arrow=True,
            # 1.2 opens in every GIS still in use (GDAL < 3.7 warns on 1.4).
            dataset_options={"VERSION": "1.2"} if position == 0 else None,
            layer_options={
                "IDENTIFIER": layer.alias_zh,
                "DESCRIPTION": f"{layer.alias_zh} / {layer.alias_en} (gridmap {__version__})",
            },
        )
    pyogrio.write_dataframe(
        fields,
        out,
        layer=FIELD_DICTIONARY,
        driver="GPKG",
        use_arrow=True,
        layer_options={"IDENTIFIER": "字段说明", "DESCRIPTION": "Field dictionary / 字段说明"},
    )


def _write_gpkg_aliases(path: Path, fields: pd.DataFrame) -> None:
    """Record field aliases in gpkg_data_columns (GeoPackage schema extension).

    GDAL ≥ 3.7 reads ``name`` as the field's alternative name (QGIS shows it as the alias) and
    ``description`` as its comment. pyogrio cannot set them while writing, so they are added
    with SQL; older readers simply ignore the table and still have the field_dictionary layer.
    """
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE IF NOT EXISTS gpkg_data_columns (
                table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT,
                description TEXT, mime_type TEXT, constraint_name TEXT,
                CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
                CONSTRAINT gdc_tn UNIQUE (table_name, name)
            );
            CREATE TABLE IF NOT EXISTS gpkg_extensions (
                table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
                definition TEXT NOT NULL, scope TEXT NOT NULL,
                CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
            );
            """
        )
        schema = "http://www.geopackage.org/spec/#extension_schema"
        for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            connection.execute(
                "INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', ?, ?)",
                (table, schema, "read-write"),
            )
        connection.executemany(
            "INSERT OR REPLACE INTO gpkg_data_columns "
            "(table_name, column_name, name, title, description) VALUES (?, ?, ?, ?, ?)",
            [
                (r.layer, r.field, r.alias_zh, r.alias_en, f"{r.alias_zh} / {r.alias_en}")
                for r in fields.itertuples(index=False)
            ],
        )
    # The schema extension also names a constraints table; create it empty so readers that
    # follow gpkg_extensions find it.
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints ("
            "constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, "
            "min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, "
            "description TEXT, "
            "CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))"
        )


def _for_shapefile(
    layer: Layer, frame: gpd.GeoDataFrame, codec: str, notes: list[str]
) -> gpd.GeoDataFrame:
    """Shapefile field names (≤ 10 bytes), booleans as 1/0, times as Beijing-time text, and
    text cut to the 254 bytes a dBASE field holds (each cut noted in ``notes``)."""
    out = frame.copy()
    for field in layer.all_fields:
        if field.type == "bool":
            out[field.name] = out[field.name].astype("Int32")
        elif field.type == "datetime":
            text = out[field.name].dt.strftime("%Y-%m-%d %H:%M:%S")
            out[field.name] = text.astype(object).where(text.notna(), None)
        elif field.type == "str":
            text = out[field.name].dropna().astype(str)
            # At most 4 bytes a character: only strings over 63 characters can be too long.
            long = text[text.str.len() > DBF_TEXT_BYTES // 4]
            encoded = long.str.encode(codec)
            cut = encoded[encoded.str.len() > DBF_TEXT_BYTES]
            if len(cut):
                out.loc[cut.index, field.name] = [
                    value[:DBF_TEXT_BYTES].decode(codec, errors="ignore") for value in cut
                ]
                notes.append(
                    f"{layer.name}.{field.name}: {len(cut)} value(s) cut to {DBF_TEXT_BYTES} "
                    "bytes (the shapefile limit); other formats keep them whole"
                )
    return out.rename(columns={f.name: f.shp for f in layer.all_fields})


def _check_encodable(layer: Layer, frame: pd.DataFrame, codec: str) -> None:
    """Refuse text the codec cannot hold, naming the culprit, instead of writing '?'."""
    for field in layer.all_fields:
        if field.type != "str":
            continue
        for value in pd.unique(frame[field.name].dropna()):
            try:
                str(value).encode(codec)
            except UnicodeEncodeError as error:
                bad = str(value)[error.start : error.end]
                raise InvalidInputError(
                    f"layer {layer.name}, field {field.name}: {value!r} has {bad!r}, which "
                    f"{codec.upper()} cannot encode; export with encoding='utf-8' instead",
                    layer=layer.name,
                    field=field.name,
                    value=str(value),
                ) from error


def _shapefile_dictionary(layer: Layer) -> pd.DataFrame:
    """The field dictionary shipped in each shapefile zip: field, alias_zh, alias_en, type."""
    rows = [
        {
            "field": f.shp,
            "alias_zh": f.alias_zh,
            "alias_en": f.alias_en,
            "type": _SHAPEFILE_TYPES[f.type],
            "name": f.name,
        }
        for f in layer.all_fields
    ]
    return pd.DataFrame(rows)


_SHAPEFILE_TYPES = {
    "str": "text",
    "int": "integer",
    "int64": "integer",
    "float": "real",
    "bool": "integer (1 = yes / 是, 0 = no / 否)",
    "datetime": "text, YYYY-MM-DD HH:MM:SS Beijing time (UTC+8) / 北京时间",
}


def _write_shp(job: _Job, out: Path) -> list[str]:
    out.mkdir()
    written = []
    for layer, frame in job.layers:
        stem = job.stem(layer)
        work = out / f".{stem}"
        work.mkdir()
        if job.encoding != "UTF-8":
            _check_encodable(layer, frame, job.encoding)
        shp_frame = _for_shapefile(layer, frame, job.encoding, job.notes)
        pyogrio.write_dataframe(
            shp_frame,
            work / f"{stem}.shp",
            driver="ESRI Shapefile",
            geometry_type=layer.geometry_type,
            encoding=job.encoding,  # recodes the text and writes the .cpg
            use_arrow=True,
        )
        _write_csv_frame(_shapefile_dictionary(layer), work / f"{stem}_fields.csv")
        with zipfile.ZipFile(out / f"{stem}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(work.iterdir()):
                archive.write(member, member.name)
        shutil.rmtree(work)
        written.append(f"{stem}.zip")
    return written


def _write_geojson(job: _Job, out: Path) -> list[str]:
    out.mkdir()
    written = []
    for layer, frame in job.layers:
        name = f"{job.stem(layer)}.geojson"
        pyogrio.write_dataframe(
            frame,
            out / name,
            driver="GeoJSON",
            geometry_type=layer.geometry_type,
            layer_options={"RFC7946": "YES"},  # lon/lat WGS84, no "crs" member, 7 decimals
            use_arrow=True,
        )
        written.append(name)
    return written


def _write_kml(job: _Job, out: Path) -> list[str]:
    for position, (layer, frame) in enumerate(job.layers):
        labelled = frame.copy()
        for field in layer.all_fields:  # KML has no datetime attribute type
            if field.type == "datetime":
                text = labelled[field.name].dt.strftime("%Y-%m-%d %H:%M:%S%z")
                labelled[field.name] = text.astype(object).where(text.notna(), None)
        if layer.title != "name":  # the driver titles placemarks from a field called "name"
            labelled.insert(0, "name", labelled[layer.title].astype("string").astype(object))
        pyogrio.write_dataframe(
            labelled,
            out,
            layer=layer.name,
            driver="KML",
            append=position > 0,
            dataset_options={"NameField": "name"} if position == 0 else None,
        )
    return [out.name]


_CSVT_TYPES = {
    "str": "String",
    "int": "Integer",
    "int64": "Integer64",
    "float": "Real",
    "bool": "Integer(Boolean)",
    "datetime": "DateTime",
}


def _write_csv(job: _Job, out: Path) -> list[str]:
    """A CSV per layer with a .csvt (column types) and a .prj (CRS), both read by GDAL/QGIS."""
    out.mkdir()
    precision = 8 if job.epsg in (4326, 4490) else 3  # 1 mm either way
    prj = pyproj.CRS.from_epsg(job.epsg).to_wkt("WKT1_ESRI")
    written = []
    for layer, frame in job.layers:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        wkt = shapely.to_wkt(geoms, rounding_precision=precision, trim=True)
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        for field in layer.all_fields:
            if field.type == "datetime":
                text = table[field.name].map(lambda t: t.isoformat() if pd.notna(t) else None)
                table[field.name] = text
            elif field.type == "bool":
                table[field.name] = table[field.name].map({True: "true", False: "false"})
        # "WKT" is the column name GDAL and QGIS recognise as geometry without being told.
        table.insert(0, "WKT", wkt)
        stem = job.stem(layer)
        _write_csv_frame(table, out / f"{stem}.csv")
        types = ["WKT", *(_CSVT_TYPES[f.type] for f in layer.all_fields)]
        (out / f"{stem}.csvt").write_text(",".join(f'"{t}"' for t in types) + "\n")
        (out / f"{stem}.prj").write_text(prj)
        written += [f"{stem}.csv", f"{stem}.csvt", f"{stem}.prj"]
    return written


def _write_parquet(job: _Job, out: Path) -> list[str]:
    out.mkdir()
    written = []
    for layer, frame in job.layers:
        # Hive-style partition: the value lives in the directory name, not in the file.
        partition = out / layer.name / f"county_code={job.county}"
        partition.mkdir(parents=True)
        frame.drop(columns="county_code").to_parquet(
            partition / "part-0.parquet",
            index=False,
            compression="zstd",
            schema_version="1.1.0",
            write_covering_bbox=True,  # lets Sedona/DuckDB skip row groups by bbox
        )
        written.append(f"{layer.name}/county_code={job.county}/part-0.parquet")
    return written


WRITERS: dict[str, Callable[[_Job, Path], list[str]]] = {
    "gpkg": _write_gpkg,
    "shp": _write_shp,
    "geojson": _write_geojson,
    "kml": _write_kml,
    "csv": _write_csv,
    "parquet": _write_parquet,
}

# ---------------------------------------------------------------------------------------------
# Output paths: never half-written, never clobbering what the caller did not ask to replace
# ---------------------------------------------------------------------------------------------


def _check_target(path: Path, fmt: Format, *, overwrite: bool) -> Path:
    path = Path(path)
    if fmt.single_file and path.suffix.lower() != fmt.extension:
        raise InvalidInputError(
            f"a {fmt.label} export needs a path ending in {fmt.extension}, not {str(path)!r}",
            path=str(path),
        )
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise InvalidInputError(
                f"{str(path)!r} already exists; choose another path or pass overwrite=True "
                "(--overwrite)",
                path=str(path),
            )
        if fmt.single_file and path.is_dir():
            raise InvalidInputError(f"{str(path)!r} is a directory, not a file", path=str(path))
        if not fmt.single_file and not (path / MANIFEST).is_file():
            raise InvalidInputError(
                f"{str(path)!r} exists and is not a previous gridmap export (no {MANIFEST}); "
                "refusing to replace it",
                path=str(path),
            )
    return path


def _sync(path: Path) -> None:
    """Flush written files to disk, so the renamed result survives a power cut whole."""
    for member in [path] if path.is_file() else sorted(path.rglob("*")):
        if member.is_file():
            with open(member, "rb") as handle:
                os.fsync(handle.fileno())


def _move_into_place(source: Path, target: Path) -> None:
    """Replace ``target`` by ``source`` (same filesystem): a rename, so never half there."""
    if source.is_dir() and target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        source.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def export_county(
    session: Session,
    county: str,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    crs: str | None = None,
    households: bool = False,
    encoding: str = "utf-8",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write every layer of ``county`` to ``path`` in format ``fmt``; return a report.

    Parameters
    ----------
    fmt
        ``gpkg`` (one file), ``kml`` (one file), or ``shp`` / ``geojson`` / ``csv`` /
        ``parquet`` (a directory of per-layer files; shapefiles as one zip per layer).
    crs
        ``EPSG:4490`` (default; CGCS2000 lon/lat), ``EPSG:4326``, or ``gk`` (the county's
        CGCS2000 3-degree Gauss–Krüger zone). GeoJSON and KML are always EPSG:4326.
    households
        Also write the households layer (large: one point per household).
    encoding
        ``utf-8`` or ``gbk``; shapefiles only (older ArcGIS versions read GBK attribute text).
    overwrite
        Replace an existing file, or a directory holding a previous export.

    Raises InvalidInputError for a bad format, CRS, encoding or path, InvalidCodeError for a
    malformed county code and UnknownCodeError for a county that is not loaded.
    """
    started = time.perf_counter()
    spec = check_format(fmt)
    crs_name = check_crs(crs, spec)
    cpg = check_encoding(encoding, spec)
    target = _check_target(Path(path), spec, overwrite=overwrite)
    county_row = hierarchy.get_unit(session, county, level="county")
    epsg = target_epsg(crs_name, county_row.geometry)
    layers = layers_for(households=households)
    job = _Job(
        county=county,
        epsg=epsg,
        encoding=cpg,
        notes=[],
        layers=tuple(
            (layer, to_epsg(prepare(layer, layer.read(session, county)), epsg)) for layer in layers
        ),
    )
    report: dict[str, Any] = {
        "county_code": county,
        "county_name": county_row["name"],
        "format": spec.name,
        "crs": f"EPSG:{epsg}",
        "epsg": epsg,
        "path": str(target),
        "encoding": cpg,
        "households": households,
        "layers": [
            {
                "name": layer.name,
                "alias_zh": layer.alias_zh,
                "alias_en": layer.alias_en,
                "geometry_type": layer.geometry_type,
                "features": len(frame),
            }
            for layer, frame in job.layers
        ],
        "gridmap_version": __version__,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        out = scratch / target.name
        files = WRITERS[spec.name](job, out)
        if not spec.single_file:
            _write_csv_frame(field_dictionary(layers), out / f"{FIELD_DICTIONARY}.csv")
            files.append(f"{FIELD_DICTIONARY}.csv")
            files.append(MANIFEST)
        report["files"] = files
        report["notes"] = job.notes
        report["seconds"] = round(time.perf_counter() - started, 3)
        if not spec.single_file:
            (out / MANIFEST).write_text(
                json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
            )
        _sync(out)
        _move_into_place(out, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report


# ---------------------------------------------------------------------------------------------
# Summary tables (汇总表) per township and per village
# ---------------------------------------------------------------------------------------------

SUMMARY_LEVELS = (Level.TOWNSHIP, Level.VILLAGE)
SUMMARY_FORMATS = ("csv", "xlsx")
SUMMARY_HEADERS: dict[str, tuple[str, str]] = {
    "code": ("编码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型代码", "Kind"),
    "kind_zh": ("类型", "Kind"),
    "township_code": ("乡镇(街道)编码", "Township code"),
    "township_name": ("乡镇(街道)", "Township"),
    "villages": ("村(社区)数", "Villages"),
    "grids": ("网格数", "Grids"),
    "households": ("户数", "Households"),
    "persons": ("人口", "Persons"),
    "workers": ("网格工作人员(人)", "Workers"),
    **{
        f"incidents_{stage}": (f"事件({zh})", f"Incidents ({stage})")
        for stage, zh in Stage.labels().items()
    },
    "incidents_total": ("事件合计", "Incidents (total)"),
}
SHEET_NAMES = {"township": ("乡镇(街道)", "townships"), "village": ("村(社区)", "villages")}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def check_level(level: str) -> str:
    """``township`` or ``village``, else a clear error."""
    if level not in SUMMARY_LEVELS:
        raise InvalidInputError(
            f"unknown summary level {level!r}; valid choices: {', '.join(SUMMARY_LEVELS)}",
            level=str(level),
            valid=list(SUMMARY_LEVELS),
        )
    return level


def check_lang(lang: str) -> Language:
    """``zh`` (Chinese headers) or ``en``."""
    return Language.parse(lang)


def summary_table(session: Session, county: str, level: str) -> pd.DataFrame:
    """One row per current township or village: counts of units, households, persons, workers
    and incidents per stage (``incidents_<stage>``, ``incidents_total``); English column names,
    see :data:`SUMMARY_HEADERS` for the Chinese ones."""
    check_level(level)
    hierarchy.get_unit(session, county, level="county")
    return _summary(session, county, level)


def summary_totals(session: Session, county: str) -> dict[str, int]:
    """County-wide figures for a totals row. Workers are counted once each, so the total is not
    the sum of the rows when someone serves grids in two townships."""
    hierarchy.get_unit(session, county, level="county")
    row = _summary(session, county, "county").iloc[0]
    return {name: int(row[name]) for name in row.index[row.index.get_loc("villages") :]}


def _summary(session: Session, county: str, level: str) -> pd.DataFrame:
    table = db.exports.summary(session, county, level)
    table["kind_zh"] = table["kind"].map(UnitKind.labels())
    stages = db.exports.incident_stages(session, county, level)
    counts = (
        stages.pivot_table(index="code", columns="stage", values="incidents", aggfunc="sum")
        .reindex(columns=list(Stage))
        .reindex(table["code"])
        .fillna(0)
        .astype("int64")
    )
    for stage in Stage:
        table[f"incidents_{stage}"] = counts[stage].to_numpy()
    table["incidents_total"] = counts.sum(axis=1).to_numpy()
    if level in ("county", "township"):
        columns = ["code", "name", "kind", "kind_zh", "villages"]
    else:
        table = table.rename(
            columns={"parent_code": "township_code", "parent_name": "township_name"}
        )
        columns = ["code", "name", "kind", "kind_zh", "township_code", "township_name"]
    columns += ["grids", "households", "persons", "workers"]
    columns += [f"incidents_{s}" for s in Stage] + ["incidents_total"]
    numeric = columns[columns.index("grids") :]
    table[numeric] = table[numeric].astype("int64")
    return table[columns].reset_index(drop=True)


def summary_tables(session: Session, county: str) -> dict[str, pd.DataFrame]:
    """The township and the village summary tables of a county, by level."""
    return {level: summary_table(session, county, level) for level in SUMMARY_LEVELS}


def labelled(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """A summary table with Chinese (``zh``) or English (``en``) headers, one kind column."""
    check_lang(lang)
    table = table.drop(columns="kind" if lang == "zh" else "kind_zh")
    position = 0 if lang == "zh" else 1
    return table.rename(columns={c: SUMMARY_HEADERS[c][position] for c in table.columns})


def write_summary_csv(
    table: pd.DataFrame, path: str | os.PathLike[str], *, lang: str = "zh"
) -> Path:
    """One summary table as CSV (UTF-8 with BOM, for Excel), written atomically."""
    target = Path(path)
    with _atomic(target) as scratch:
        _write_csv_frame(labelled(table, lang), scratch)
    return target


def write_summary_xlsx(
    tables: dict[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    lang: str = "zh",
    totals: dict[str, int] | None = None,
) -> Path:
    """Summary tables as one workbook, a sheet per level, with a bold header, frozen header row
    and fitted column widths, written atomically. A totals row (合计) ends each sheet: the
    county-wide ``totals`` (:func:`summary_totals`) where given, else column sums."""
    from openpyxl.styles import Font

    target = Path(path)
    with _atomic(target) as scratch, pd.ExcelWriter(scratch, engine="openpyxl") as writer:
        for level, table in tables.items():
            check_level(level)
            sums = {**table.select_dtypes("number").sum(), **(totals or {})}
            total = labelled(
                pd.DataFrame([{c: sums.get(c) for c in table.columns}], columns=table.columns),
                lang,
            ).iloc[0]
            total.iloc[0] = "合计" if lang == "zh" else "Total"
            frame = labelled(table, lang)
            sheet_name = SHEET_NAMES[level][0 if lang == "zh" else 1]
            frame.to_excel(writer, sheet_name=sheet_name, index=False)
            sheet = writer.sheets[sheet_name]
            sheet.append([None if pd.isna(v) else v for v in total.tolist()])
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
            sheet.freeze_panes = "C2"
            for index, column in enumerate(frame.columns, start=1):
                width = max(
                    [_display_width(str(column))] + [_display_width(str(v)) for v in frame[column]]
                )
                sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(
                    width + 2, 40
                )
    return target


def _display_width(text: str) -> int:
    """Columns a string takes in a spreadsheet: CJK characters count double."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """Yield a scratch path next to ``target``; rename it over ``target`` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


def export_summary(
    session: Session,
    county: str,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    level: str | None = None,
    lang: str = "zh",
) -> dict[str, Any]:
    """Write summary tables: CSV holds one level (default township), XLSX every level asked for
    (default both, a sheet each). Returns a report with the row counts."""
    key = str(fmt).strip().lower().lstrip(".")
    if key not in SUMMARY_FORMATS:
        raise InvalidInputError(
            f"unknown summary format {fmt!r}; valid choices: {', '.join(SUMMARY_FORMATS)}",
            format=str(fmt),
            valid=list(SUMMARY_FORMATS),
        )
    check_lang(lang)
    levels = (
        [check_level(level)] if level else (["township"] if key == "csv" else list(SUMMARY_LEVELS))
    )
    tables = {lvl: summary_table(session, county, lvl) for lvl in levels}
    if key == "csv":
        write_summary_csv(tables[levels[0]], path, lang=lang)
    else:
        write_summary_xlsx(tables, path, lang=lang, totals=summary_totals(session, county))
    return {
        "county_code": county,
        "format": key,
        "path": str(path),
        "lang": lang,
        "rows": {lvl: len(t) for lvl, t in tables.items()},
    }


# ---------------------------------------------------------------------------------------------
# Downloads: one file per request (directories zipped)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Download:
    """A file ready to send: where it is, the name to offer and its media type."""

    path: Path
    filename: str
    media_type: str
    report: dict[str, Any]


def export_download(
    session: Session,
    county: str,
    fmt: str,
    directory: str | os.PathLike[str],
    *,
    crs: str | None = None,
    households: bool = False,
    encoding: str = "utf-8",
) -> Download:
    """Export into ``directory`` (a scratch directory the caller removes) as one file: the
    GeoPackage or KML itself, or a zip of the per-layer files (shapefiles: a zip of zips)."""
    spec = check_format(fmt)
    _check_county(county)  # before the code becomes part of a file name
    workdir = Path(directory)
    staging = workdir / (
        f"{county}{spec.extension}" if spec.single_file else f"{county}_{spec.name}"
    )
    report = export_county(
        session, county, spec.name, staging, crs=crs, households=households, encoding=encoding
    )
    name = f"{county}_epsg{report['epsg']}"
    if spec.name == "shp" and report["encoding"] != "UTF-8":
        name += f"_{report['encoding'].lower()}"
    if spec.single_file:
        return Download(staging, f"{name}{spec.extension}", spec.media_type, report)
    archive = workdir / f"{name}_{spec.name}.zip"
    _zip_directory(staging, archive, root=f"{name}_{spec.name}")
    return Download(archive, archive.name, spec.media_type, report)


def _check_county(county: str) -> None:
    """A county code of six ASCII digits ("５１３４０１".isdigit() is True too)."""
    if not county.isascii():
        raise InvalidCodeError(
            f"county code {county!r} must be 6 ASCII digits", code=county, level="county"
        )
    codes.check_code(county, "county")


def summary_download(
    session: Session,
    county: str,
    fmt: str,
    directory: str | os.PathLike[str],
    *,
    level: str | None = None,
    lang: str = "zh",
) -> Download:
    """Summary tables as one CSV or XLSX file in ``directory``."""
    key = str(fmt).strip().lower().lstrip(".")
    _check_county(county)  # before the code becomes part of a file name
    suffix = f"_{check_level(level)}" if level else ""
    path = Path(directory) / f"{county}_summary{suffix}.{key}"
    report = export_summary(session, county, key, path, level=level, lang=lang)
    media_type = XLSX_MEDIA_TYPE if key == "xlsx" else CSV_MEDIA_TYPE
    return Download(path, path.name, media_type, report)


def _zip_directory(source: Path, archive: Path, *, root: str) -> None:
    """Zip a directory under one root folder; zips inside are stored, not compressed again."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for member in sorted(source.rglob("*")):
            if member.is_file():
                kind = zipfile.ZIP_STORED if member.suffix == ".zip" else zipfile.ZIP_DEFLATED
                out.write(member, f"{root}/{member.relative_to(source).as_posix()}", kind)
