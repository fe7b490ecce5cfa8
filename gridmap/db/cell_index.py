"""Persisted H3 index rows (h3_cell, unit_id, exact) per county and resolution."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridmap.db.models import CellIndex


def replace(
    session: Session,
    *,
    county_code: str,
    resolution: int,
    cells: NDArray[np.uint64],
    unit_ids: NDArray[np.int64],
    exact: NDArray[np.bool_],
    generation: int,
) -> int:
    """Swap a county's rows at ``resolution`` for new ones (COPY); return the row count."""
    session.execute(
        delete(CellIndex).where(
            CellIndex.county_code == county_code, CellIndex.resolution == resolution
        )
    )
    connection = session.connection().connection.driver_connection
    assert connection is not None
    columns = "county_code, resolution, h3_cell, unit_id, exact, generation"
    signed = np.asarray(cells, dtype=np.uint64).view(np.int64)  # H3 ids fit in 63 bits
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY cell_index ({columns}) FROM STDIN") as copy,
    ):
        for cell, unit, is_exact in zip(
            signed.tolist(), np.asarray(unit_ids).tolist(), np.asarray(exact).tolist(), strict=True
        ):
            copy.write_row((county_code, resolution, cell, unit, is_exact, generation))
    return len(signed)


def read(
    session: Session, *, resolution: int, county: str | None = None
) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.bool_]]:
    """Rows at ``resolution`` (of one county, or all): cells, unit ids and exact flags."""
    query = select(CellIndex.h3_cell, CellIndex.unit_id, CellIndex.exact).where(
        CellIndex.resolution == resolution
    )
    if county is not None:
        query = query.where(CellIndex.county_code == county)
    rows = session.execute(query).all()
    if not rows:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, bool)
    cells, units, exact = (np.array(column) for column in zip(*rows, strict=True))
    return cells.astype(np.int64).view(np.uint64), units.astype(np.int64), exact.astype(bool)


def counties(session: Session, *, resolution: int) -> list[str]:
    """Counties that have index rows at ``resolution``."""
    return list(
        session.scalars(
            select(CellIndex.county_code).where(CellIndex.resolution == resolution).distinct()
        )
    )


def clear(session: Session, *, resolution: int) -> None:
    """Remove every row at ``resolution`` (the county layer is rebuilt as a whole)."""
    session.execute(delete(CellIndex).where(CellIndex.resolution == resolution))
