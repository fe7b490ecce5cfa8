"""Read-only queries for GIS exports and summary tables: one query per layer, all in one county.

Geometry comes back as WKB (polygons) or as x/y columns (points), attributes alongside, so a layer
costs one round trip and no per-row geometry parsing in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

# Every current unit of one level, with its parent's name and, for grids, the primary worker.
UNITS = text(
    """
    SELECT u.code, u.name, u.kind, u.parent_code, p.name AS parent_name, u.county_code,
           u.urban_rural, u.households, u.persons, u.synthetic, u.source,
           w.id AS worker_id, w.name AS worker_name, ST_AsBinary(u.geom) AS wkb
    FROM unit u
    LEFT JOIN unit p ON p.code = u.parent_code AND p.generation_high IS NULL
    LEFT JOIN worker_grid wg ON wg.grid_code = u.code AND wg.duty = 'primary'
    LEFT JOIN worker w ON w.id = wg.worker_id
    WHERE u.county_code = :county AND u.level = :level AND u.generation_high IS NULL
    ORDER BY u.code
    """
)

# Workers at their last GPS fix; without one, at a point inside their primary grid (else their
# first supporting grid). ST_PointOnSurface, unlike the centroid, is always inside the grid.
WORKERS = text(
    """
    WITH links AS (
        SELECT worker_id,
               min(grid_code) FILTER (WHERE duty = 'primary') AS primary_grid,
               min(grid_code) AS first_grid,
               string_agg(grid_code, ',' ORDER BY grid_code) AS grids
        FROM worker_grid
        WHERE county_code = :county
        GROUP BY worker_id
    )
    SELECT w.id, w.name, w.phone, w.role, w.on_duty, w.synthetic, w.last_seen, w.county_code,
           coalesce(l.primary_grid, l.first_grid) AS grid_code, l.grids,
           CASE WHEN w.position IS NOT NULL THEN 'gps'
                WHEN l.primary_grid IS NOT NULL THEN 'primary_grid'
                WHEN l.first_grid IS NOT NULL THEN 'supporting_grid'
                ELSE 'none' END AS position_source,
           ST_X(coalesce(w.position, ST_PointOnSurface(u.geom))) AS lon,
           ST_Y(coalesce(w.position, ST_PointOnSurface(u.geom))) AS lat
    FROM worker w
    LEFT JOIN links l ON l.worker_id = w.id
    LEFT JOIN unit u ON u.code = coalesce(l.primary_grid, l.first_grid)
                    AND u.generation_high IS NULL
    WHERE w.county_code = :county
    ORDER BY w.id
    """
)

INCIDENTS = text(
    """
    SELECT i.id, i.county_code, i.township_code, i.village_code, i.grid_code, i.near_boundary,
           i.category_code, c.name_zh AS category_zh, c.name_en AS category_en, i.case_type,
           i.stage, i.tier, i.description, i.reporter, i.source, i.worker_id, i.reported_at,
           i.stage_due, i.due_at, i.closed_at, i.rating, i.synthetic,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
    FROM incident i
    LEFT JOIN category c ON c.code = i.category_code
    WHERE i.county_code = :county
    ORDER BY i.id
    """
)

HOUSEHOLDS = text(
    """
    SELECT id, county_code, village_code, grid_code, persons, urban, synthetic,
           ST_X(geom) AS lon, ST_Y(geom) AS lat
    FROM household
    WHERE county_code = :county
    ORDER BY id
    """
)

# Per township (prefix 9) or village (prefix 12): households and persons from the household
# register (falling back to the counts recorded on the unit where no household rows exist),
# current grids and villages below it, and distinct workers attached to its grids.
SUMMARY = text(
    """
    WITH u AS (
        SELECT code, name, kind, parent_code, households, persons FROM unit
        WHERE county_code = :county AND level = :level AND generation_high IS NULL
    ), h AS (
        SELECT left(village_code, :n) AS code, count(*) AS households, sum(persons) AS persons
        FROM household WHERE county_code = :county GROUP BY 1
    ), g AS (
        SELECT left(code, :n) AS code, count(*) FILTER (WHERE level = 'grid') AS grids,
               count(*) FILTER (WHERE level = 'village') AS villages
        FROM unit
        WHERE county_code = :county AND level IN ('village', 'grid') AND generation_high IS NULL
        GROUP BY 1
    ), w AS (
        SELECT left(grid_code, :n) AS code, count(DISTINCT worker_id) AS workers
        FROM worker_grid WHERE county_code = :county GROUP BY 1
    )
    SELECT u.code, u.name, u.kind, u.parent_code, p.name AS parent_name,
           coalesce(g.villages, 0) AS villages, coalesce(g.grids, 0) AS grids,
           coalesce(h.households, u.households, 0) AS households,
           coalesce(h.persons, u.persons, 0) AS persons, coalesce(w.workers, 0) AS workers
    FROM u
    LEFT JOIN unit p ON p.code = u.parent_code AND p.generation_high IS NULL
    LEFT JOIN h ON h.code = u.code
    LEFT JOIN g ON g.code = u.code
    LEFT JOIN w ON w.code = u.code
    ORDER BY u.code
    """
)

# Incidents per unit and stage; a case known only to a coarser level (no grid, no village)
# counts for that level and above, never for a unit below it.
INCIDENT_STAGES = text(
    """
    SELECT left(coalesce(grid_code, village_code, township_code), :n) AS code, stage,
           count(*) AS incidents
    FROM incident
    WHERE county_code = :county
    GROUP BY 1, 2
    """
)

PREFIX = {"county": 6, "township": 9, "village": 12}


def _frame(session: Session, query: Any, **params: Any) -> pd.DataFrame:
    result = session.execute(query, params)
    keys = list(result.keys())
    # Column by column: pandas probing each SQLAlchemy Row for attributes costs seconds.
    columns = list(zip(*result.all(), strict=True)) or [() for _ in keys]
    return pd.DataFrame({key: list(values) for key, values in zip(keys, columns, strict=True)})


def _points(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Point layer from lon/lat columns (a missing position stays a null geometry)."""
    lon = frame.pop("lon").to_numpy(dtype=np.float64, na_value=np.nan)
    lat = frame.pop("lat").to_numpy(dtype=np.float64, na_value=np.nan)
    points = shapely.points(lon, lat)
    points[np.isnan(lon) | np.isnan(lat)] = None
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs="EPSG:4326"))


def units(session: Session, county: str, level: str) -> gpd.GeoDataFrame:
    """Current units of ``level`` in ``county`` (EPSG:4326) with parent name and primary worker."""
    frame = _frame(session, UNITS, county=county, level=level)
    wkb = frame.pop("wkb").map(bytes).to_numpy(dtype=object)
    geoms = shapely.from_wkb(wkb) if len(wkb) else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def workers(session: Session, county: str) -> gpd.GeoDataFrame:
    """Workers of ``county`` at their last fix or their grid's point, with the position source."""
    return _points(_frame(session, WORKERS, county=county))


def incidents(session: Session, county: str) -> gpd.GeoDataFrame:
    """Incidents of ``county`` with their category names (EPSG:4326 points)."""
    return _points(_frame(session, INCIDENTS, county=county))


def households(session: Session, county: str) -> gpd.GeoDataFrame:
    """Households of ``county`` (EPSG:4326 points)."""
    return _points(_frame(session, HOUSEHOLDS, county=county))


def summary(session: Session, county: str, level: str) -> pd.DataFrame:
    """Per-unit counts for ``level`` (county, township or village): villages, grids, households,
    persons, workers; one row per current unit, ordered by code.
    """
    return _frame(session, SUMMARY, county=county, level=level, n=PREFIX[level])


def incident_stages(session: Session, county: str, level: str) -> pd.DataFrame:
    """Incident counts per unit code of ``level`` and stage (long form: code, stage, incidents)."""
    return _frame(session, INCIDENT_STAGES, county=county, n=PREFIX[level])
