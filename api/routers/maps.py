"""Map pages: GET /maps/{code} (HTML, works offline) and the vendored assets they load."""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from api.deps import SessionDep, SettingsDep
from api.schemas.problem import BINARY, COMMON, TEXT, problems
from gridmap import maps
from gridmap.vocabulary import Basemap, Language, TileLayer

router = APIRouter(tags=["maps 地图"], responses=COMMON | problems(404))

GZIP_MIN_BYTES = 1024
ASSET_MAX_AGE_S = 7 * 24 * 3600  # vendored files change only with a new gridmap release


@router.get(
    "/maps/{code}",
    response_class=Response,
    summary="Map of a unit / 区划地图",
    responses={200: {"content": {"text/html": TEXT}}},
)
def unit_map(
    code: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    basemap: Annotated[
        Basemap | None,
        Query(description="none by default: boundaries draw without any network / 底图"),
    ] = None,
    lang: Annotated[Language, Query(description="language / 语言")] = Language.ZH,
) -> Response:
    """A county (6 digits), township (9), village (12) or grid (15) with its children, grids
    coloured by households, incidents, heat map and on-duty workers, as one HTML page.
    """
    page = maps.render(
        maps.unit_map(
            session,
            code,
            asset_url=request.scope.get("root_path", "") + maps.ASSET_ROUTE,
            basemap=basemap,
            tianditu_key=settings.tianditu_key,
            tile_url=settings.tile_url,
            lang=lang,
            tile_route=request.scope.get("root_path", "") + maps.TILE_ROUTE,
        )
    ).encode()
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    # The app has no compression middleware; the embedded GeoJSON shrinks about fivefold.
    if len(page) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        page = gzip.compress(page, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


@router.get(
    maps.TILE_ROUTE + "/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    summary="Vector tile / 矢量切片",
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": BINARY}}},
)
def vector_tile(
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    session: SessionDep,
    under: Annotated[str, Query(description="only units under this code / 上级编码")] = "",
) -> Response:
    """A Mapbox vector tile (EPSG:3857) of current grids or of households, cut by PostGIS."""
    body = maps.vector_tile(session, layer, z, x, y, under=under)
    return Response(
        body,
        media_type="application/vnd.mapbox-vector-tile",
        headers={"Cache-Control": "no-cache"},  # boundaries change with each new generation
    )


@router.get(maps.ASSET_ROUTE + "/{path:path}", include_in_schema=False)
def vendored_asset(path: str) -> FileResponse:
    """A vendored Leaflet/plugin file; paths leaving the vendor folder are refused (404)."""
    return FileResponse(
        maps.asset_path(path), headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}"}
    )
