"""Downloads: one file per HTTP request (directories zipped), in a scratch directory."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gridmap import codes
from gridmap.errors import InvalidCodeError
from gridmap.exports.formats import check_format
from gridmap.exports.gis import export_county
from gridmap.exports.summary import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, check_level, export_summary
from gridmap.vocabulary import Role


@dataclass(frozen=True, slots=True)
class Download:
    """A file ready to send: where it is, the name to offer and its media type."""

    path: Path
    filename: str
    media_type: str
    report: dict[str, Any]


def export_download(
    session: Session,
    county: str,
    fmt: str,
    directory: str | os.PathLike[str],
    *,
    crs: str | None = None,
    households: bool = False,
    encoding: str = "utf-8",
    role: Role | None = None,
) -> Download:
    """Export into ``directory`` (a scratch directory the caller removes) as one file: the
    GeoPackage or KML itself, or a zip of the per-layer files (shapefiles: a zip of zips).
    """
    spec = check_format(fmt)
    check_county(county)  # before the code becomes part of a file name
    workdir = Path(directory)
    staging = workdir / (
        f"{county}{spec.extension}" if spec.single_file else f"{county}_{spec.name}"
    )
    report = export_county(
        session,
        county,
        spec.name,
        staging,
        crs=crs,
        households=households,
        encoding=encoding,
        role=role,
    )
    name = f"{county}_epsg{report['epsg']}"
    if spec.name == "shp" and report["encoding"] != "UTF-8":
        name += f"_{report['encoding'].lower()}"
    if spec.single_file:
        return Download(staging, f"{name}{spec.extension}", spec.media_type, report)
    archive = workdir / f"{name}_{spec.name}.zip"
    _zip_directory(staging, archive, root=f"{name}_{spec.name}")
    return Download(archive, archive.name, spec.media_type, report)


def check_county(county: str) -> None:
    """A county code of six ASCII digits ("５１３４０１".isdigit() is True too)."""
    if not county.isascii():
        raise InvalidCodeError(
            f"county code {county!r} must be 6 ASCII digits", code=county, level="county"
        )
    codes.check_code(county, "county")


def summary_download(
    session: Session,
    county: str,
    fmt: str,
    directory: str | os.PathLike[str],
    *,
    level: str | None = None,
    lang: str = "zh",
) -> Download:
    """Summary tables as one CSV or XLSX file in ``directory``."""
    key = str(fmt).strip().lower().lstrip(".")
    check_county(county)  # before the code becomes part of a file name
    suffix = f"_{check_level(level)}" if level else ""
    path = Path(directory) / f"{county}_summary{suffix}.{key}"
    report = export_summary(session, county, key, path, level=level, lang=lang)
    media_type = XLSX_MEDIA_TYPE if key == "xlsx" else CSV_MEDIA_TYPE
    return Download(path, path.name, media_type, report)


def _zip_directory(source: Path, archive: Path, *, root: str) -> None:
    """Zip a directory under one root folder; zips inside are stored, not compressed again."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for member in sorted(source.rglob("*")):
            if member.is_file():
                kind = zipfile.ZIP_STORED if member.suffix == ".zip" else zipfile.ZIP_DEFLATED
                out.write(member, f"{root}/{member.relative_to(source).as_posix()}", kind)
