"""Map pages: GET /maps/{code} (HTML, works offline) and the vendored assets they load."""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from api.deps import SessionDep, SettingsDep, audit_read
from api.schemas.problem import BINARY, COMMON, TEXT, problems
from api.security import PrincipalDep
from gridmap import audit, maps
from gridmap.errors import ForbiddenError, NotFoundError
from gridmap.vocabulary import AuditAction, Basemap, Language, Sensitivity, TileLayer

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
    principal: PrincipalDep,
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

    Only units that overlap the caller's area; incidents and workers only inside it; worker and
    household points only for roles that see sensitive data.
    """
    if not code.isascii() or not code.isdigit() or not principal.scope.touches(code):
        maps.code_level(code)  # a malformed code says so (422); a well-formed one is not found
        raise NotFoundError(f"no unit {code} in your area", code=code)
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
            scope=principal.scope,
            role=principal.role,
        )
    ).encode()
    if principal.sees(Sensitivity.SENSITIVE):  # the page shows on-duty workers' positions
        audit_read(
            request,
            audit.entry(principal, AuditAction.READ, "map", code, detail={"layers": ["workers"]}),
        )
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
    request: Request,
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    principal: PrincipalDep,
    session: SessionDep,
    under: Annotated[str, Query(description="only units under this code / 上级编码")] = "",
) -> Response:
    """A Mapbox vector tile (EPSG:3857) of current grids or of households, cut by PostGIS.

    Household points are sensitive: only for roles that see them, only inside their area.
    """
    if layer is TileLayer.HOUSEHOLDS and not principal.sees(Sensitivity.SENSITIVE):
        raise ForbiddenError(
            f"household points are sensitive data your role {principal.role.value} may not "
            "see; the grids layer carries households per grid",
            role=principal.role.value,
        )
    body = maps.vector_tile(
        session,
        layer,
        z,
        x,
        y,
        under=under,
        scope=principal.scope,
        names=principal.sees(Sensitivity.INTERNAL),
    )
    if layer is TileLayer.HOUSEHOLDS and body:
        audit_read(
            request,
            audit.entry(principal, AuditAction.READ, "household", None, detail={"tile": [z, x, y]}),
        )
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
