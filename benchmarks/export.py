"""Benchmark: county GeoPackage export (all layers, no households) against ``ogr2ogr``.

Both write the same six layers of one county from the same PostGIS to a fresh GeoPackage labelled
EPSG:4490, in the same run: ``gridmap.exports.export_county`` (one query per layer, areas in the
Gauss–Krüger zone with shapely, pyogrio/Arrow writes, aliases and field dictionary) and one
``ogr2ogr -sql`` call per layer (``-update`` appending layers) whose SQL selects the same rows,
joins and areas (PostGIS ``ST_Area`` of the segmentized geometry in the same GK zone). Each side
runs ``repeat`` times after one warm-up; the median and best wall times are reported with their
ratio (goal: gridmap under 10 s and no slower than ogr2ogr). gridmap writes its scratch file with
SQLite syncs off and syncs it once at the end, so ogr2ogr is timed both with its defaults and
with ``OGR_SQLITE_SYNCHRONOUS=OFF``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import pyogrio

from gridmap import __version__, crs, db, exports, hierarchy

UNIT_SQL = """
SELECT u.code, u.name, u.kind, u.parent_code, p.name AS parent_name, u.county_code,
       u.urban_rural, u.households, u.persons, u.synthetic, u.source,
       w.id AS worker_id, w.name AS worker_name,
       round(ST_Area(ST_Transform(ST_Segmentize(u.geom, {segment}), {epsg}))::numeric, 2)
         AS area_m2,
       round((ST_Area(ST_Transform(ST_Segmentize(u.geom, {segment}), {epsg})) / {mu})::numeric, 4)
         AS area_mu,
       u.geom
FROM unit u
LEFT JOIN unit p ON p.code = u.parent_code AND p.generation_high IS NULL
LEFT JOIN worker_grid wg ON wg.grid_code = u.code AND wg.duty = 'primary'
LEFT JOIN worker w ON w.id = wg.worker_id
WHERE u.county_code = '{county}' AND u.level = '{level}' AND u.generation_high IS NULL
ORDER BY u.code
"""
WORKER_SQL = """
WITH links AS (
    SELECT worker_id, min(grid_code) FILTER (WHERE duty = 'primary') AS primary_grid,
           min(grid_code) AS first_grid, string_agg(grid_code, ',' ORDER BY grid_code) AS grids
    FROM worker_grid WHERE county_code = '{county}' GROUP BY worker_id
)
SELECT w.id, w.name, w.phone, w.role, w.on_duty, w.synthetic, w.last_seen, w.county_code,
       coalesce(l.primary_grid, l.first_grid) AS grid_code, l.grids,
       CASE WHEN w.position IS NOT NULL THEN 'gps'
            WHEN l.primary_grid IS NOT NULL THEN 'primary_grid'
            WHEN l.first_grid IS NOT NULL THEN 'supporting_grid' ELSE 'none' END
         AS position_source,
       coalesce(w.position, ST_PointOnSurface(u.geom)) AS geom
FROM worker w
LEFT JOIN links l ON l.worker_id = w.id
LEFT JOIN unit u ON u.code = coalesce(l.primary_grid, l.first_grid) AND u.generation_high IS NULL
WHERE w.county_code = '{county}'
ORDER BY w.id
"""
INCIDENT_SQL = """
SELECT i.id, i.county_code, i.township_code, i.village_code, i.grid_code, i.near_boundary,
       i.category_code, c.name_zh AS category_zh, c.name_en AS category_en, i.case_type, i.stage,
       i.tier, i.description, i.reporter, i.source, i.worker_id, i.reported_at, i.stage_due,
       i.due_at, i.closed_at, i.rating, i.synthetic, i.geom
FROM incident i LEFT JOIN category c ON c.code = i.category_code
WHERE i.county_code = '{county}'
ORDER BY i.id
"""


def ogr2ogr_statements(county: str, epsg: int) -> list[tuple[str, str, str]]:
    """(layer, geometry type, SQL) for every layer gridmap writes by default."""
    unit = {"county": county, "epsg": epsg, "segment": crs.SEGMENT_DEG, "mu": exports.M2_PER_MU}
    levels = {"counties": "county", "townships": "township", "villages": "village", "grids": "grid"}
    statements = [
        (name, "MULTIPOLYGON", UNIT_SQL.format(level=level, **unit))
        for name, level in levels.items()
    ]
    statements.append(("workers", "POINT", WORKER_SQL.format(county=county)))
    statements.append(("incidents", "POINT", INCIDENT_SQL.format(county=county)))
    return statements


def _pg_source(database_url: str) -> tuple[str, dict[str, str]]:
    """GDAL's PG: connection string (password in the environment, not on the command line)."""
    url = make_url(database_url)
    parts = {"host": url.host, "port": url.port, "dbname": url.database, "user": url.username}
    source = "PG:" + " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return source, env


def run_ogr2ogr(
    database_url: str, county: str, epsg: int, out: Path, *, synchronous_off: bool = False
) -> float:
    """Seconds for one ogr2ogr call per layer into a fresh GeoPackage (optionally with SQLite
    syncs off, as gridmap writes its scratch file).
    """
    source, env = _pg_source(database_url)
    if synchronous_off:
        env["OGR_SQLITE_SYNCHRONOUS"] = "OFF"
    started = time.perf_counter()
    for position, (layer, geometry_type, sql) in enumerate(ogr2ogr_statements(county, epsg)):
        command = ["ogr2ogr", "-f", "GPKG", str(out), source, "-sql", sql, "-nln", layer]
        command += ["-nlt", geometry_type, "-a_srs", "EPSG:4490"]
        command += ["-dsco", "VERSION=1.2"] if position == 0 else ["-update"]
        subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def run_gridmap(database_url: str, county: str, out: Path) -> float:
    """Seconds for ``export_county`` to a fresh GeoPackage, session and reads included."""
    engine = db.session.make_engine(database_url)
    try:
        started = time.perf_counter()
        with Session(engine) as session:
            exports.export_county(session, county, "gpkg", out)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def _counts(path: Path) -> dict[str, int]:
    return {
        str(name): int(pyogrio.read_info(path, layer=str(name))["features"])
        for name, _ in pyogrio.list_layers(path)
        if name != exports.FIELD_DICTIONARY
    }


def run(database_url: str, county: str, *, repeat: int = 5) -> dict[str, Any]:
    """Time both exporters ``repeat`` times (after a warm-up each); return the figures."""
    if shutil.which("ogr2ogr") is None:
        raise RuntimeError("ogr2ogr not found: install GDAL's command line tools (gdal-bin)")
    engine = db.session.make_engine(database_url)
    with Session(engine) as session:
        geometry = hierarchy.get_unit(session, county, level="county").geometry
    engine.dispose()
    epsg = exports.target_epsg("gk", geometry)
    gridmap_s: list[float] = []
    ogr_s: list[float] = []
    ogr_off_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-export-") as scratch:
        work = Path(scratch)
        for attempt in range(repeat + 1):  # attempt 0 warms caches and is not counted
            ours, theirs = work / f"gridmap-{attempt}.gpkg", work / f"ogr2ogr-{attempt}.gpkg"
            mine = run_gridmap(database_url, county, ours)
            other = run_ogr2ogr(database_url, county, epsg, theirs)
            other_off = run_ogr2ogr(
                database_url,
                county,
                epsg,
                work / f"ogr2ogr-off-{attempt}.gpkg",
                synchronous_off=True,
            )
            if attempt:
                gridmap_s.append(mine)
                ogr_s.append(other)
                ogr_off_s.append(other_off)
        counts, ogr_counts = _counts(ours), _counts(theirs)
        sizes = {"gridmap": ours.stat().st_size, "ogr2ogr": theirs.stat().st_size}
    version = subprocess.run(
        ["ogr2ogr", "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    median, other_median = statistics.median(gridmap_s), statistics.median(ogr_s)
    return {
        "county": county,
        "layers": counts,
        "same_counts": counts == ogr_counts,
        "repeat": repeat,
        "gridmap_s": {"median": round(median, 3), "best": round(min(gridmap_s), 3)},
        "ogr2ogr_s": {"median": round(other_median, 3), "best": round(min(ogr_s), 3)},
        "ogr2ogr_synchronous_off_s": {
            "median": round(statistics.median(ogr_off_s), 3),
            "best": round(min(ogr_off_s), 3),
        },
        "ratio_ogr2ogr_over_gridmap": round(other_median / median, 2),
        "ratio_ogr2ogr_synchronous_off_over_gridmap": round(
            statistics.median(ogr_off_s) / median, 2
        ),
        "goal_under_10s": median < 10.0,
        "goal_not_slower_than_ogr2ogr": median <= other_median,
        "bytes": sizes,
        "gk_epsg_for_areas": epsg,
        "versions": {
            "gridmap": __version__,
            "pyogrio_gdal": pyogrio.__gdal_version_string__,
            "ogr2ogr": version,
        },
    }
