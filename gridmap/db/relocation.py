"""Relocation plans and their households' rows; households' moves to their sites."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import false, func, insert, or_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gridmap.db.models import Household, RelocationAssignment, RelocationPlan
from gridmap.errors import InvalidInputError, NotFoundError


def insert_plan(
    session: Session,
    *,
    county: str,
    actor: str,
    generation: int,
    request: dict[str, Any],
    summary: dict[str, Any],
    households: pd.DataFrame,
    site_ids: Sequence[int],
) -> int:
    """Store a plan and one row per household (a single INSERT from arrays); return its id."""
    plan_id = session.scalar(
        insert(RelocationPlan)
        .values(
            county_code=county,
            created_by=actor,
            generation=generation,
            request=request,
            summary=summary,
            site_ids=list(site_ids),
        )
        .returning(RelocationPlan.id)
    )
    assert plan_id is not None

    def floats(column: str) -> list[float | None]:
        values = households[column].to_numpy(float)
        return [None if np.isnan(v) else float(v) for v in values]

    kept = households["group_kept"]
    session.execute(
        text(
            "INSERT INTO relocation_assignment (plan_id, household_id, county_code, "
            "village_code, grid_code, site_id, distance_m, route_m, reason, group_kept) "
            "SELECT :plan, v.id, :county, v.village, v.grid, v.site, v.distance, v.route, "
            "v.reason, v.kept FROM unnest("
            "CAST(:ids AS bigint[]), CAST(:villages AS text[]), CAST(:grids AS text[]), "
            "CAST(:sites AS int[]), CAST(:distance AS float8[]), CAST(:route AS float8[]), "
            "CAST(:reason AS text[]), CAST(:kept AS boolean[])) "
            "AS v(id, village, grid, site, distance, route, reason, kept)"
        ),
        {
            "plan": plan_id,
            "county": county,
            "ids": households["household_id"].astype(int).tolist(),
            "villages": households["village_code"].tolist(),
            "grids": [g if isinstance(g, str) else None for g in households["grid_code"]],
            "sites": [None if pd.isna(s) else int(s) for s in households["site_id"]],
            "distance": floats("distance_m"),
            "route": floats("route_m"),
            "reason": [r if isinstance(r, str) else None for r in households["reason"]],
            "kept": [None if k is None or pd.isna(k) else bool(k) for k in kept],
        },
    )
    return int(plan_id)


def get_plan(session: Session, plan_id: int) -> dict[str, Any] | None:
    """The plan's row as a dict, or None."""
    row = session.execute(select(RelocationPlan).where(RelocationPlan.id == plan_id)).scalar()
    if row is None:
        return None
    return {
        "id": row.id,
        "county_code": row.county_code,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "generation": row.generation,
        "site_ids": list(row.site_ids),
        "request": row.request,
        "summary": row.summary,
    }


def list_plans(
    session: Session, *, under: Sequence[str] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Plans of counties under these code prefixes (None: all), newest first (no households)."""
    query = select(
        RelocationPlan.id,
        RelocationPlan.county_code,
        RelocationPlan.created_at,
        RelocationPlan.created_by,
        RelocationPlan.summary,
    )
    if under is not None:
        query = query.where(
            or_(
                false(), *(RelocationPlan.county_code.startswith(p, autoescape=True) for p in under)
            )
        )
    rows = session.execute(query.order_by(RelocationPlan.id.desc()).limit(limit).offset(offset))
    return [r._asdict() for r in rows]


ASSIGNMENT_COLUMNS = (
    "household_id",
    "village_code",
    "grid_code",
    "persons",
    "flags",
    "lon",
    "lat",
    "site_id",
    "distance_m",
    "route_m",
    "reason",
    "group_kept",
)


def assignments(session: Session, plan_id: int) -> pd.DataFrame:
    """The plan's household rows the session may see, with each household's persons, flags
    and position, ordered by village, grid and household.
    """
    a = RelocationAssignment
    query = (
        select(
            a.household_id,
            a.village_code,
            a.grid_code,
            Household.persons,
            Household.flags,
            func.ST_X(Household.geom).label("lon"),
            func.ST_Y(Household.geom).label("lat"),
            a.site_id,
            a.distance_m,
            a.route_m,
            a.reason,
            a.group_kept,
        )
        .join(Household, Household.id == a.household_id)
        .where(a.plan_id == plan_id)
        .order_by(a.village_code, a.grid_code, a.household_id)
    )
    frame = pd.DataFrame(session.execute(query).all(), columns=list(ASSIGNMENT_COLUMNS))
    frame["site_id"] = frame["site_id"].astype("Int64")
    for column in ("distance_m", "route_m"):  # NULL comes back as None: NaN, to compute with
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def carry_out(session: Session, plan_id: int, *, at: datetime, county: str) -> int:
    """Record each assigned household's destination (origin kept, not yet registered) and
    add the movers to their sites' occupancy; one statement each, in the caller's transaction.
    """
    moved = session.execute(
        text(
            "WITH moved AS ("
            " UPDATE household h SET destination_site_id = a.site_id, moved_at = :at,"
            "  origin_village_code = coalesce(h.origin_village_code, h.village_code)"
            " FROM relocation_assignment a"
            " WHERE a.plan_id = :plan AND a.site_id IS NOT NULL AND h.id = a.household_id"
            "  AND h.destination_site_id IS DISTINCT FROM a.site_id"
            " RETURNING a.site_id, h.persons)"
            " SELECT site_id, count(*) AS households, sum(persons) AS persons"
            " FROM moved GROUP BY site_id"
        ),
        {"plan": plan_id, "at": at},
    ).all()
    try:
        with session.begin_nested():
            for site_id, households, persons in moved:
                session.execute(
                    text(
                        "UPDATE site SET occupied_households = occupied_households + :h,"
                        " occupied_persons = occupied_persons + :p WHERE id = :id"
                    ),
                    {"h": int(households), "p": int(persons), "id": int(site_id)},
                )
    except IntegrityError as error:
        raise InvalidInputError(
            f"carrying out plan {plan_id} would put more households or persons on a site than "
            "it holds (its occupancy changed since the plan was made): make a new plan",
            plan=plan_id,
            county=county,
        ) from error
    return int(sum(m.households for m in moved))


def register(session: Session, household_ids: Sequence[int]) -> int:
    """Registered at the destination (落户): the site's village (or the community it became)
    and the grid covering the site now serve the household.
    """
    rows = session.execute(
        text(
            "SELECT h.id, h.destination_site_id, s.village_code, s.community_code"
            " FROM household h LEFT JOIN site s ON s.id = h.destination_site_id"
            " WHERE h.id = ANY(:ids)"
        ),
        {"ids": list(map(int, household_ids))},
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in household_ids if i not in found]
    if missing:
        raise InvalidInputError(f"no household {missing[0]} (or not one you may see)")
    unmoved = [r.id for r in rows if r.destination_site_id is None]
    if unmoved:
        raise InvalidInputError(
            f"household {unmoved[0]} has not moved to a site yet: carry out a plan first"
        )
    homeless = [r.id for r in rows if r.village_code is None and r.community_code is None]
    if homeless:
        raise InvalidInputError(
            f"household {homeless[0]}'s site stands in no loaded village: it cannot be "
            "registered there"
        )
    try:
        with session.begin_nested():
            result = session.execute(
                text(
                    "UPDATE household h SET registered = true,"
                    " village_code = coalesce(s.community_code, s.village_code),"
                    " grid_code = (SELECT u.code FROM unit u WHERE u.level = 'grid'"
                    "   AND u.generation_high IS NULL"
                    "   AND ST_Covers(u.geom, ST_PointOnSurface(s.geom)) ORDER BY u.code LIMIT 1)"
                    " FROM site s WHERE s.id = h.destination_site_id AND h.id = ANY(:ids)"
                ),
                {"ids": list(map(int, household_ids))},
            )
    except DBAPIError as error:
        if "row-level security" not in str(error):
            raise
        raise NotFoundError(
            "a household's destination lies outside your area: someone whose area holds "
            "both the origin and the destination (township or county) registers it"
        ) from error
    return int(result.rowcount)  # type: ignore[attr-defined]
