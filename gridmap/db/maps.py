"""Mapbox vector tiles (MVT) of current grids and of households, cut by PostGIS.

Tiles are in Web Mercator (EPSG:3857, as Leaflet's default CRS expects) at 4096 units per
tile with a 64-unit buffer so strokes meet across tile edges; the index is probed with the
tile's envelope transformed back to EPSG:4326, where the geometries are stored.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.db.scope import EVERYTHING, Scope

GRID_TILE = text(
    """
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env)
    SELECT ST_AsMVT(t, 'grids', 4096, 'geom') FROM (
      SELECT u.code, u.name, u.households, u.persons,
             CASE WHEN :names THEN
               (SELECT w.name FROM worker_grid wg JOIN worker w ON w.id = wg.worker_id
                WHERE wg.grid_code = u.code AND wg.duty = 'primary'
                ORDER BY w.id LIMIT 1) END AS worker,
             ST_AsMVTGeom(ST_Transform(u.geom, 3857), bounds.env, 4096, 64, true) AS geom
      FROM unit u, bounds
      WHERE u.level = 'grid' AND u.generation_high IS NULL
        AND u.code LIKE :prefix || '%'
        AND u.geom && ST_Transform(bounds.env, 4326)
    ) t
    """
)
HOUSEHOLD_TILE = text(
    """
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env)
    SELECT ST_AsMVT(t, 'households', 4096, 'geom') FROM (
      SELECT h.persons,
             ST_AsMVTGeom(ST_Transform(h.geom, 3857), bounds.env, 4096, 64, true) AS geom
      FROM household h, bounds
      WHERE COALESCE(h.grid_code, h.village_code) LIKE :prefix || '%'
        AND (CAST(:codes AS text[]) IS NULL OR EXISTS (
               SELECT 1 FROM unnest(CAST(:codes AS text[])) AS c(p)
               WHERE starts_with(COALESCE(h.grid_code, h.village_code), c.p)))
        AND h.geom && ST_Transform(bounds.env, 4326)
    ) t
    """
)
TILES = {"grids": GRID_TILE, "households": HOUSEHOLD_TILE}


def tile(
    session: Session,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    prefix: str = "",
    scope: Scope = EVERYTHING,
    names: bool = True,
) -> bytes:
    """One MVT tile of ``layer`` ('grids' or 'households') under the code ``prefix``: households
    only inside ``scope``; grids with their primary worker's name only if ``names``.
    """
    params = {
        "z": z,
        "x": x,
        "y": y,
        "prefix": prefix,
        "codes": None if scope.codes is None else list(scope.codes),
        "names": names,
    }
    if layer == "grids":
        params.pop("codes")
    found = session.execute(TILES[layer], params).scalar()
    return bytes(found or b"")
