"""The layer table (成果导出图层): every exported layer, its fields and Chinese aliases.

One row of :data:`LAYERS` per layer (name, Chinese and English alias, geometry type, fields,
where the rows come from in :mod:`gridmap.db.exports`); every format is written from it, so a
new layer (relocation sites, say) is one more row. :func:`prepare` turns a source frame into the
frame every writer gets: the fields in order, with types every driver writes the same way, and
``area_m2``/``area_mu`` (亩) on polygon layers, measured in each feature's CGCS2000 3-degree
Gauss–Krüger zone (:func:`gridmap.crs.areas_m2`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import geopandas as gpd

from gridmap import crs, db, hierarchy, incidents
from gridmap.auth.access import hidden_fields, sees_sensitive
from gridmap.vocabulary import CaseType, Role, Stage, Tier, UnitKind, UrbanRural, WorkerRole

M2_PER_MU = 10_000 / 15  # 1 亩 = 666.6667 m² (15 亩 = 1 公顷)
FIELD_DICTIONARY = "field_dictionary"  # the layer (GeoPackage) or CSV listing every field

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
    resource: str = ""  # its rows' kind in gridmap.auth.access.FIELDS (which fields are personal)
    personal_points: bool = False  # each point is where a person is (sensitive as a whole)

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
        resource="grid",
    ),
    Layer(
        "workers",
        "网格员",
        "Grid workers",
        "Point",
        WORKER_FIELDS,
        _read_workers,
        resource="worker",
        personal_points=True,
    ),
    Layer(
        "incidents",
        "事件",
        "Incidents",
        "Point",
        INCIDENT_FIELDS,
        _read_incidents,
        title="category_zh",
        resource="incident",
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
        resource="household",
        personal_points=True,
    ),
)
LAYER_NAMES: tuple[str, ...] = tuple(layer.name for layer in LAYERS)

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
            out[field.name] = pd.array(column.to_numpy(), dtype="Int32")
        elif field.type == "int64":
            out[field.name] = pd.array(column.to_numpy(), dtype="Int64")
        elif field.type == "float":
            out[field.name] = column.astype("float64")
        elif field.type == "bool":
            out[field.name] = pd.array(column.to_numpy(), dtype="boolean")
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


def layers_for(*, households: bool = False, role: Role | None = None) -> tuple[Layer, ...]:
    """The layers an export writes: every layer, optional ones only when asked for; for a
    ``role``, without the fields it may not see, and without layers whose points are people
    (workers, households) unless it sees sensitive data.
    """
    chosen = [layer for layer in LAYERS if not layer.optional or households]
    if role is None:
        return tuple(chosen)
    return tuple(
        replace(
            layer,
            fields=tuple(
                f for f in layer.fields if f.name not in hidden_fields(layer.resource, role)
            ),
        )
        for layer in chosen
        if not layer.personal_points or sees_sensitive(role)
    )


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
