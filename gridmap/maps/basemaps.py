"""Basemaps (底图): none by default, else Tianditu, OpenStreetMap or a self-hosted server.

Tianditu (天地图) is CGCS2000 ≈ WGS84, so our WGS84 data sits right on it. GCJ-02 tiles (Amap
高德, Tencent 腾讯) and BD-09 tiles (Baidu 百度) are refused: under WGS84 data they sit
300–700 m off, and a grid drawn on the wrong street is worse than no map.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import folium

from gridmap.errors import InvalidInputError
from gridmap.vocabulary import Basemap

BASEMAPS: tuple[str, ...] = Basemap.values()

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
