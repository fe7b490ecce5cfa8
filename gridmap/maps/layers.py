"""Map layers: grids, households, outlines, heat map, incidents, workers, with legends and labels.

Each builder turns loaded :class:`MapData` into folium layers; :func:`draw_layers` runs those
asked for, bottom to top. Geometries are simplified per map level (topology kept per polygon)
and rounded to 6 decimals (≈ 0.1 m), which keeps a whole county's page to a few megabytes.
Every name and label goes through :func:`html.escape`: folium writes tooltip values into
``innerHTML``, and a worker's name is user input.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import folium
import folium.plugins
import numpy as np
import pandas as pd
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from numpy.typing import NDArray

import geopandas as gpd
import shapely

from gridmap import incidents
from gridmap.incidents import IncidentView
from gridmap.maps.assets import ASSETS, Legend
from gridmap.maps.tiles import TILE_MIN_ZOOM
from gridmap.vocabulary import Duty, Facility, Language, Level, SiteKind, Stage, WorkerRole
from gridmap.workers import WorkerView

LANGS: tuple[str, ...] = Language.values()

# Simplification tolerance in degrees by the level of the map's subject: about a pixel at the
# zoom that fits the subject (county ≈ z10–11, township ≈ z12–13, village ≈ z14–15, grid ≈ z17).
TOLERANCE_DEG: dict[str, float] = {
    # ≈ 30 m, under half a pixel at z11: smooths the zigzag H3-cell edges of generated grids
    # (0.0002 removes almost nothing; 0.0003 takes 43 % of a county page's vertices)
    "county": 0.0003,
    "township": 0.0001,
    "village": 0.00003,
    "grid": 0.00001,  # ≈ 1 m
}
DECIMALS = 6  # ≈ 0.1 m: finer digits only cost bytes
LABEL_LIMIT = 80  # grids on a map up to this many get permanent labels, more get hover tooltips

# Layers drawn, bottom to top. "households" needs vector tiles (a county has ~300,000);
# "sites" (安置点: relocation sites sized by capacity, or by a plan's load on a plan's map).
LAYERS: tuple[str, ...] = (
    "grids",
    "households",
    "outlines",
    "heatmap",
    "incidents",
    "workers",
    "sites",
)

OUTLINE_STYLE: dict[str, dict[str, Any]] = {
    "county": {"color": "#222222", "weight": 3.5, "fill": False},
    "township": {"color": "#3f3f9f", "weight": 2.2, "fill": False, "dashArray": "6 3"},
    "village": {"color": "#555555", "weight": 1.2, "fill": False},
}
GRID_COLORS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")  # ColorBrewer YlOrRd 5
GRID_BREAKS = (0, 100, 200, 300, 400)  # households; rural grids hold 100–300, urban 300–500
STAGE_COLORS: dict[str, str] = {
    "reported": "#d62728",
    "accepted": "#ff7f0e",
    "dispatched": "#e6b800",
    "handling": "#1f77b4",
    "resolved": "#17becf",
    "closed": "#2ca02c",
    "rated": "#7f7f7f",
}
WORKER_COLOR = "#6a3d9a"

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "county": "县(市、区)界",
        "township": "乡镇(街道)",
        "village": "村(社区)",
        "grid": "网格",
        "incidents": "事件",
        "heatmap": "事件热力图",
        "household_points": "住户(放大显示)",
        "workers": "在岗网格员",
        "households": "网格户数",
        "code": "编码",
        "name": "名称",
        "persons": "人口",
        "worker": "网格员",
        "workers_all": "网格员(全部)",
        "stage": "环节",
        "category": "类别",
        "reported_at": "上报时间",
        "overdue": "已超期",
        "role": "岗位",
        "grids": "负责网格",
        "none": "未配备",
        "stages": "事件环节",
        "shown_of": "显示最新 {shown} / 共 {total}",
        "sites": "安置点",
        "kind": "类型",
        "capacity": "容量(户/人)",
        "occupied": "已入住(户/人)",
        "load": "本方案安置(户/人)",
        "facilities": "配套设施",
        "flows": "搬迁流向",
        "hazard": "风险区",
        "households_moved": "户数",
    },
    "en": {
        "county": "County boundary",
        "township": "Townships",
        "village": "Villages",
        "grid": "Grids",
        "incidents": "Incidents",
        "heatmap": "Incident heat map",
        "household_points": "Households (zoom in)",
        "workers": "On-duty workers",
        "households": "Households per grid",
        "code": "Code",
        "name": "Name",
        "persons": "Persons",
        "worker": "Worker",
        "workers_all": "Workers (all)",
        "stage": "Stage",
        "category": "Category",
        "reported_at": "Reported",
        "overdue": "overdue",
        "role": "Role",
        "grids": "Grids",
        "none": "none",
        "stages": "Incident stage",
        "shown_of": "newest {shown} of {total}",
        "sites": "Relocation sites",
        "kind": "Kind",
        "capacity": "Capacity (households/persons)",
        "occupied": "Occupied (households/persons)",
        "load": "This plan (households/persons)",
        "facilities": "Facilities",
        "flows": "Flows to sites",
        "hazard": "Hazard area",
        "households_moved": "Households",
    },
}


@dataclass(frozen=True, slots=True)
class MapData:
    """Everything one map shows, loaded from the database; drawing it needs no session."""

    code: str
    name: str
    level: str
    outlines: dict[str, gpd.GeoDataFrame]  # level → units drawn as outlines
    grids: gpd.GeoDataFrame  # with ``worker`` (primary) and ``workers`` (all, as text)
    incidents: list[IncidentView] = field(default_factory=list)
    incidents_total: int = 0
    workers: list[WorkerView] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)  # db.sites rows (+ load_*)


def simplify(geoms: Any, tolerance: float, *, decimals: int = DECIMALS) -> np.ndarray:
    """Simplify polygons (topology kept per polygon) and round coordinates, all vectorized.

    Rounding to ``decimals`` (6 ≈ 0.1 m) drops digits that only cost bytes in the page.
    """
    array = np.asarray(geoms, dtype=object)
    if tolerance > 0:
        array = shapely.simplify(array, tolerance, preserve_topology=True)
    rounded: NDArray[Any] = shapely.transform(array, lambda xy: np.round(xy, decimals))
    return rounded


def feature_collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A FeatureCollection with feature ids (folium's style lookup) and no per-feature bbox."""
    collection: dict[str, Any] = frame.to_geo_dict(na="null", show_bbox=False, drop_id=False)
    return collection


def escaped(value: Any) -> str:
    """HTML-escaped text: folium puts tooltip and popup values into innerHTML as they are."""
    return html.escape("" if value is None or value is pd.NA else str(value))


def worker_columns(
    grid_codes: Sequence[str], staff: dict[str, list[Any]], lang: str
) -> tuple[list[str], list[str]]:
    """Primary worker name and the full 'name (duty)' list of each grid, escaped, as tooltips
    and popups show them (the ``worker`` and ``workers`` columns of ``MapData.grids``).
    """
    none = LABELS[lang]["none"]
    primary, everyone = [], []
    for code in grid_codes:
        rows = staff.get(code, [])
        main = next((r for r in rows if r.duty == Duty.PRIMARY), rows[0] if rows else None)
        primary.append(escaped(main.name) if main is not None else none)
        everyone.append(
            "、".join(f"{escaped(r.name)}({_duty_label(r.duty, lang)})" for r in rows) or none
        )
    return primary, everyone


LABEL_JS = """function (feature, layer) {
    layer.bindTooltip(feature.properties.label,
        {permanent: true, direction: 'center', className: 'gridmap-label'});
}"""


def _legend(most: int, lang: str, asset_url: str) -> Legend:
    """Households-per-grid colours, fixed breaks so maps compare; the top bin stretches."""
    top = max(most + 1, GRID_BREAKS[-1] + 100)
    return Legend(
        list(GRID_COLORS),
        index=[*GRID_BREAKS, top],
        vmin=GRID_BREAKS[0],
        vmax=top,
        caption=LABELS[lang]["households"],
        d3_url=f"{asset_url.rstrip('/')}/{ASSETS['d3']}",
    )


class TilePopup(MacroElement):
    """A click popup for a vector-tile layer, its text set with innerText (never as HTML)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.on('click', function (e) {
            var p = e.layer.properties, box = document.createElement('div');
            box.innerText = {{ this.fields|tojson }}.map(function (f) {
                return f[1] + ': ' + (p[f[0]] === undefined || p[f[0]] === null ? '' : p[f[0]]);
            }).join('\\n');
            L.popup().setLatLng(e.latlng).setContent(box).openOn({{ this.map_name }});
        });
        {% endmacro %}"""
    )

    def __init__(self, fields: Sequence[tuple[str, str]], map_name: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "TilePopup"
        self.fields = [list(f) for f in fields]
        self.map_name = map_name


def _tile_url(tile_route: str, layer: str, code: str) -> str:
    return f"{tile_route.rstrip('/')}/{layer}/{{z}}/{{x}}/{{y}}.pbf?under={code}"


def _grid_tile_layer(
    data: MapData, lang: str, asset_url: str, tile_route: str, map_name: str
) -> list[Any]:
    """Grids from vector tiles, coloured like the embedded layer, with a click popup."""
    labels = LABELS[lang]
    legend = _legend(int(data.grids["households"].max()), lang, asset_url)
    options = f"""{{
        rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 19,
        minZoom: {TILE_MIN_ZOOM["grids"]},
        getFeatureId: function (f) {{ return f.properties.code; }},
        vectorTileLayerStyles: {{grids: function (p) {{
            var breaks = {json.dumps(list(GRID_BREAKS))}, colors = {json.dumps(list(GRID_COLORS))};
            var i = 0;
            while (i + 1 < breaks.length && p.households >= breaks[i + 1]) i++;
            return {{fill: true, fillColor: colors[i], fillOpacity: 0.6, color: '#7a4a00',
                     weight: 0.6}};
        }}}}
    }}"""
    layer = folium.plugins.VectorGridProtobuf(
        _tile_url(tile_route, "grids", data.code),
        name=f"{labels['grid']} ({len(data.grids)})",
        options=options,
    )
    fields = [(k, labels[k]) for k in ("code", "name", "households", "persons", "worker")]
    layer.add_child(TilePopup(fields, map_name))
    return [layer, legend]


def _household_layer(data: MapData, lang: str, tile_route: str | None) -> list[Any]:
    """Household points from vector tiles, from zoom TILE_MIN_ZOOM['households'] on."""
    if tile_route is None:  # a page opened from disk has no tile server
        return []
    options = f"""{{
        rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 19,
        minZoom: {TILE_MIN_ZOOM["households"]},
        vectorTileLayerStyles: {{households: {{radius: 1.5, weight: 0, fill: true,
                                               fillColor: '#08519c', fillOpacity: 0.6}}}}
    }}"""
    return [
        folium.plugins.VectorGridProtobuf(
            _tile_url(tile_route, "households", data.code),
            name=LABELS[lang]["household_points"],
            options=options,
        )
    ]


def _grid_layer(data: MapData, tolerance: float, lang: str, asset_url: str) -> list[Any]:
    labels = LABELS[lang]
    grids = data.grids
    name = f"{labels['grid']} ({len(grids)})"
    if grids.empty:
        return [folium.FeatureGroup(name=name)]
    frame = gpd.GeoDataFrame(
        {
            "code": grids["code"].to_numpy(),
            "name": [escaped(n) for n in grids["name"]],
            "households": grids["households"].astype(int).to_numpy(),
            "persons": grids["persons"].astype(int).to_numpy(),
            "worker": grids["worker"].to_numpy(),
            "workers": grids["workers"].to_numpy(),
            "label": [f"{c[-3:]} {w}" for c, w in zip(grids["code"], grids["worker"], strict=True)],
        },
        geometry=simplify(grids.geometry.values, tolerance),
        crs="EPSG:4326",
    )
    legend = _legend(int(frame["households"].max()), lang, asset_url)
    top = int(legend.vmax)

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        color = legend(min(feature["properties"]["households"], top - 1))
        return {"fillColor": color, "fillOpacity": 0.6, "color": "#7a4a00", "weight": 0.6}

    labelled = len(frame) <= LABEL_LIMIT
    # Few grids: a permanent label on each (code tail + worker); many: a tooltip on hover.
    tooltip = (
        None
        if labelled
        else folium.GeoJsonTooltip(
            ["code", "name", "households", "worker"],
            aliases=[labels["code"], labels["name"], labels["households"], labels["worker"]],
        )
    )
    popup = folium.GeoJsonPopup(
        ["code", "name", "households", "persons", "workers"],
        aliases=[
            labels["code"],
            labels["name"],
            labels["households"],
            labels["persons"],
            labels["workers_all"],
        ],
    )
    layer = folium.GeoJson(
        feature_collection(frame if labelled else frame.drop(columns="label")),
        name=name,
        style_function=style,
        highlight_function=lambda _: {"weight": 2.5, "color": "#000000"},
        tooltip=tooltip,
        popup=popup,
        on_each_feature=folium.JsCode(LABEL_JS) if labelled else None,
    )
    return [layer, legend]


def _outline_layers(data: MapData, tolerance: float, lang: str) -> list[Any]:
    labels = LABELS[lang]
    layers = []
    for level, units in data.outlines.items():
        if units.empty:
            continue
        frame = gpd.GeoDataFrame(
            {"code": units["code"].to_numpy(), "name": [escaped(n) for n in units["name"]]},
            geometry=simplify(units.geometry.values, tolerance),
            crs="EPSG:4326",
        )
        style = OUTLINE_STYLE[level]
        count = f" ({len(frame)})" if level != data.level else ""
        layers.append(
            folium.GeoJson(
                feature_collection(frame),
                name=f"{labels[level]}{count}",
                style_function=lambda _, s=style: s,
                tooltip=folium.GeoJsonTooltip(
                    ["code", "name"], aliases=[labels["code"], labels["name"]], sticky=True
                ),
            )
        )
    return layers


def _stage_label(stage: str, lang: str) -> str:
    """The stage's Chinese name, or in English its code (``reported``, ``handling``…)."""
    return Stage(stage).zh if lang == Language.ZH else stage


def _duty_label(duty: str, lang: str) -> str:
    """The duty's Chinese name (主责, 协助), or in English its code."""
    return Duty(duty).zh if lang == Language.ZH and duty in Duty.values() else duty


def _local_time(value: datetime | None) -> str:
    """A timestamp for a popup, to the minute, in China time (the database gives UTC)."""
    if value is None or pd.isna(value):
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(incidents.CHINA_TZ)
    return value.strftime("%Y-%m-%d %H:%M")


def _incident_rows(data: MapData, lang: str) -> list[list[Any]]:
    labels = LABELS[lang]
    rows = []
    for case in data.incidents:
        if case.get("lon") is None or case.get("lat") is None:
            continue
        stage = _stage_label(case["stage"], lang)
        late = f" · {labels['overdue']}" if case.get("overdue") else ""
        when = _local_time(case.get("reported_at"))
        tip = f"#{case['id']} {escaped(stage)}{late}"
        body = (
            f"<b>#{case['id']}</b><br>{labels['stage']}: {escaped(stage)}{late}"
            f"<br>{labels['category']}: {escaped(case.get('category_code'))}"
            f"<br>{labels['grid']}: {escaped(case.get('grid_code'))}"
            f"<br>{labels['reported_at']}: {when}"
        )
        color = STAGE_COLORS.get(case["stage"], "#333333")
        rows.append([round(case["lat"], DECIMALS), round(case["lon"], DECIMALS), color, tip, body])
    return rows


INCIDENT_CALLBACK = """function (row) {
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 7, color: '#ffffff', weight: 1.5, fillColor: row[2], fillOpacity: 0.95});
    marker.bindTooltip(row[3]);
    marker.bindPopup(row[4]);
    return marker;
}"""


def _incident_layers(data: MapData, lang: str, *, heatmap: bool, markers: bool) -> list[Any]:
    labels = LABELS[lang]
    rows = _incident_rows(data, lang)
    count = (
        f" ({len(rows)})"
        if len(rows) >= data.incidents_total
        else f" ({labels['shown_of'].format(shown=len(rows), total=data.incidents_total)})"
    )
    layers: list[Any] = []
    if heatmap:
        name = labels["heatmap"] + count
        if rows:
            points = [row[:2] for row in rows]
            heat = folium.plugins.HeatMap(points, name=name, radius=18, show=False)  # type: ignore[no-untyped-call]
            layers.append(heat)
        else:
            layers.append(folium.FeatureGroup(name=name, show=False))
    if markers:
        name = labels["incidents"] + count
        if rows:
            layers.append(
                folium.plugins.FastMarkerCluster(  # type: ignore[no-untyped-call]
                    rows, callback=INCIDENT_CALLBACK, name=name, disableClusteringAtZoom=17
                )
            )
        else:
            layers.append(folium.FeatureGroup(name=name))
    return layers


def _worker_layer(data: MapData, lang: str) -> list[Any]:
    labels = LABELS[lang]
    placed = [w for w in data.workers if w.get("lon") is not None and w.get("lat") is not None]
    name = f"{labels['workers']} ({len(placed)})"
    if not placed:
        return [folium.FeatureGroup(name=name)]
    frame = gpd.GeoDataFrame(
        {
            "name": [escaped(w["name"]) for w in placed],
            "role": [
                escaped(w["role_zh"] if lang == Language.ZH else WorkerRole(w["role"]).en)
                for w in placed
            ],
            "grids": ["、".join(g["code"] for g in w.get("grids", [])) for w in placed],
            "last_seen": [_local_time(w.get("last_seen")) for w in placed],
        },
        geometry=gpd.points_from_xy(
            np.round([w["lon"] for w in placed], DECIMALS),
            np.round([w["lat"] for w in placed], DECIMALS),
        ),
        crs="EPSG:4326",
    )
    return [
        folium.GeoJson(
            feature_collection(frame),
            name=name,
            marker=folium.CircleMarker(
                radius=6, color="#ffffff", weight=1.5, fill_color=WORKER_COLOR, fill_opacity=1.0
            ),
            tooltip=folium.GeoJsonTooltip(
                ["name", "role"], aliases=[labels["worker"], labels["role"]]
            ),
            popup=folium.GeoJsonPopup(
                ["name", "role", "grids", "last_seen"],
                aliases=[labels["worker"], labels["role"], labels["grids"], "GPS"],
            ),
        )
    ]


SITE_COLORS = {"resettlement": "#1b7837", "shelter": "#2166ac"}


def site_layer(sites: list[dict[str, Any]], lang: str) -> list[Any]:
    """Relocation sites (安置点) as circles coloured by kind and sized by households: this
    plan's load when the rows carry one (``load_households``), else the capacity.
    """
    labels = LABELS[lang]
    name = f"{labels['sites']} ({len(sites)})"
    if not sites:
        return [folium.FeatureGroup(name=name)]
    points = shapely.from_wkb([s["wkb"] for s in sites])
    anchors = shapely.point_on_surface(points)
    sized = [s.get("load_households", s["capacity_households"]) for s in sites]
    scale = max(*sized, 1)
    facility = {f.value: f.label(lang) for f in Facility}
    frame = gpd.GeoDataFrame(
        {
            "name": [escaped(s["name"]) for s in sites],
            "code": [escaped(s["code"]) for s in sites],
            "kind": [SiteKind(s["kind"]).label(lang) for s in sites],
            "capacity": [f"{s['capacity_households']} / {s['capacity_persons']}" for s in sites],
            "occupied": [f"{s['occupied_households']} / {s['occupied_persons']}" for s in sites],
            "load": [
                f"{s['load_households']} / {s['load_persons']}" if "load_households" in s else ""
                for s in sites
            ],
            "facilities": ["、".join(facility.get(f, f) for f in s["facilities"]) for s in sites],
            "radius": [round(5 + 20 * (v / scale) ** 0.5, 1) for v in sized],
            "color": [SITE_COLORS[s["kind"]] for s in sites],
        },
        geometry=shapely.transform(anchors, lambda xy: np.round(xy, DECIMALS)),
        crs="EPSG:4326",
    )
    fields = ["name", "code", "kind", "capacity", "occupied", "facilities"]
    if any("load_households" in s for s in sites):
        fields.insert(5, "load")
    return [
        folium.GeoJson(
            feature_collection(frame),
            name=name,
            marker=folium.CircleMarker(radius=8, weight=2, fill_opacity=0.55),
            style_function=lambda f: {
                "radius": f["properties"]["radius"],
                "color": f["properties"]["color"],
                "fillColor": f["properties"]["color"],
                "fill": True,
                "fillOpacity": 0.45,
                "weight": 2,
            },
            tooltip=folium.GeoJsonTooltip(
                ["name", "kind"], aliases=[labels["name"], labels["kind"]]
            ),
            popup=folium.GeoJsonPopup(fields, aliases=[labels[f] for f in fields]),
        )
    ]


def _site_layer(data: MapData, lang: str) -> list[Any]:
    return site_layer(data.sites, lang)


STYLE_CSS = """<style>
.gridmap-title {position: absolute; top: 10px; left: 54px; z-index: 1000; background: #fff;
  padding: 4px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.35);
  font: 15px/1.4 sans-serif;}
.gridmap-title small {color: #666;}
.gridmap-stages {position: absolute; bottom: 28px; right: 10px; z-index: 1000; background: #fff;
  padding: 4px 8px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.35);
  font: 12px/1.5 sans-serif;}
.gridmap-stages i {display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 4px;}
.leaflet-tooltip.gridmap-label {background: rgba(255,255,255,.75); border: 0; box-shadow: none;
  padding: 0 3px; font-size: 11px;}
</style>"""


def decorate(m: folium.Map, data: MapData, lang: str, *, stages: bool) -> None:
    """Title box and stage legend: plain HTML, no external resource."""
    level = Level(data.level).zh if lang == Language.ZH else data.level
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(Element(STYLE_CSS), name="gridmap_css")
    root.html.add_child(
        Element(
            f'<div class="gridmap-title">{escaped(data.name)} '
            f"<small>{escaped(data.code)} · {escaped(level)}</small></div>"
        )
    )
    if stages:
        items = "<br>".join(
            f'<i style="background:{color}"></i>{escaped(_stage_label(stage, lang))}'
            for stage, color in STAGE_COLORS.items()
        )
        root.html.add_child(
            Element(f'<div class="gridmap-stages"><b>{LABELS[lang]["stages"]}</b><br>{items}</div>')
        )


def draw_layers(
    data: MapData,
    names: Sequence[str],
    *,
    lang: str,
    tolerance: float,
    asset_url: str,
    tile_route: str | None,
    vector_tiles_above: int,
    map_name: str,
) -> Iterator[Any]:
    """The folium layers and legends of the layers ``names``, bottom to top (LAYERS order).

    With ``tile_route`` households come as vector tiles, and so do the grids when there are
    more than ``vector_tiles_above``; ``map_name`` is the Leaflet map their popups open on.
    """
    builders: dict[str, Callable[[], list[Any]]] = {
        "grids": lambda: (
            _grid_tile_layer(data, lang, asset_url, tile_route, map_name)
            if tile_route is not None and len(data.grids) > vector_tiles_above
            else _grid_layer(data, tolerance, lang, asset_url)
        ),
        "households": lambda: _household_layer(data, lang, tile_route),
        "outlines": lambda: _outline_layers(data, tolerance, lang),
        "heatmap": lambda: _incident_layers(data, lang, heatmap=True, markers=False),
        "incidents": lambda: _incident_layers(data, lang, heatmap=False, markers=True),
        "workers": lambda: _worker_layer(data, lang),
        "sites": lambda: _site_layer(data, lang),
    }
    for name in LAYERS:
        if name in names:
            yield from builders[name]()
