"""Site rows (安置点): inserted in one statement, read back as dicts with WKB geometry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, false, func, insert, or_, select, text, tuple_
from sqlalchemy.orm import Session

import shapely

from gridmap.db.generations import alive_in
from gridmap.db.models import Site, Unit

COLUMNS = (
    "id",
    "code",
    "county_code",
    "village_code",
    "name",
    "kind",
    "capacity_households",
    "capacity_persons",
    "occupied_households",
    "occupied_persons",
    "facilities",
    "community_code",
    "synthetic",
    "source",
)


def _ewkt(geom: shapely.Geometry) -> str:
    return f"SRID=4326;{shapely.to_wkt(geom, rounding_precision=-1)}"


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert checked site rows (``gridmap.sites.check``); return their ids in order."""
    values = [{**row, "geom": _ewkt(row["geom"])} for row in rows]
    ids = session.scalars(insert(Site).returning(Site.id), values)
    return list(ids)


def county_at(session: Session, lon: float, lat: float) -> str | None:
    """The current county whose boundary covers the point, if any."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    query = select(Unit.code).where(
        alive_in(None), Unit.level == "county", func.ST_Covers(Unit.geom, point)
    )
    return session.scalars(query.limit(1)).first()


def village_at(session: Session, geom: shapely.Geometry) -> str | None:
    """The current village or community the site stands in (its representative point)."""
    anchor = geom.representative_point()
    point = func.ST_SetSRID(func.ST_MakePoint(anchor.x, anchor.y), 4326)
    query = select(Unit.code).where(
        alive_in(None), Unit.level == "village", func.ST_Covers(Unit.geom, point)
    )
    return session.scalars(query.order_by(Unit.code).limit(1)).first()


def county_exists(session: Session, code: str) -> bool:
    """Whether a current county with this code is loaded."""
    query = select(Unit.id).where(alive_in(None), Unit.level == "county", Unit.code == code)
    return session.scalars(query.limit(1)).first() is not None


def county_covers(session: Session, code: str, geom: shapely.Geometry) -> bool:
    """Whether the current county ``code`` covers the whole site (1 m of slack for GPS)."""
    shape = func.ST_GeomFromEWKT(_ewkt(geom))
    query = select(
        func.ST_Covers(func.ST_Buffer(func.geography(Unit.geom), 1.0), func.geography(shape))
    ).where(alive_in(None), Unit.level == "county", Unit.code == code)
    return bool(session.scalars(query.limit(1)).first())


def existing_codes(session: Session, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Which (county_code, code) pairs are already taken."""
    if not keys:
        return []
    query = select(Site.county_code, Site.code).where(
        tuple_(Site.county_code, Site.code).in_(list(keys))
    )
    return [(c, s) for c, s in session.execute(query.order_by(Site.county_code, Site.code))]


def read(
    session: Session,
    *,
    counties: Sequence[str] | None = None,
    under: Sequence[str] | None = None,
    county: str | None = None,
    kind: str | None = None,
    codes: Sequence[str] | None = None,
    ids: Sequence[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Sites as dicts (the columns above, ``wkb`` and ``geojson``), ordered by county and code."""
    query = select(
        *(getattr(Site, c) for c in COLUMNS),
        func.ST_AsBinary(Site.geom).label("wkb"),
        func.ST_AsGeoJSON(Site.geom, 7).label("geojson"),
    )
    if county is not None:
        query = query.where(Site.county_code == county)
    if counties is not None:
        query = query.where(Site.county_code.in_(list(counties)))
    if under is not None:
        query = query.where(_under(under))
    if kind is not None:
        query = query.where(Site.kind == kind)
    if codes is not None:
        query = query.where(Site.code.in_(list(codes)))
    if ids is not None:
        query = query.where(Site.id.in_(list(ids)))
    query = query.order_by(Site.county_code, Site.code).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [{**row._asdict(), "wkb": bytes(row.wkb)} for row in session.execute(query).all()]


def count(
    session: Session,
    *,
    counties: Sequence[str] | None = None,
    under: Sequence[str] | None = None,
    kind: str | None = None,
) -> int:
    """How many sites :func:`read` would give without a limit."""
    query = select(func.count()).select_from(Site)
    if counties is not None:
        query = query.where(Site.county_code.in_(list(counties)))
    if under is not None:
        query = query.where(_under(under))
    if kind is not None:
        query = query.where(Site.kind == kind)
    return int(session.scalar(query) or 0)


def _under(prefixes: Sequence[str]) -> ColumnElement[bool]:
    """Sites whose county code starts with one of ``prefixes`` (a province, prefecture…)."""
    if not prefixes:
        return false()
    return or_(*(Site.county_code.startswith(p, autoescape=True) for p in prefixes))


def households_inside(session: Session, county: str, geom: shapely.Geometry) -> tuple[int, int]:
    """Households and persons of ``county`` inside ``geom``."""
    row = session.execute(
        text(
            "SELECT count(*), coalesce(sum(persons), 0) FROM household WHERE county_code = :c"
            " AND ST_Intersects(geom, ST_GeomFromEWKT(:g))"
        ),
        {"c": county, "g": _ewkt(geom)},
    ).one()
    return int(row[0]), int(row[1])


def recode_households(
    session: Session,
    county: str,
    geom: shapely.Geometry,
    site_id: int,
    villages: Sequence[str],
    community: str,
) -> int:
    """Households inside the site's outline, and those registered at the site, now belong
    to ``community`` (their grid is drawn afresh); returns how many.
    """
    result = session.execute(
        text(
            "UPDATE household SET village_code = :new, grid_code = NULL WHERE county_code = :c"
            " AND ((village_code = ANY(:villages) AND ST_Intersects(geom, ST_GeomFromEWKT(:g)))"
            "  OR (registered AND destination_site_id = :site))"
        ),
        {
            "new": community,
            "c": county,
            "villages": list(villages),
            "g": _ewkt(geom),
            "site": site_id,
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def set_community(session: Session, site_id: int, community: str) -> None:
    """Record the community a site became."""
    session.execute(
        text("UPDATE site SET community_code = :c WHERE id = :id"), {"c": community, "id": site_id}
    )
