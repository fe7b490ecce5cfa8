"""A relocation plan from the database: who is affected, where they can go, the optimal
assignment, stored so its lists and maps can be handed out later.

Affected households are those inside a hazard area (a flood or landslide polygon) and/or in
the villages or grids named. Candidate sites are the county's sites (or those named) of the
kind asked for, less any that lie inside the hazard area itself. Distances are straight lines
in the county's CGCS2000 Gauss–Krüger zone, or road lengths over the county's network
(``roads``, pgRouting). The plan and every household's row are written in one transaction.

Households carried out to a site keep their origin's codes (迁出地 serves them) until the move
is registered, when their codes become the destination's (迁入地): Liangshan's rule
(:func:`carry_out`, :func:`register`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import shapely

from gridmap import crs, db, geometry, sites
from gridmap.errors import (
    InvalidCodeError,
    InvalidGeometryError,
    InvalidInputError,
    NotFoundError,
    UnknownCodeError,
)
from gridmap.relocation import roads, solver
from gridmap.vocabulary import (
    DistanceKind,
    HouseholdFlag,
    KeepTogether,
    Level,
    SiteKind,
    Unassigned,
)

MAX_HOUSEHOLDS = 500_000  # one plan: a prefecture's worth of a disaster
MAX_CODES = 2_000  # villages or grids named in one request
MAX_HAZARD_VERTICES = 100_000


@dataclass(frozen=True)
class PlanRequest:
    """What a planner asks for (``hazard`` in WGS84 lon/lat)."""

    county: str
    hazard: shapely.Geometry | None = None
    villages: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    site_codes: tuple[str, ...] = ()
    kind: SiteKind | None = None
    max_distance_m: float | None = None
    keep_together: KeepTogether | None = None
    distance: DistanceKind = DistanceKind.STRAIGHT
    priority_first: bool = True

    def as_json(self) -> dict[str, Any]:
        """The request as stored with the plan (hazard as GeoJSON geometry)."""
        body = asdict(self)
        body["hazard"] = None if self.hazard is None else shapely.geometry.mapping(self.hazard)
        for key in ("villages", "grids", "site_codes"):
            body[key] = list(body[key])
        return body


@dataclass
class PlanResult:
    """A stored plan: its summary, every household's row and every site's load."""

    id: int
    county: str
    summary: dict[str, Any]
    households: pd.DataFrame  # one row per affected household (see HOUSEHOLD_COLUMNS)
    sites: list[dict[str, Any]]  # site rows with load_households / load_persons
    request: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str = ""


def check_request(request: PlanRequest) -> None:
    """Refuse a request that cannot describe a plan, naming the problem (no database)."""
    if not (request.county.isdigit() and len(request.county) == 6):
        raise InvalidCodeError(
            f"county code {request.county!r} must be 6 digits", code=request.county
        )
    if request.hazard is None and not request.villages and not request.grids:
        raise InvalidInputError(
            "say who is affected: a hazard area (polygon), villages or grids, or several"
        )
    if len(request.villages) + len(request.grids) > MAX_CODES:
        raise InvalidInputError(f"at most {MAX_CODES:,} villages and grids in one plan")
    for code, level in [(c, Level.VILLAGE) for c in request.villages] + [
        (c, Level.GRID) for c in request.grids
    ]:
        if not (code.isdigit() and len(code) == level.code_length):
            raise InvalidCodeError(
                f"{level.en.lower()} code {code!r} must be {level.code_length} digits", code=code
            )
        if not code.startswith(request.county):
            raise InvalidCodeError(
                f"{level.en.lower()} {code} is not in county {request.county}", code=code
            )
    if request.max_distance_m is not None and not (
        math.isfinite(request.max_distance_m) and 0 < request.max_distance_m <= 500_000
    ):
        raise InvalidInputError("max_distance_m must be a number of metres in (0, 500000]")
    if request.hazard is not None:
        hazard = request.hazard
        if hazard.is_empty or hazard.geom_type not in ("Polygon", "MultiPolygon"):
            raise InvalidGeometryError(
                f"the hazard area must be a Polygon or MultiPolygon, not {hazard.geom_type}"
            )
        if shapely.get_num_coordinates(hazard) > MAX_HAZARD_VERTICES:
            raise InvalidGeometryError(
                f"the hazard area has more than {MAX_HAZARD_VERTICES:,} vertices; simplify it"
            )
        geometry.check_polygon_coordinates(np.array([hazard], dtype=object), ["hazard"])


def _hazard(request: PlanRequest) -> shapely.Geometry | None:
    """The hazard area, repaired like a boundary when drawn self-crossing."""
    if request.hazard is None:
        return None
    repaired, _ = geometry.repair_polygons(np.array([request.hazard], dtype=object), ["hazard"])
    return repaired[0]


def make(session: Session, request: PlanRequest, *, actor: str) -> PlanResult:
    """Compute the optimal plan for ``request`` and store it, in the caller's transaction."""
    check_request(request)
    hazard = _hazard(request)
    if not db.sites.county_exists(session, request.county):
        raise UnknownCodeError(f"no county {request.county} is loaded", code=request.county)
    _check_units(session, request)
    households = db.households.affected(
        session,
        county=request.county,
        hazard=hazard,
        villages=request.villages,
        grids=request.grids,
    )
    if households.empty:
        raise NotFoundError(
            "no households in the area asked for (or none you may see): check the hazard "
            "polygon, villages and grids"
        )
    if len(households) > MAX_HOUSEHOLDS:
        raise InvalidInputError(
            f"{len(households):,} households in one plan; the limit is {MAX_HOUSEHOLDS:,}"
        )
    candidates, notes = _candidates(session, request, hazard)
    problem, epsg = _problem(session, request, households, candidates)
    plan = solver.solve(problem)
    households = _rows(households, candidates, problem, plan)
    summary = _summary(request, households, candidates, plan, epsg, notes)
    plan_id = db.relocation.insert_plan(
        session,
        county=request.county,
        actor=actor,
        generation=db.generations.current(session),
        request=request.as_json(),
        summary=summary,
        households=households,
        site_ids=[c["id"] for c in candidates],
    )
    return load(session, plan_id)


def _check_units(session: Session, request: PlanRequest) -> None:
    """Every village and grid named exists now (unknown codes are 404s with their name)."""
    for codes, level in ((request.villages, Level.VILLAGE), (request.grids, Level.GRID)):
        if not codes:
            continue
        found = set(db.units.read(session, codes=list(codes), level=level.value)["code"])
        missing = [c for c in codes if c not in found]
        if missing:
            raise UnknownCodeError(
                f"no {level.en.lower()} {missing[0]} in the current boundaries", code=missing[0]
            )


def _candidates(
    session: Session, request: PlanRequest, hazard: shapely.Geometry | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The sites the plan may use, and notes on any left out."""
    rows = db.sites.read(
        session,
        county=request.county,
        kind=request.kind.value if request.kind else None,
        codes=list(request.site_codes) or None,
    )
    if request.site_codes:
        found = {r["code"] for r in rows}
        missing = [c for c in request.site_codes if c not in found]
        if missing:
            raise UnknownCodeError(
                f"no site {missing[0]} in county {request.county}"
                + (f" of kind {request.kind.value}" if request.kind else ""),
                code=missing[0],
            )
    notes = []
    if hazard is not None:
        shapes = shapely.from_wkb([r["wkb"] for r in rows])
        inside = shapely.intersects(shapes, hazard) if len(rows) else np.zeros(0, bool)
        if inside.any():
            names = [r["name"] for r, bad in zip(rows, inside, strict=True) if bad]
            notes.append(
                f"{len(names)} site(s) inside the hazard area left out: {', '.join(names[:10])}"
            )
            rows = [r for r, bad in zip(rows, inside, strict=True) if not bad]
    full = [r for r in rows if r["occupied_households"] >= r["capacity_households"]]
    if not rows:
        raise NotFoundError(
            f"no candidate sites in county {request.county}"
            + (f" of kind {request.kind.value} ({request.kind.zh})" if request.kind else "")
            + " outside the hazard area: add sites (gridmap sites add) or widen the choice"
        )
    if full:
        notes.append(f"{len(full)} site(s) already full: {', '.join(r['name'] for r in full[:10])}")
    return rows, notes


def _problem(
    session: Session,
    request: PlanRequest,
    households: pd.DataFrame,
    candidates: list[dict[str, Any]],
) -> tuple[solver.Problem, int]:
    """The solver's instance in the county's Gauss–Krüger metres, and that zone's EPSG code."""
    site_lon, site_lat = sites.anchors(candidates)
    lon = np.r_[households["lon"].to_numpy(), site_lon]
    lat = np.r_[households["lat"].to_numpy(), site_lat]
    xy, epsg = crs.gauss_kruger_xy(lon, lat)
    n_h = len(households)
    road: np.ndarray | None = None
    if request.distance is DistanceKind.ROAD:
        road = roads.distances(
            session,
            county=request.county,
            origins=np.column_stack((households["lon"], households["lat"])),
            targets=np.column_stack((site_lon, site_lat)),
        )
    free_h, free_p = sites.free_capacity(candidates)
    flags = households["flags"]
    priority = np.array(
        [any(bool(f.get(flag.value)) for flag in HouseholdFlag) for f in flags], dtype=bool
    )
    groups = None
    if request.keep_together is not None:
        column = "grid_code" if request.keep_together is KeepTogether.GRID else "village_code"
        codes = households[column].fillna("").to_numpy()
        _, groups = np.unique(codes, return_inverse=True)
        groups = np.where(codes == "", -1, groups).astype(np.int64)
    problem = solver.Problem(
        household_xy=xy[:n_h],
        persons=households["persons"].to_numpy(np.int64),
        priority=priority if request.priority_first else np.zeros(n_h, bool),
        site_xy=xy[n_h:],
        site_households=free_h,
        site_persons=free_p,
        max_distance_m=request.max_distance_m,
        distance_m=road,
        groups=groups,
    )
    return problem, epsg


HOUSEHOLD_COLUMNS = db.relocation.ASSIGNMENT_COLUMNS  # one row per affected household


def _rows(
    households: pd.DataFrame,
    candidates: list[dict[str, Any]],
    problem: solver.Problem,
    plan: solver.Plan,
) -> pd.DataFrame:
    """One row per household: the site's id, the straight and road distances, the reason."""
    site_ids = np.array([c["id"] for c in candidates], dtype=np.int64)
    served = plan.site >= 0
    frame = households.rename(columns={"id": "household_id"}).copy()
    frame["site_id"] = pd.array(np.where(served, site_ids[np.maximum(plan.site, 0)], 0))
    frame.loc[~served, "site_id"] = pd.NA
    frame["site_id"] = frame["site_id"].astype("Int64")
    straight = plan.distance_m
    route = np.full(len(frame), np.nan)
    if problem.distance_m is not None:  # the solver's distances were road lengths: keep both
        route = plan.distance_m
        straight = np.full(len(frame), np.nan)
        home, site = problem.household_xy[served], problem.site_xy[plan.site[served]]
        straight[served] = np.hypot(*(home - site).T)
    frame["distance_m"] = straight
    frame["route_m"] = route
    frame["reason"] = [r.value if r is not None else None for r in plan.reason]
    frame["group_kept"] = plan.group_kept if plan.group_kept is not None else None
    return frame[list(HOUSEHOLD_COLUMNS)]


def _summary(
    request: PlanRequest,
    households: pd.DataFrame,
    candidates: list[dict[str, Any]],
    plan: solver.Plan,
    epsg: int,
    notes: list[str],
) -> dict[str, Any]:
    """The plan's figures, as stored and shown (汇总)."""
    served = households["site_id"].notna().to_numpy()
    reasons = households["reason"].dropna().value_counts().to_dict()
    return {
        "households": len(households),
        "persons": int(households["persons"].sum()),
        "assigned": int(served.sum()),
        "assigned_persons": int(households.loc[served, "persons"].sum()),
        "unassigned": int((~served).sum()),
        "unassigned_by_reason": {Unassigned(str(k)).value: int(v) for k, v in reasons.items()},
        "priority_households": int(
            sum(any(bool(f.get(x.value)) for x in HouseholdFlag) for f in households["flags"])
        ),
        "sites_considered": len(candidates),
        "sites_used": int(households["site_id"].dropna().nunique()),
        "objective_m": round(plan.objective_m, 1),
        "distance": request.distance.value,
        "projection": f"EPSG:{epsg}",
        "optimal": plan.optimal,
        "gap": plan.gap,
        "method": plan.method,
        "solve_s": round(plan.solve_s, 3),
        "groups_kept": plan.groups_kept,
        "groups_split": plan.groups_split,
        "notes": notes + plan.notes,
    }


def county_of(session: Session, plan_id: int) -> str | None:
    """The county of plan ``plan_id``, or None when there is no such plan."""
    row = db.relocation.get_plan(session, plan_id)
    return None if row is None else str(row["county_code"])


def listing(
    session: Session, *, counties: list[str] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Plans of the counties under these codes (None: all), newest first, summaries only."""
    under = None if counties is None else [c[:6] for c in counties]
    return db.relocation.list_plans(session, under=under, limit=limit, offset=offset)


def load(session: Session, plan_id: int) -> PlanResult:
    """A stored plan with its households (those the session's scope sees) and site loads."""
    row = db.relocation.get_plan(session, plan_id)
    if row is None:
        raise NotFoundError(f"no relocation plan {plan_id}", plan=plan_id)
    households = db.relocation.assignments(session, plan_id)
    site_rows = db.sites.read(session, ids=row["site_ids"])
    served = households.dropna(subset=["site_id"])
    loads = served.groupby("site_id").agg(
        load_households=("household_id", "size"), load_persons=("persons", "sum")
    )
    for site in site_rows:
        site["load_households"] = int(loads["load_households"].get(site["id"], 0))
        site["load_persons"] = int(loads["load_persons"].get(site["id"], 0))
    return PlanResult(
        id=plan_id,
        county=row["county_code"],
        summary=row["summary"],
        households=households,
        sites=site_rows,
        request=row["request"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def carry_out(session: Session, plan_id: int, *, at: datetime) -> int:
    """Move the plan's assigned households to their sites (迁入地 recorded, not yet registered:
    the origin still serves them) and add them to the sites' occupancy; returns how many moved.
    """
    plan = load(session, plan_id)
    return db.relocation.carry_out(session, plan_id, at=at, county=plan.county)


def register(session: Session, household_ids: list[int]) -> int:
    """Register moved households at their destination (落户): from now the destination's
    village and grid serve them. Returns how many were registered.
    """
    if not household_ids:
        raise InvalidInputError("no households given")
    return db.relocation.register(session, household_ids)
