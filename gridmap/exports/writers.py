"""Writers: one function per format, each given the prepared layers and a path not there yet.

GeoPackage (aliases in ``gpkg_data_columns``), shapefiles (one zip per layer, GBK on request),
GeoJSON (RFC 7946), KML, CSV with WKT and GeoParquet, all from the same :class:`Job`;
:func:`to_epsg` labels or projects the frames first. :data:`WRITERS` maps a format name to its
writer.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd
import pyogrio
import pyproj
import shapely
from pyproj import Transformer

from gridmap import __version__
from gridmap.errors import InvalidInputError
from gridmap.exports.layers import FIELD_DICTIONARY, Layer, field_dictionary

DBF_TEXT_BYTES = 254  # longest text a dBASE (shapefile) field holds


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


@dataclass(frozen=True, slots=True)
class Job:
    """What a writer gets: the county, the EPSG code and shapefile text encoding to write, the
    prepared layers (:func:`gridmap.exports.layers.prepare`, then :func:`to_epsg`), and a list
    the writer adds notes to.
    """

    county: str
    epsg: int
    encoding: str
    layers: tuple[tuple[Layer, gpd.GeoDataFrame], ...]
    notes: list[str]  # what a format could not hold as given, for the report

    def stem(self, layer: Layer) -> str:
        """A layer's file name without extension: ``513401_grids``."""
        return f"{self.county}_{layer.name}"


def write_csv_frame(frame: pd.DataFrame, path: Path) -> None:
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


def _write_gpkg(job: Job, out: Path) -> list[str]:
    # SQLite would sync the scratch file after every layer; the export syncs it once, before
    # moving it into place (_sync), which is as safe and 2-3 times faster.
    fields = field_dictionary(layer for layer, _ in job.layers)
    with _gdal_config(OGR_SQLITE_SYNCHRONOUS="OFF"):
        _write_gpkg_layers(job, out, fields)
    _write_gpkg_aliases(out, fields)
    return [out.name]


def _write_gpkg_layers(job: Job, out: Path, fields: pd.DataFrame) -> None:
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
    text cut to the 254 bytes a dBASE field holds (each cut noted in ``notes``).
    """
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


def _write_shp(job: Job, out: Path) -> list[str]:
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
        write_csv_frame(_shapefile_dictionary(layer), work / f"{stem}_fields.csv")
        with zipfile.ZipFile(out / f"{stem}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(work.iterdir()):
                archive.write(member, member.name)
        shutil.rmtree(work)
        written.append(f"{stem}.zip")
    return written


def _write_geojson(job: Job, out: Path) -> list[str]:
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


def _write_kml(job: Job, out: Path) -> list[str]:
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


def _write_csv(job: Job, out: Path) -> list[str]:
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
        write_csv_frame(table, out / f"{stem}.csv")
        types = ["WKT", *(_CSVT_TYPES[f.type] for f in layer.all_fields)]
        (out / f"{stem}.csvt").write_text(",".join(f'"{t}"' for t in types) + "\n")
        (out / f"{stem}.prj").write_text(prj)
        written += [f"{stem}.csv", f"{stem}.csvt", f"{stem}.prj"]
    return written


def _write_parquet(job: Job, out: Path) -> list[str]:
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


WRITERS: dict[str, Callable[[Job, Path], list[str]]] = {
    "gpkg": _write_gpkg,
    "shp": _write_shp,
    "geojson": _write_geojson,
    "kml": _write_kml,
    "csv": _write_csv,
    "parquet": _write_parquet,
}
