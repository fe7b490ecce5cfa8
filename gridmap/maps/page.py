"""The map page: a unit loaded from the database and drawn as one folium map.

:func:`unit_map` = :func:`load` (the unit, its outlines and grids, incidents, on-duty workers)
then :func:`draw` (basemap, layers, layer control, title, assets localized); :func:`render`
gives the HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
from sqlalchemy.orm import Session

import geopandas as gpd

from gridmap import codes, db, incidents, workers
from gridmap.auth.access import SEES, sees_sensitive
from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import InvalidInputError, UnknownCodeError
from gridmap.incidents import IncidentView
from gridmap.maps.assets import ASSET_ROUTE, localize
from gridmap.maps.basemaps import basemap_layers
from gridmap.maps.layers import (
    LANGS,
    LAYERS,
    TOLERANCE_DEG,
    MapData,
    decorate,
    draw_layers,
    worker_columns,
)
from gridmap.maps.tiles import code_level
from gridmap.vocabulary import Role, Sensitivity
from gridmap.workers import WorkerView

MAX_INCIDENTS = 5000
MAX_WORKERS = 5000
# A map with more grids than this draws them from vector tiles (when a tile route is given):
# embedded, 1,000 grids cost about 1.4 MB of county page, so 2,000 stay well under 5 MB.
VECTOR_TILES_ABOVE = 2000

# Layers whose points are people: drawn only for roles that see sensitive data.
PERSONAL_LAYERS = ("workers", "households")

# Which outline levels a map draws below its subject (grids are their own layer).
OUTLINE_LEVELS: dict[str, tuple[str, ...]] = {
    "county": ("village", "township", "county"),
    "township": ("village", "township"),
    "village": ("village",),
    "grid": ("village",),
}


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


def render(m: folium.Map) -> str:
    """The map as one standalone HTML page (data embedded, assets linked under asset_url)."""
    return str(m.get_root().render())


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
    for layer in draw_layers(
        data,
        layers,
        lang=lang,
        tolerance=tolerance,
        asset_url=asset_url,
        tile_route=tile_route,
        vector_tiles_above=vector_tiles_above,
        map_name=m.get_name(),
    ):
        layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    decorate(m, data, lang, stages="incidents" in layers and bool(data.incidents))
    return localize(m, asset_url)


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
    scope: Scope = EVERYTHING,
    names: bool = True,
) -> MapData:
    """Load a unit, its outlines and grids, its incidents and on-duty workers for a map:
    incidents and workers only inside ``scope``, workers' names only if ``names``.

    Raises InvalidCodeError for a malformed code, UnknownCodeError for one that names no unit.
    """
    level = code_level(code)
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
    staff = db.workers.grid_workers(session, grids["code"].tolist()) if names and len(grids) else {}
    primary, everyone = worker_columns(grids["code"].tolist(), staff, lang)
    grids = grids.assign(worker=primary, workers=everyone)
    cases: list[IncidentView] = []
    total = 0
    if "incidents" in layers or "heatmap" in layers:
        total, cases = incidents.search(
            session, county=county, code=code, limit=max_incidents, scope=scope
        )
    on_duty: list[WorkerView] = []
    if "workers" in layers:
        _, on_duty = workers.search(
            session, county=county, code=code, on_duty=True, limit=max_workers, scope=scope
        )
    site_rows: list[dict[str, Any]] = []
    if "sites" in layers:
        site_rows = [
            s
            for s in db.sites.read(session, county=county)
            if level == "county" or (s["village_code"] or "").startswith(code[:12])
        ]
    return MapData(
        code=code,
        name=str(subject["name"].iloc[0]),
        level=level,
        outlines=outlines,
        grids=grids,
        incidents=cases,
        incidents_total=total,
        workers=on_duty,
        sites=site_rows,
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
    scope: Scope = EVERYTHING,
    role: Role | None = None,
) -> folium.Map:
    """A map of the unit ``code`` (county, township, village or grid) and what lies under it.

    Assets load from ``asset_url`` (the app serves them at ASSET_ROUTE; a file:// URL of
    VENDOR_DIR works for a page opened from disk); ``basemap`` None draws no tiles at all.
    """
    # Refuse bad options before reading anything.
    check_options(lang=lang, layers=layers)
    if role is not None and not sees_sensitive(role):  # workers' and households' points
        layers = [name for name in layers if name not in PERSONAL_LAYERS]
    names = role is None or Sensitivity.INTERNAL in SEES[role]
    basemap_layers(basemap, tianditu_key=tianditu_key, tile_url=tile_url)
    data = load(
        session,
        code,
        lang=lang,
        layers=layers,
        max_incidents=max_incidents,
        max_workers=max_workers,
        scope=scope,
        names=names,
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
