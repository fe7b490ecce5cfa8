"""Formats, CRS and encodings (导出格式, 导出坐标系): the choices an export accepts.

:data:`FORMATS` lists every output format; :func:`check_format`, :func:`check_crs` and
:func:`check_encoding` normalize a caller's choice or refuse it naming the valid ones, before
anything is read or written. CRS aliases come from :func:`gridmap.crs.crs_key` and the choices
from :class:`gridmap.vocabulary.ExportCRS`.

Coordinates are stored in WGS84 and CGCS2000 differs from it by well under a metre, far below
the accuracy of grid boundaries, so the default EPSG:4490 output *relabels* the same lon/lat
numbers (no datum shift). ``crs="gk"`` projects to the county's
Gauss–Krüger zone (EPSG:4534–4554, no zone prefix in the easting). Coordinates are always written
lon/lat (traditional GIS order), whatever axis order the EPSG definition lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import shapely

from gridmap import crs
from gridmap.errors import InvalidInputError
from gridmap.vocabulary import ExportCRS

GK_EPSG_RANGE = (4534, 4554)  # CGCS2000 3-degree GK zones, CM 75E..135E, no zone prefix


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
    """Where an export goes when no path is given: ``513401.gpkg``, ``513401_shp/`` etc."""
    spec = check_format(fmt)
    return Path(f"{county}{spec.extension}" if spec.single_file else f"{county}_{spec.name}")
