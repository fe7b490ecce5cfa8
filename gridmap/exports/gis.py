"""GIS files of a county (成果导出): :func:`export_county`, written whole or not at all.

Options are checked before anything is read; everything goes to a hidden scratch directory
next to the target, is synced to disk and moved into place at the end, so output never appears
half-written, and nothing the caller did not ask to replace is clobbered.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gridmap import __version__, hierarchy
from gridmap.errors import InvalidInputError
from gridmap.exports.formats import Format, check_crs, check_encoding, check_format, target_epsg
from gridmap.exports.layers import FIELD_DICTIONARY, field_dictionary, layers_for, prepare
from gridmap.exports.writers import WRITERS, Job, to_epsg, write_csv_frame
from gridmap.vocabulary import Role

MANIFEST = "export.json"  # the report, inside every directory export


def _check_target(path: Path, fmt: Format, *, overwrite: bool) -> Path:
    path = Path(path)
    if fmt.single_file and path.suffix.lower() != fmt.extension:
        raise InvalidInputError(
            f"a {fmt.label} export needs a path ending in {fmt.extension}, not {str(path)!r}",
            path=str(path),
        )
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise InvalidInputError(
                f"{str(path)!r} already exists; choose another path or pass overwrite=True "
                "(--overwrite)",
                path=str(path),
            )
        if fmt.single_file and path.is_dir():
            raise InvalidInputError(f"{str(path)!r} is a directory, not a file", path=str(path))
        if not fmt.single_file and not (path / MANIFEST).is_file():
            raise InvalidInputError(
                f"{str(path)!r} exists and is not a previous gridmap export (no {MANIFEST}); "
                "refusing to replace it",
                path=str(path),
            )
    return path


def _sync(path: Path) -> None:
    """Flush written files to disk, so the renamed result survives a power cut whole."""
    for member in [path] if path.is_file() else sorted(path.rglob("*")):
        if member.is_file():
            with open(member, "rb") as handle:
                os.fsync(handle.fileno())


def _move_into_place(source: Path, target: Path) -> None:
    """Replace ``target`` by ``source`` (same filesystem): a rename, so never half there."""
    if source.is_dir() and target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        source.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def export_county(
    session: Session,
    county: str,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    crs: str | None = None,
    households: bool = False,
    encoding: str = "utf-8",
    overwrite: bool = False,
    role: Role | None = None,
) -> dict[str, Any]:
    """Write every layer of ``county`` to ``path`` in format ``fmt``; return a report.

    Parameters
    ----------
    fmt
        ``gpkg`` (one file), ``kml`` (one file), or ``shp`` / ``geojson`` / ``csv`` /
        ``parquet`` (a directory of per-layer files; shapefiles as one zip per layer).
    crs
        ``EPSG:4490`` (default; CGCS2000 lon/lat), ``EPSG:4326``, or ``gk`` (the county's
        CGCS2000 3-degree Gauss–Krüger zone). GeoJSON and KML are always EPSG:4326.
    households
        Also write the households layer (large: one point per household).
    encoding
        ``utf-8`` or ``gbk``; shapefiles only (older ArcGIS versions read GBK attribute text).
    overwrite
        Replace an existing file, or a directory holding a previous export.
    role
        Write only what this role may see (``layers_for``); None (the CLI operator): all.

    Raises InvalidInputError for a bad format, CRS, encoding or path, InvalidCodeError for a
    malformed county code and UnknownCodeError for a county that is not loaded.
    """
    started = time.perf_counter()
    spec = check_format(fmt)
    crs_name = check_crs(crs, spec)
    cpg = check_encoding(encoding, spec)
    target = _check_target(Path(path), spec, overwrite=overwrite)
    county_row = hierarchy.get_unit(session, county, level="county")
    epsg = target_epsg(crs_name, county_row.geometry)
    layers = layers_for(households=households, role=role)
    job = Job(
        county=county,
        epsg=epsg,
        encoding=cpg,
        notes=[],
        layers=tuple(
            (layer, to_epsg(prepare(layer, layer.read(session, county)), epsg)) for layer in layers
        ),
    )
    report: dict[str, Any] = {
        "county_code": county,
        "county_name": county_row["name"],
        "format": spec.name,
        "crs": f"EPSG:{epsg}",
        "epsg": epsg,
        "path": str(target),
        "encoding": cpg,
        "households": households,
        "layers": [
            {
                "name": layer.name,
                "alias_zh": layer.alias_zh,
                "alias_en": layer.alias_en,
                "geometry_type": layer.geometry_type,
                "features": len(frame),
            }
            for layer, frame in job.layers
        ],
        "gridmap_version": __version__,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        out = scratch / target.name
        files = WRITERS[spec.name](job, out)
        if not spec.single_file:
            write_csv_frame(field_dictionary(layers), out / f"{FIELD_DICTIONARY}.csv")
            files.append(f"{FIELD_DICTIONARY}.csv")
            files.append(MANIFEST)
        report["files"] = files
        report["notes"] = job.notes
        report["seconds"] = round(time.perf_counter() - started, 3)
        if not spec.single_file:
            (out / MANIFEST).write_text(
                json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
            )
        _sync(out)
        _move_into_place(out, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
