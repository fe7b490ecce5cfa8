"""Unit rows (county…grid) by generation, read and written as GeoDataFrames or GeoJSON text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import CursorResult, Row, func, insert, select, text, update
from sqlalchemy.orm import Session, aliased

import geopandas as gpd
import shapely
from geoalchemy2 import functions as gfunc

from gridmap import geometry
from gridmap.db.generations import alive_in
from gridmap.db.models import Lineage, Unit
from gridmap.errors import HierarchyError

COLUMNS = (
    "id",
    "code",
    "name",
    "level",
    "kind",
    "parent_code",
    "county_code",
    "urban_rural",
    "households",
    "persons",
    "synthetic",
    "generation_low",
    "generation_high",
)


def _filters(
    *,
    level: str | None = None,
    parent: str | None = None,
    county: str | None = None,
    codes: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    generation: int | None = None,
) -> list[Any]:
    clauses: list[Any] = [alive_in(generation)]
    if level:
        clauses.append(Unit.level == level)
    if parent:
        clauses.append(Unit.parent_code == parent)
    if county:
        clauses.append(Unit.county_code == county)
    if codes is not None:
        clauses.append(Unit.code.in_(list(codes)))
    if bbox:
        clauses.append(Unit.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    return clauses


def read(session: Session, **filters: Any) -> gpd.GeoDataFrame:
    """Units matching ``filters`` (level, parent, county, codes, bbox, generation)."""
    columns = [getattr(Unit, name) for name in COLUMNS]
    query = (
        select(*columns, func.ST_AsBinary(Unit.geom).label("wkb"))
        .where(*_filters(**filters))
        .order_by(Unit.code)
    )
    return _frame(session.execute(query).all())


def _frame(rows: Sequence[Row[*tuple[Any, ...]]]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame([row[:-1] for row in rows], columns=list(COLUMNS))
    geoms = shapely.from_wkb(np.array([bytes(row[-1]) for row in rows], dtype=object))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def count(session: Session, **filters: Any) -> int:
    """Number of units matching ``filters``."""
    return int(
        session.scalar(select(func.count()).select_from(Unit).where(*_filters(**filters))) or 0
    )


def features(
    session: Session, *, limit: int, offset: int = 0, **filters: Any
) -> Sequence[Row[*tuple[Any, ...]]]:
    """Units with their geometry as RFC 7946 GeoJSON text (6 decimals), ordered by code."""
    columns = [getattr(Unit, name) for name in COLUMNS]
    query = (
        select(*columns, func.ST_AsGeoJSON(Unit.geom, 6, 0).label("geojson"))
        .where(*_filters(**filters))
        .order_by(Unit.code)
        .limit(limit)
        .offset(offset)
    )
    return session.execute(query).all()


def covering(
    session: Session, lon: float, lat: float, *, generation: int | None = None
) -> list[Row[*tuple[Any, ...]]]:
    """Units of every level whose geometry covers the WGS84 point (edges included)."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    query = (
        select(Unit.code, Unit.name, Unit.level, Unit.kind, Unit.county_code)
        .where(alive_in(generation), gfunc.ST_Covers(Unit.geom, point))
        .order_by(Unit.code)
    )
    return list(session.execute(query).all())


def near(
    session: Session,
    lon: float,
    lat: float,
    *,
    level: str,
    distance_m: float,
    generation: int | None = None,
) -> list[str]:
    """Codes of ``level`` units within ``distance_m`` metres of the point (geography distance)."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    query = (
        select(Unit.code)
        .where(
            alive_in(generation),
            Unit.level == level,
            func.ST_DWithin(func.geography(Unit.geom), func.geography(point), distance_m),
        )
        .order_by(Unit.code)
    )
    return list(session.scalars(query))


def insert_frame(session: Session, frame: gpd.GeoDataFrame, *, generation: int) -> list[int]:
    """Insert units (EPSG:4326) alive from ``generation``; return their ids."""
    if frame.empty:
        return []
    geoms = geometry.to_multipolygons(np.asarray(frame.geometry.values, dtype=object))
    wkb = shapely.to_wkb(geoms, output_dimension=2)
    records = []
    for row, geom in zip(frame.itertuples(index=False), wkb, strict=True):
        records.append(
            {
                "code": row.code,
                "name": row.name,
                "level": row.level,
                "kind": row.kind,
                "parent_code": row.parent_code,
                "county_code": row.county_code,
                "urban_rural": getattr(row, "urban_rural", None),
                "households": int(getattr(row, "households", 0) or 0),
                "persons": int(getattr(row, "persons", 0) or 0),
                "synthetic": bool(getattr(row, "synthetic", False)),
                "source": str(getattr(row, "source", "") or ""),
                "properties": getattr(row, "properties", None) or {},
                "geom": func.ST_SetSRID(func.ST_GeomFromWKB(geom), 4326),
                "generation_low": generation,
            }
        )
    ids: list[int] = []
    # Chunks keep each statement's parameter count well under PostgreSQL's 65,535 limit.
    for start in range(0, len(records), 2000):
        chunk = records[start : start + 2000]
        result = session.execute(insert(Unit).values(chunk).returning(Unit.id))
        ids.extend(int(i) for i in result.scalars())
    return ids


def retire(session: Session, ids: Sequence[int], *, generation: int) -> None:
    """End the life of rows ``ids`` just before ``generation`` (they stay in history)."""
    if ids:
        session.execute(
            update(Unit).where(Unit.id.in_(list(ids))).values(generation_high=generation - 1)
        )


def record_lineage(
    session: Session,
    pairs: Sequence[tuple[int, int | None]],
    *,
    op: str,
    generation: int,
    county_code: str,
) -> None:
    """Write lineage rows predecessor → successor for one operation."""
    if pairs:
        session.execute(
            insert(Lineage),
            [
                {
                    "predecessor_id": old,
                    "successor_id": new,
                    "op": op,
                    "generation_id": generation,
                    "county_code": county_code,
                }
                for old, new in pairs
            ],
        )


def leaves(session: Session, *, county: str | None = None) -> gpd.GeoDataFrame:
    """Current units with no current children: the finest layer, where point lookups end."""
    child = aliased(Unit)
    has_child = (
        select(child.id)
        .where(child.parent_code == Unit.code, child.generation_high.is_(None))
        .exists()
    )
    columns = [getattr(Unit, name) for name in COLUMNS]
    query = select(*columns, func.ST_AsBinary(Unit.geom).label("wkb")).where(
        Unit.generation_high.is_(None), ~has_child
    )
    if county:
        query = query.where(Unit.county_code == county)
    rows = session.execute(query.order_by(Unit.code)).all()
    return _frame(rows)


def retire_below_county(
    session: Session, county_code: str, *, levels: Sequence[str], generation: int
) -> int:
    """End the life of a county's current units of ``levels``; return how many."""
    result = session.execute(
        update(Unit)
        .where(
            Unit.county_code == county_code,
            Unit.level.in_(list(levels)),
            Unit.generation_high.is_(None),
        )
        .values(generation_high=generation - 1)
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def source_of(session: Session, county_code: str, level: str) -> str | None:
    """The source recorded on a county's current units of ``level`` (one of them)."""
    return session.scalar(
        select(Unit.source)
        .where(Unit.county_code == county_code, Unit.level == level, Unit.generation_high.is_(None))
        .limit(1)
    )


def read_ids(session: Session, ids: Sequence[int]) -> gpd.GeoDataFrame:
    """Units by primary key, whatever their generation."""
    columns = [getattr(Unit, name) for name in COLUMNS]
    query = select(*columns, func.ST_AsBinary(Unit.geom).label("wkb")).where(Unit.id.in_(list(ids)))
    return _frame(session.execute(query).all())


def ids_of(session: Session, ids: Sequence[int] | NDArray[np.int64]) -> list[int]:
    """Which of ``ids`` are current units."""
    unique = sorted({int(i) for i in ids})
    query = select(Unit.id).where(Unit.id.in_(unique), Unit.generation_high.is_(None))
    return list(session.scalars(query))


def names(session: Session) -> dict[str, str]:
    """Name of every current unit, by code."""
    return dict(
        session.execute(select(Unit.code, Unit.name).where(Unit.generation_high.is_(None))).all()
    )


def overlaps(
    session: Session, codes: Sequence[str], wkb: Sequence[bytes], level: str
) -> list[tuple[str, str, float]]:
    """(new code, current unit's code, overlap m²) for each current unit of ``level`` that
    overlaps one of the given geometries (WGS84 WKB) and is not the unit being redrawn.
    """
    statement = text(
        """
        SELECT n.code, u.code,
               ST_Area(ST_Intersection(u.geom, n.geom)::geography) AS m2
        FROM unnest(CAST(:codes AS text[]), CAST(:wkb AS bytea[])) AS i(code, wkb)
        CROSS JOIN LATERAL (SELECT i.code, ST_SetSRID(ST_GeomFromWKB(i.wkb), 4326) AS geom) n
        JOIN unit u ON u.level = :level AND u.generation_high IS NULL AND u.code <> n.code
             AND u.geom && n.geom AND ST_Intersects(u.geom, n.geom)
             AND NOT ST_Touches(u.geom, n.geom)
        ORDER BY m2 DESC
        """
    )
    rows = session.execute(statement, {"codes": list(codes), "wkb": list(wkb), "level": level})
    return [(str(a), str(b), float(m2)) for a, b, m2 in rows]


def next_code(session: Session, parent: str, low: int, high: int) -> str:
    """The next village-level code under township ``parent`` in the block ``low``–``high``,
    after every code ever used there (in any generation): a retired code is never reused.
    """
    used = session.scalars(
        select(Unit.code).where(Unit.parent_code == parent, Unit.level == "village")
    ).all()
    taken = [int(c[9:12]) for c in used if low <= int(c[9:12]) <= high]
    number = max(taken, default=low - 1) + 1
    if number > high:
        raise HierarchyError(
            f"township {parent} has used every code from {low:03d} to {high:03d}", code=parent
        )
    return f"{parent}{number:03d}"
