"""Maps (地图): folium maps of a unit and its children that work on isolated networks.

Government networks (政务外网, 内网) often reach no CDN and no online basemap. So every script,
stylesheet, image and font a map loads is vendored under ``gridmap/static/vendor`` (see
``scripts/vendor_assets.sh``) and referenced from ``asset_url``; the default basemap is none,
and boundaries draw from the data embedded in the page. Optional basemaps are Tianditu (天地图,
CGCS2000 ≈ WGS84, so our WGS84 data sits right on it), OpenStreetMap, or a self-hosted tile
server. GCJ-02 tiles (Amap 高德, Tencent 腾讯) and BD-09 tiles (Baidu 百度) are refused: under
WGS84 data they sit 300–700 m off, and a grid drawn on the wrong street is worse than no map.

Big layers stay light: geometries are simplified per map level (topology kept per polygon) and
rounded to 6 decimals (≈ 0.1 m), which keeps a whole county's page to a few megabytes.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import branca.colormap
import folium
import folium.plugins
import numpy as np
import pandas as pd
from branca.element import Element, Figure, JavascriptLink, MacroElement
from folium.template import Template
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import codes, db, incidents, workers
from gridmap.errors import InvalidCodeError, InvalidInputError, NotFoundError, UnknownCodeError
from gridmap.vocabulary import Basemap, Duty, Language, Level, Stage, WorkerRole

BASEMAPS: tuple[str, ...] = Basemap.values()
LANGS: tuple[str, ...] = Language.values()

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
ASSET_ROUTE = "/static/vendor"  # where api/routers/maps.py serves VENDOR_DIR
TILE_ROUTE = "/tiles"  # where it serves vector tiles: {TILE_ROUTE}/{layer}/{z}/{x}/{y}.pbf

# folium/branca resource name → vendored file under VENDOR_DIR. A name missing here makes
# unit_map fail loudly (a folium upgrade added an asset: vendor it, then map it here).
ASSETS: dict[str, str] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/js/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/css/bootstrap.min.css",
    "glyphicons_css": "glyphicons/css/bootstrap-glyphicons.css",
    "awesome_markers": "awesome-markers/leaflet.awesome-markers.js",
    "awesome_markers_css": "awesome-markers/leaflet.awesome-markers.css",
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_rotate_css": "awesome-markers/leaflet.awesome.rotate.min.css",
    "markerclusterjs": "markercluster/leaflet.markercluster.js",
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": "leaflet-heat/leaflet-heat.js",
    "vectorGrid": "vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "d3": "d3/d3.min.js",
}

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
MAX_INCIDENTS = 5000
MAX_WORKERS = 5000
# A map with more grids than this draws them from vector tiles (when a tile route is given):
# embedded, 1,000 grids cost about 1.4 MB of county page, so 2,000 stay well under 5 MB.
VECTOR_TILES_ABOVE = 2000
# Smallest zoom each vector-tile layer is cut at (below it tiles come back empty): a z14 tile
# of a county seat holds ~300 kB of households, a z12 one over 2 MB.
TILE_MIN_ZOOM: dict[str, int] = {"grids": 8, "households": 15}
MAX_TILE_ZOOM = 22

# Layers drawn, bottom to top. "households" needs vector tiles (a county has ~300,000);
# "sites" (安置点: relocation sites with capacity and occupancy) is the hook for
# gridmap.relocation: it draws nothing until the site table exists.
LAYERS: tuple[str, ...] = (
    "grids",
    "households",
    "outlines",
    "heatmap",
    "incidents",
    "workers",
    "sites",
)

# Which outline levels a map draws below its subject (grids are their own layer).
OUTLINE_LEVELS: dict[str, tuple[str, ...]] = {
    "county": ("village", "township", "county"),
    "township": ("village", "township"),
    "village": ("village",),
    "grid": ("village",),
}
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
    },
}

TIANDITU_URL = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# Hosts whose tiles are GCJ-02 (Amap, Tencent) or BD-09 (Baidu): offset from our WGS84 data.
SHIFTED_TILE_HOSTS: tuple[str, ...] = (
    "amap.com",
    "autonavi.com",
    "gtimg.com",
    "map.qq.com",
    "maps.qq.com",
    "map.baidu.com",
    "bdimg.com",
    "bdstatic.com",
)


@dataclass(frozen=True, slots=True)
class MapData:
    """Everything one map shows, loaded from the database; drawing it needs no session."""

    code: str
    name: str
    level: str
    outlines: dict[str, gpd.GeoDataFrame]  # level → units drawn as outlines
    grids: gpd.GeoDataFrame  # with ``worker`` (primary) and ``workers`` (all, as text)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    incidents_total: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Pure functions


def simplify(geoms: Any, tolerance: float, *, decimals: int = DECIMALS) -> np.ndarray:
    """Simplify polygons (topology kept per polygon) and round coordinates, all vectorized.

    Rounding to ``decimals`` (6 ≈ 0.1 m) drops digits that only cost bytes in the page.
    """
    array = np.asarray(geoms, dtype=object)
    if tolerance > 0:
        array = shapely.simplify(array, tolerance, preserve_topology=True)
    return shapely.transform(array, lambda xy: np.round(xy, decimals))


def check_tile_url(url: str) -> str:
    """Return ``url`` if it may be drawn under WGS84 data; refuse GCJ-02/BD-09 tile hosts."""
    host = (urlsplit(url.replace("{s}", "a")).hostname or "").lower()
    shifted = next((h for h in SHIFTED_TILE_HOSTS if host == h or host.endswith("." + h)), None)
    if shifted is not None:
        raise InvalidInputError(
            f"tile URL {url!r} is served by {host}, whose tiles are GCJ-02/BD-09-shifted "
            "300–700 m from gridmap's WGS84 data; use Tianditu, OSM or a self-hosted "
            "WGS84/CGCS2000 tile server instead",
            tile_url=url,
            host=host,
        )
    if "{z}" not in url or "{x}" not in url or "{y}" not in url:
        raise InvalidInputError(
            f"tile URL {url!r} needs {{z}}, {{x}} and {{y}} placeholders, e.g. "
            "https://tiles.example.gov.cn/{z}/{x}/{y}.png",
            tile_url=url,
        )
    return url


def check_options(*, lang: str, layers: Sequence[str]) -> None:
    """Refuse an unknown language or layer name, listing the valid ones."""
    if lang not in LANGS:
        raise InvalidInputError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise InvalidInputError(
            f"unknown layer(s) {', '.join(unknown)}: choose from {', '.join(LAYERS)}",
            layers=unknown,
        )


def basemap_layers(
    basemap: str | None, *, tianditu_key: str | None = None, tile_url: str | None = None
) -> list[folium.TileLayer]:
    """Tile layers for ``basemap`` (none by default: the map then needs no network at all)."""
    if basemap is None:
        return []
    if basemap not in BASEMAPS:
        raise InvalidInputError(
            f"unknown basemap {basemap!r}: use one of {', '.join(BASEMAPS)} or none",
            basemap=basemap,
        )
    if basemap.startswith("tianditu"):
        if not tianditu_key:
            raise InvalidInputError(
                "the Tianditu basemap needs a key: set GRIDMAP_TIANDITU_KEY (get one at "
                "console.tianditu.gov.cn) or choose another basemap",
                basemap=basemap,
            )
        base, notes = ("vec", "cva") if basemap == Basemap.TIANDITU_VEC else ("img", "cia")
        attr = "天地图 (国家地理信息公共服务平台)"
        return [
            folium.TileLayer(
                TIANDITU_URL.format(layer=base, key=tianditu_key),
                attr=attr,
                name=f"天地图 {base}",
                subdomains="01234567",
                max_zoom=18,
            ),
            folium.TileLayer(
                TIANDITU_URL.format(layer=notes, key=tianditu_key),
                attr=attr,
                name=f"天地图注记 {notes}",
                subdomains="01234567",
                max_zoom=18,
                overlay=True,
            ),
        ]
    if basemap == "osm":
        return [folium.TileLayer(OSM_URL, attr="© OpenStreetMap contributors", name="OSM")]
    if not tile_url:
        raise InvalidInputError(
            "the custom basemap needs a tile URL: set GRIDMAP_TILE_URL "
            "(e.g. https://tiles.example.gov.cn/{z}/{x}/{y}.png)",
            basemap=basemap,
        )
    return [folium.TileLayer(check_tile_url(tile_url), attr="自建底图 self-hosted", name="底图")]


def _elements(root: Any) -> Iterator[Any]:
    yield root
    for child in list(root._children.values()):
        yield from _elements(child)


def localize(m: folium.Map, asset_url: str) -> folium.Map:
    """Point every JS/CSS link of ``m`` and its plugins at the vendored copies under ``asset_url``.

    Raises RuntimeError for an asset with no vendored copy, so a folium upgrade that adds one
    fails in tests instead of silently loading from a CDN.
    """
    base = asset_url.rstrip("/")
    for element in _elements(m):
        for attribute in ("default_js", "default_css"):
            links = getattr(element, attribute, None)
            if not links:
                continue
            missing = [name for name, _ in links if name not in ASSETS]
            if missing:
                raise RuntimeError(
                    f"folium asset(s) {missing} have no vendored copy: add them to "
                    "scripts/vendor_assets.sh and gridmap.maps.ASSETS"
                )
            # An instance attribute: folium's add_js_link would mutate the class-wide list.
            setattr(element, attribute, [(name, f"{base}/{ASSETS[name]}") for name, _ in links])
    return m


class Legend(branca.colormap.StepColormap):
    """branca's step-colour legend, loading d3 from the vendored copy instead of a CDN."""

    def __init__(self, *args: Any, d3_url: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.d3_url = d3_url

    def render(self, **kwargs: Any) -> None:
        """Render as branca does, then replace its CDN d3 link with the local one."""
        super().render(**kwargs)
        figure = self.get_root()
        assert isinstance(figure, Figure)
        figure.header.add_child(JavascriptLink(self.d3_url), name="d3")


# src/href attributes and CSS url(...) references in a page.
_URL_PATTERN = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']([^"']*)["'])|(?:url\(\s*["']?([^"')]*)["']?\s*\))""",
    re.IGNORECASE,
)


def page_urls(page: str) -> list[str]:
    """Every src/href attribute value and CSS ``url(...)`` in an HTML page, in order."""
    return [a or b for a, b in _URL_PATTERN.findall(page)]


def is_local_url(url: str) -> bool:
    """True for a URL the browser resolves without leaving the serving host (or a data: URI)."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return True
    return not parts.scheme and not parts.netloc  # relative or absolute path, no //host


def external_urls(page: str) -> list[str]:
    """The src/href/url(...) references of ``page`` that would leave the serving host."""
    return [url for url in page_urls(page) if url and not is_local_url(url)]


def asset_path(relative: str) -> Path:
    """The vendored file at ``relative`` (as served under ASSET_ROUTE); refuse paths outside it."""
    root = VENDOR_DIR
    try:
        candidate = (root / relative).resolve()
        found = candidate.is_relative_to(root) and candidate.is_file()
    except (ValueError, OSError):  # an embedded NUL byte, a name too long for the filesystem
        found = False
    if not found:
        raise NotFoundError(f"no vendored asset {relative!r}", path=relative)
    return candidate


def render(m: folium.Map) -> str:
    """The map as one standalone HTML page (data embedded, assets linked under asset_url)."""
    return str(m.get_root().render())


# What a standalone page embeds; other font formats (ttf, eot, woff, svg fonts) are fallbacks
# for browsers without woff2, which Leaflet 1.9 does not support anyway.
_MEDIA_TYPES = {".png": "image/png", ".woff2": "font/woff2"}


def _data_uri(path: Path) -> str:
    media = _MEDIA_TYPES.get(path.suffix)
    if media is None:
        return "data:,"  # an empty fallback: valid CSS, never fetched while woff2 loads
    return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _inline_css(path: Path) -> str:
    """A vendored stylesheet with its images and fonts as data: URIs."""

    def embed(match: re.Match[str]) -> str:
        url = match.group(1)
        if url.startswith(("data:", "#")):
            return match.group(0)
        parts = urlsplit(url)
        target = (path.parent / parts.path).resolve()
        return f'url("{_data_uri(target)}")'

    return re.sub(r"url\(\s*['\"]?([^'\")]*)['\"]?\s*\)", embed, path.read_text(encoding="utf-8"))


def inline_assets(page: str, asset_url: str = ASSET_ROUTE) -> str:
    """Embed every vendored script and stylesheet of ``page`` (fonts and images as data: URIs).

    The result is one self-contained file that opens offline from any disk or USB stick;
    it weighs about 2.5 MB more than the linked page (Font Awesome's fonts are most of it).
    """
    base = re.escape(asset_url.rstrip("/"))

    def script(match: re.Match[str]) -> str:
        code = asset_path(match.group(1)).read_text(encoding="utf-8")
        return "<script>" + code.replace("</script", "<\\/script") + "</script>"

    def sheet(match: re.Match[str]) -> str:
        return "<style>" + _inline_css(asset_path(match.group(1))) + "</style>"

    page = re.sub(rf'<script src="{base}/([^"]+)"></script>', script, page)
    return re.sub(rf'<link rel="stylesheet" href="{base}/([^"]+)"\s*/?>', sheet, page)


def _geojson(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A FeatureCollection with feature ids (folium's style lookup) and no per-feature bbox."""
    return frame.to_geo_dict(na="null", show_bbox=False, drop_id=False)


def _text(value: Any) -> str:
    """HTML-escaped text: folium puts tooltip and popup values into innerHTML as they are."""
    return html.escape("" if value is None or value is pd.NA else str(value))


def _worker_columns(
    grid_codes: Sequence[str], staff: dict[str, list[Any]], lang: str
) -> tuple[list[str], list[str]]:
    """Primary worker name and the full 'name (duty)' list of each grid."""
    none = LABELS[lang]["none"]
    primary, everyone = [], []
    for code in grid_codes:
        rows = staff.get(code, [])
        main = next((r for r in rows if r.duty == Duty.PRIMARY), rows[0] if rows else None)
        primary.append(_text(main.name) if main is not None else none)
        everyone.append(
            "、".join(f"{_text(r.name)}({_duty_label(r.duty, lang)})" for r in rows) or none
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
        super().__init__()
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
            "name": [_text(n) for n in grids["name"]],
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
        _geojson(frame if labelled else frame.drop(columns="label")),
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
            {"code": units["code"].to_numpy(), "name": [_text(n) for n in units["name"]]},
            geometry=simplify(units.geometry.values, tolerance),
            crs="EPSG:4326",
        )
        style = OUTLINE_STYLE[level]
        count = f" ({len(frame)})" if level != data.level else ""
        layers.append(
            folium.GeoJson(
                _geojson(frame),
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
        tip = f"#{case['id']} {_text(stage)}{late}"
        body = (
            f"<b>#{case['id']}</b><br>{labels['stage']}: {_text(stage)}{late}"
            f"<br>{labels['category']}: {_text(case.get('category_code'))}"
            f"<br>{labels['grid']}: {_text(case.get('grid_code'))}"
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
            layers.append(folium.plugins.HeatMap(points, name=name, radius=18, show=False))
        else:
            layers.append(folium.FeatureGroup(name=name, show=False))
    if markers:
        name = labels["incidents"] + count
        if rows:
            layers.append(
                folium.plugins.FastMarkerCluster(
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
            "name": [_text(w["name"]) for w in placed],
            "role": [
                _text(w["role_zh"] if lang == Language.ZH else WorkerRole(w["role"]).en)
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
            _geojson(frame),
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


def _site_layer(data: MapData, lang: str) -> list[Any]:  # noqa: ARG001  (hook, see LAYERS)
    """Relocation sites (安置点) with capacity and occupancy: none until the site table exists."""
    return []


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


def _decorations(m: folium.Map, data: MapData, lang: str, *, stages: bool) -> None:
    """Title box and stage legend: plain HTML, no external resource."""
    level = Level(data.level).zh if lang == Language.ZH else data.level
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(Element(STYLE_CSS), name="gridmap_css")
    root.html.add_child(
        Element(
            f'<div class="gridmap-title">{_text(data.name)} '
            f"<small>{_text(data.code)} · {_text(level)}</small></div>"
        )
    )
    if stages:
        items = "<br>".join(
            f'<i style="background:{color}"></i>{_text(_stage_label(stage, lang))}'
            for stage, color in STAGE_COLORS.items()
        )
        root.html.add_child(
            Element(f'<div class="gridmap-stages"><b>{LABELS[lang]["stages"]}</b><br>{items}</div>')
        )


def draw(
    data: MapData,
    *,
    asset_url: str = ASSET_ROUTE,
    basemap: str | None = None,
    tianditu_key: str | None = None,
    tile_url: str | None = None,
    lang: str = "zh",
    layers: Sequence[str] = LAYERS,
    tolerance: float | None = None,
    tile_route: str | None = None,
    vector_tiles_above: int = VECTOR_TILES_ABOVE,
) -> folium.Map:
    """Draw loaded map data as a folium map whose assets all come from ``asset_url``.

    With ``tile_route`` (the app's TILE_ROUTE) households come as vector tiles, and so do the
    grids when there are more than ``vector_tiles_above``; without it everything is embedded.
    """
    check_options(lang=lang, layers=layers)
    tiles = basemap_layers(basemap, tianditu_key=tianditu_key, tile_url=tile_url)
    tolerance = TOLERANCE_DEG[data.level] if tolerance is None else tolerance
    extent = data.outlines.get(data.level, data.grids)
    if data.level == "grid":
        extent = data.grids
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in extent.total_bounds)
    m = folium.Map(
        location=[(min_lat + max_lat) / 2, (min_lon + max_lon) / 2],
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_start=12,
        # Without tiles nothing sets the map's maxZoom, and MarkerCluster needs one (folium's
        # max_zoom only reaches a tile layer, so the Leaflet option goes in as is).
        maxZoom=19,
        minZoom=4,  # set, so layers with a minZoom (households) do not raise the map's own
    )
    for tile in tiles:
        tile.add_to(m)
    builders: dict[str, Callable[[], list[Any]]] = {
        "grids": lambda: (
            _grid_tile_layer(data, lang, asset_url, tile_route, m.get_name())
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
        if name in layers:
            for layer in builders[name]():
                layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    _decorations(m, data, lang, stages="incidents" in layers and bool(data.incidents))
    return localize(m, asset_url)


# ---------------------------------------------------------------------------------------------
# Loading from the database


def _check_code(code: str) -> str:
    """The level of a well-formed division code, else InvalidCodeError.

    Only ASCII digits count: "²".isdigit() is True, yet int("²") fails in gridmap.codes.
    """
    if not code.isascii():
        raise InvalidCodeError(
            f"code {code!r} is not a division code: expected 6 (county), 9 (township), "
            "12 (village) or 15 (grid) ASCII digits",
            code=code,
        )
    level = codes.level_of(code)
    codes.check_code(code, level)
    return level


def _under(frame: gpd.GeoDataFrame, code: str) -> gpd.GeoDataFrame:
    return frame[frame["code"].str.startswith(code)].reset_index(drop=True)


def load(
    session: Session,
    code: str,
    *,
    lang: str = "zh",
    layers: Sequence[str] = LAYERS,
    max_incidents: int = MAX_INCIDENTS,
    max_workers: int = MAX_WORKERS,
) -> MapData:
    """Load a unit, its outlines and grids, its incidents and on-duty workers for a map.

    Raises InvalidCodeError for a malformed code, UnknownCodeError for one that names no unit.
    """
    level = _check_code(code)
    subject = db.units.read(session, codes=[code])
    if subject.empty:
        raise UnknownCodeError(
            f"no current {level} with code {code}; GET /api/v1/units lists them",
            code=code,
            level=level,
        )
    county = code[:6]
    outlines: dict[str, gpd.GeoDataFrame] = {}
    for outline_level in OUTLINE_LEVELS[level]:
        if outline_level == level:
            outlines[outline_level] = subject
        elif level == "grid":  # the grid's own village, for context
            outlines[outline_level] = db.units.read(session, codes=[codes.parent_of(code)])
        else:
            found = db.units.read(session, county=county, level=outline_level)
            outlines[outline_level] = _under(found, code)
    if level == "grid":
        grids = subject
    elif level == "village":
        grids = db.units.read(session, parent=code, level="grid")
    else:
        grids = _under(db.units.read(session, county=county, level="grid"), code)
    staff = db.workers.grid_workers(session, grids["code"].tolist()) if len(grids) else {}
    primary, everyone = _worker_columns(grids["code"].tolist(), staff, lang)
    grids = grids.assign(worker=primary, workers=everyone)
    cases: list[dict[str, Any]] = []
    total = 0
    if "incidents" in layers or "heatmap" in layers:
        total, cases = incidents.search(session, county=county, code=code, limit=max_incidents)
    on_duty: list[dict[str, Any]] = []
    if "workers" in layers:
        _, on_duty = workers.search(
            session, county=county, code=code, on_duty=True, limit=max_workers
        )
    return MapData(
        code=code,
        name=str(subject["name"].iloc[0]),
        level=level,
        outlines=outlines,
        grids=grids,
        incidents=cases,
        incidents_total=total,
        workers=on_duty,
    )


def unit_map(
    session: Session,
    code: str,
    *,
    asset_url: str = ASSET_ROUTE,
    basemap: str | None = None,
    tianditu_key: str | None = None,
    tile_url: str | None = None,
    lang: str = "zh",
    layers: Sequence[str] = LAYERS,
    tolerance: float | None = None,
    max_incidents: int = MAX_INCIDENTS,
    max_workers: int = MAX_WORKERS,
    tile_route: str | None = None,
    vector_tiles_above: int = VECTOR_TILES_ABOVE,
) -> folium.Map:
    """A map of the unit ``code`` (county, township, village or grid) and what lies under it.

    Assets load from ``asset_url`` (the app serves them at ASSET_ROUTE; a file:// URL of
    VENDOR_DIR works for a page opened from disk); ``basemap`` None draws no tiles at all.
    """
    # Refuse bad options before reading anything.
    check_options(lang=lang, layers=layers)
    basemap_layers(basemap, tianditu_key=tianditu_key, tile_url=tile_url)
    data = load(
        session,
        code,
        lang=lang,
        layers=layers,
        max_incidents=max_incidents,
        max_workers=max_workers,
    )
    return draw(
        data,
        asset_url=asset_url,
        basemap=basemap,
        tianditu_key=tianditu_key,
        tile_url=tile_url,
        lang=lang,
        layers=layers,
        tolerance=tolerance,
        tile_route=tile_route,
        vector_tiles_above=vector_tiles_above,
    )


def vector_tile(session: Session, layer: str, z: int, x: int, y: int, *, under: str = "") -> bytes:
    """One Mapbox vector tile of ``layer`` (grids or households) under the code ``under``.

    Below the layer's TILE_MIN_ZOOM the tile is empty: such tiles would be megabytes.
    """
    if layer not in TILE_MIN_ZOOM:
        raise NotFoundError(
            f"no vector tile layer {layer!r}: use one of {', '.join(TILE_MIN_ZOOM)}", layer=layer
        )
    if not 0 <= z <= MAX_TILE_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInputError(
            f"tile {z}/{x}/{y} does not exist: z must be 0–{MAX_TILE_ZOOM} and x, y 0–2^z−1",
            z=z,
            x=x,
            y=y,
        )
    if under:
        _check_code(under)
    if z < TILE_MIN_ZOOM[layer]:
        return b""
    return db.maps.tile(session, layer, z, x, y, prefix=under)
