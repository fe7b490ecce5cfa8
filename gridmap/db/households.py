"""Household rows (户): bulk-loaded with COPY, read back as frames of lon/lat points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, delete, func, or_, select, text
from sqlalchemy.orm import Session

import shapely

from gridmap.db.models import Household


def copy_in(session: Session, frame: pd.DataFrame, *, county_code: str, synthetic: bool) -> int:
    """Insert households (lon, lat, persons, village_code, urban) with COPY; return the count."""
    connection = session.connection().connection.driver_connection
    assert connection is not None
    columns = "county_code, village_code, persons, urban, synthetic, geom"
    urban = frame["urban"].to_numpy() if "urban" in frame else np.zeros(len(frame), bool)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY household ({columns}) FROM STDIN") as copy,
    ):
        for village, persons, is_urban, lon, lat in zip(
            frame["village_code"], frame["persons"], urban, frame["lon"], frame["lat"], strict=True
        ):
            copy.write_row(
                (
                    county_code,
                    village,
                    int(persons),
                    bool(is_urban),
                    synthetic,
                    f"SRID=4326;POINT({lon!r} {lat!r})",
                )
            )
    return len(frame)


def read(session: Session, *, county: str, villages: Sequence[str] | None = None) -> pd.DataFrame:
    """Households of a county (optionally some villages) as id, lon, lat, persons, codes."""
    query = select(
        Household.id,
        func.ST_X(Household.geom).label("lon"),
        func.ST_Y(Household.geom).label("lat"),
        Household.persons,
        Household.urban,
        Household.village_code,
        Household.grid_code,
    ).where(Household.county_code == county)
    if villages is not None:
        query = query.where(Household.village_code.in_(list(villages)))
    rows = session.execute(query.order_by(Household.id)).all()
    return pd.DataFrame(
        rows, columns=["id", "lon", "lat", "persons", "urban", "village_code", "grid_code"]
    )


def set_grids(
    session: Session, ids: Sequence[int] | NDArray[np.int64], grid_codes: Sequence[str | None]
) -> None:
    """Record each household's grid (after grids are drawn), in one statement."""
    if not len(ids):
        return
    session.execute(
        text(
            "UPDATE household h SET grid_code = v.grid_code FROM "
            "unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[])) AS v(id, grid_code) "
            "WHERE h.id = v.id"
        ),
        {"ids": list(map(int, ids)), "codes": list(grid_codes)},
    )


def delete_county(session: Session, county_code: str) -> None:
    """Remove a county's households (a synthetic county is regenerated as a whole)."""
    session.execute(delete(Household).where(Household.county_code == county_code))


def affected(
    session: Session,
    *,
    county: str,
    hazard: shapely.Geometry | None,
    villages: Sequence[str],
    grids: Sequence[str],
) -> pd.DataFrame:
    """Households of ``county`` inside ``hazard`` or in the villages or grids named (any of
    them), as id, lon, lat, persons, flags, village_code, grid_code; ordered by id.
    """
    where: list[ColumnElement[bool]] = []
    if hazard is not None:
        where.append(
            func.ST_Intersects(Household.geom, func.ST_GeomFromText(shapely.to_wkt(hazard), 4326))
        )
    if villages:
        where.append(Household.village_code.in_(list(villages)))
    if grids:
        where.append(Household.grid_code.in_(list(grids)))
    query = select(
        Household.id,
        func.ST_X(Household.geom).label("lon"),
        func.ST_Y(Household.geom).label("lat"),
        Household.persons,
        Household.flags,
        Household.village_code,
        Household.grid_code,
    ).where(Household.county_code == county, or_(*where))
    rows = session.execute(query.order_by(Household.id)).all()
    return pd.DataFrame(
        rows, columns=["id", "lon", "lat", "persons", "flags", "village_code", "grid_code"]
    )
