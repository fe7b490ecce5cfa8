"""GET /exports/{county}.{format} (GIS files) and /exports/{county}/summary.{format} (汇总表)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import SessionDep, audit_read
from api.schemas.problem import BINARY, COMMON, TEXT, problems
from api.security import PrincipalDep
from gridmap import audit, exports
from gridmap.auth.access import Principal
from gridmap.errors import ForbiddenError, NotFoundError
from gridmap.vocabulary import AuditAction, Permission, Sensitivity

router = APIRouter(tags=["exports 成果导出"], responses=COMMON | problems(403, 404))


def _check_county(principal: Principal, county: str, *, whole: bool) -> None:
    """A well-formed code (422 otherwise), EXPORT permission, and the county in the caller's
    area (``whole``: all of it).
    """
    exports.check_county(county)
    principal.require(Permission.EXPORT)
    inside = principal.scope.covers(county) if whole else principal.scope.touches(county)
    if not inside:
        raise NotFoundError(f"no county {county} in your area", code=county)


FORMATS = ", ".join(exports.FORMATS)


def _send(make: Callable[[Path], exports.Download]) -> FileResponse:
    """Build a download in a scratch directory that is removed once the file has been sent."""
    workdir = Path(tempfile.mkdtemp(prefix="gridmap-export-"))
    try:
        download = make(workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return FileResponse(
        download.path,
        media_type=download.media_type,
        filename=download.filename,  # Content-Disposition: attachment; filename="…"
        background=BackgroundTask(shutil.rmtree, workdir, ignore_errors=True),
    )


@router.get(
    "/exports/{county}.{fmt}",
    response_class=FileResponse,
    summary="County layers as GIS files / 县级成果导出",
    responses={
        200: {
            "description": "GeoPackage or KML file; a zip for the multi-file formats",
            "content": {
                "application/geopackage+sqlite3": BINARY,
                "application/vnd.google-earth.kml+xml": BINARY,
                "application/zip": BINARY,
            },
        }
    },
)
def export_county(
    request: Request,
    county: str,
    fmt: str,
    principal: PrincipalDep,
    session: SessionDep,
    crs: Annotated[
        str | None,
        Query(
            description="EPSG:4490 (default; CGCS2000), EPSG:4326, or gk (the county's CGCS2000 "
            "3-degree Gauss-Krüger zone); GeoJSON and KML are always EPSG:4326 / 坐标系"
        ),
    ] = None,
    households: Annotated[
        bool, Query(description="also export the households layer (large) / 含住户图层")
    ] = False,
    encoding: Annotated[
        str, Query(description="utf-8 or gbk (shapefile attribute text only) / 字符编码")
    ] = "utf-8",
) -> FileResponse:
    """Counties, townships, villages, grids, workers and incidents (households on request) of one
    county as ``gpkg``, ``kml``, or a zip of ``shp`` (a zip per layer), ``geojson``, ``csv`` or
    ``parquet`` files; field aliases in Chinese and English come with every format.

    Needs the whole county in the caller's area. Fields and layers follow the caller's role:
    without access to sensitive data there are no worker or household points and no reporters
    (the grids layer still carries households and persons per grid).
    """
    _check_county(principal, county, whole=True)
    if households and not principal.sees(Sensitivity.SENSITIVE):
        raise ForbiddenError(
            f"household points are sensitive data your role {principal.role.value} may not "
            "export; the grids layer carries households and persons per grid",
            role=principal.role.value,
        )
    response = _send(
        lambda workdir: exports.export_download(
            session,
            county,
            fmt,
            workdir,
            crs=crs,
            households=households,
            encoding=encoding,
            role=principal.role,
        )
    )
    if principal.sees(Sensitivity.SENSITIVE):
        audit_read(
            request,
            audit.entry(
                principal,
                AuditAction.READ,
                "export",
                f"{county}.{fmt}",
                county=county,
                detail={"households": households, "layers": ["workers", "incidents"]},
            ),
        )
    return response


@router.get(
    "/exports/{county}/summary.{fmt}",
    response_class=FileResponse,
    summary="Summary tables per township or village / 乡镇、村汇总表",
    responses={
        200: {
            "description": "CSV (UTF-8 with BOM) or XLSX",
            "content": {"text/csv": TEXT, exports.XLSX_MEDIA_TYPE: BINARY},
        }
    },
)
def export_summary(
    county: str,
    fmt: str,
    principal: PrincipalDep,
    session: SessionDep,
    level: Annotated[
        str | None,
        Query(
            description="township or village; CSV defaults to township, XLSX to both sheets "
            "/ 汇总层级"
        ),
    ] = None,
    lang: Annotated[str, Query(description="zh or en column headers / 表头语言")] = "zh",
) -> FileResponse:
    """Households, persons, grids, workers and incidents by stage for every township or village
    of a county, as ``csv`` or ``xlsx`` (aggregates only: no personal data).
    """
    _check_county(principal, county, whole=False)
    return _send(
        lambda workdir: exports.summary_download(
            session, county, fmt, workdir, level=level, lang=lang
        )
    )
