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

The modules, each importing only those listed after it:

- ``downloads``: one file per HTTP request (:func:`export_download`, :func:`summary_download`)
- ``gis``: :func:`export_county`, the options checked, the files placed atomically
- ``summary``: the township and village summary tables (汇总表), CSV and XLSX
- ``writers``: one writer per format (:data:`WRITERS`), CRS labelling (:func:`to_epsg`)
- ``layers``: the layer and field table, Chinese aliases, reading layers from ``gridmap.db``
- ``formats``: the format table, CRS and encoding choices

Callers use the names below, ``from gridmap import exports; exports.export_county(...)``.
"""

from gridmap.exports.downloads import Download, check_county, export_download, summary_download
from gridmap.exports.formats import (
    CRS_CHOICES,
    ENCODINGS,
    FORMATS,
    GK_EPSG_RANGE,
    Format,
    check_crs,
    check_encoding,
    check_format,
    default_path,
    target_epsg,
)
from gridmap.exports.gis import MANIFEST, export_county
from gridmap.exports.layers import (
    FIELD_DICTIONARY,
    FIELD_TYPES,
    LAYER_NAMES,
    LAYERS,
    M2_PER_MU,
    Field,
    Layer,
    field_dictionary,
    layers_for,
    polygon_areas,
    prepare,
    read_layers,
)
from gridmap.exports.summary import (
    CSV_MEDIA_TYPE,
    SHEET_NAMES,
    SUMMARY_FORMATS,
    SUMMARY_HEADERS,
    SUMMARY_LEVELS,
    XLSX_MEDIA_TYPE,
    check_lang,
    check_level,
    export_summary,
    labelled,
    summary_table,
    summary_tables,
    summary_totals,
    write_summary_csv,
    write_summary_xlsx,
)
from gridmap.exports.writers import DBF_TEXT_BYTES, WRITERS, to_epsg

__all__ = [
    "CRS_CHOICES",
    "CSV_MEDIA_TYPE",
    "DBF_TEXT_BYTES",
    "ENCODINGS",
    "FIELD_DICTIONARY",
    "FIELD_TYPES",
    "FORMATS",
    "GK_EPSG_RANGE",
    "LAYERS",
    "LAYER_NAMES",
    "M2_PER_MU",
    "MANIFEST",
    "SHEET_NAMES",
    "SUMMARY_FORMATS",
    "SUMMARY_HEADERS",
    "SUMMARY_LEVELS",
    "WRITERS",
    "XLSX_MEDIA_TYPE",
    "Download",
    "Field",
    "Format",
    "Layer",
    "check_county",
    "check_crs",
    "check_encoding",
    "check_format",
    "check_lang",
    "check_level",
    "default_path",
    "export_county",
    "export_download",
    "export_summary",
    "field_dictionary",
    "labelled",
    "layers_for",
    "polygon_areas",
    "prepare",
    "read_layers",
    "summary_download",
    "summary_table",
    "summary_tables",
    "summary_totals",
    "target_epsg",
    "to_epsg",
    "write_summary_csv",
    "write_summary_xlsx",
]
