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

The modules, each importing only those listed after it:

- ``page``: :func:`unit_map` = :func:`load` from the database, then :func:`draw`; :func:`render`
- ``layers``: the layers drawn (grids, households, outlines, heat map, incidents, workers,
  sites), their legends, labels and colours, :class:`MapData`
- ``assets``: the vendored files (:data:`VENDOR_DIR`, :func:`localize`, :func:`inline_assets`)
- ``basemaps``: Tianditu, OSM and self-hosted tiles; GCJ-02/BD-09 hosts refused
- ``tiles``: Mapbox vector tiles cut in PostGIS (:func:`vector_tile`)

Callers use the names below, ``from gridmap import maps; maps.unit_map(...)``.
"""

from gridmap.maps.assets import (
    ASSET_ROUTE,
    ASSETS,
    VENDOR_DIR,
    Legend,
    asset_path,
    external_urls,
    inline_assets,
    is_local_url,
    localize,
    page_urls,
)
from gridmap.maps.basemaps import (
    BASEMAPS,
    OSM_URL,
    SHIFTED_TILE_HOSTS,
    TIANDITU_URL,
    basemap_layers,
    check_tile_url,
)
from gridmap.maps.layers import (
    DECIMALS,
    GRID_BREAKS,
    GRID_COLORS,
    LABEL_LIMIT,
    LABELS,
    LANGS,
    LAYERS,
    OUTLINE_STYLE,
    STAGE_COLORS,
    TOLERANCE_DEG,
    WORKER_COLOR,
    MapData,
    simplify,
)
from gridmap.maps.page import (
    MAX_INCIDENTS,
    MAX_WORKERS,
    OUTLINE_LEVELS,
    VECTOR_TILES_ABOVE,
    check_options,
    draw,
    load,
    render,
    unit_map,
)
from gridmap.maps.relocation import plan_map
from gridmap.maps.tiles import MAX_TILE_ZOOM, TILE_MIN_ZOOM, TILE_ROUTE, code_level, vector_tile

__all__ = [
    "ASSETS",
    "ASSET_ROUTE",
    "BASEMAPS",
    "DECIMALS",
    "GRID_BREAKS",
    "GRID_COLORS",
    "LABELS",
    "LABEL_LIMIT",
    "LANGS",
    "LAYERS",
    "MAX_INCIDENTS",
    "MAX_TILE_ZOOM",
    "MAX_WORKERS",
    "OSM_URL",
    "OUTLINE_LEVELS",
    "OUTLINE_STYLE",
    "SHIFTED_TILE_HOSTS",
    "STAGE_COLORS",
    "TIANDITU_URL",
    "TILE_MIN_ZOOM",
    "TILE_ROUTE",
    "TOLERANCE_DEG",
    "VECTOR_TILES_ABOVE",
    "VENDOR_DIR",
    "WORKER_COLOR",
    "Legend",
    "MapData",
    "asset_path",
    "basemap_layers",
    "check_options",
    "check_tile_url",
    "code_level",
    "draw",
    "external_urls",
    "inline_assets",
    "is_local_url",
    "load",
    "localize",
    "page_urls",
    "plan_map",
    "render",
    "simplify",
    "unit_map",
    "vector_tile",
]
