"""Siting suggestions (选址建议): where new shelters would put every household within reach.

Demand is the county's households counted per H3 cell (resolution 8, ≈ 0.7 km²: fine enough
for a radius of a kilometre or more, and a few thousand points for a county rather than
300,000). Candidate places are the villages' and communities' centres (a shelter goes on a
school ground or square, which villages have) not already holding a site; the existing sites
are fixed in the solution. Two questions, both answered by spopt's models (PuLP + CBC) on
straight-line metres in the county's Gauss–Krüger zone:

* ``count`` given: the ``count`` new places that cover the most households within the radius
  (maximal covering, ``MCLP``);
* no ``count``: the fewest new places that cover every household some candidate can reach
  (set covering, ``LSCP``); cells no candidate reaches are reported, not hidden.

Each suggestion comes as a site Feature the planner can send to ``POST /api/v1/sites`` as it
is (code, name, kind, capacity sized to the households it newly covers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pulp
from scipy import spatial
from sqlalchemy.orm import Session

import shapely

from gridmap import crs, db, h3cells, sites
from gridmap.errors import InvalidInputError, NotFoundError
from gridmap.vocabulary import SiteKind

DEMAND_RESOLUTION = 8
MAX_NEW = 200
TIME_LIMIT_S = 120.0
PERSONS_PER_HOUSEHOLD = 4


@dataclass
class Suggestion:
    """The places suggested and what they change."""

    county: str
    radius_m: float
    households: int
    covered_before: int
    covered_after: int
    unreachable: int  # households in cells no candidate (nor existing site) reaches
    features: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    status: str = ""
    solve_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The suggestion as the API and CLI give it (a FeatureCollection with the figures)."""

        def share(n: int) -> float:
            return round(n / self.households, 4) if self.households else 0.0

        return {
            "type": "FeatureCollection",
            "features": self.features,
            "county_code": self.county,
            "radius_m": self.radius_m,
            "households": self.households,
            "covered_before": self.covered_before,
            "covered_before_share": share(self.covered_before),
            "covered_after": self.covered_after,
            "covered_after_share": share(self.covered_after),
            "unreachable": self.unreachable,
            "model": self.model,
            "status": self.status,
            "solve_s": round(self.solve_s, 2),
        }


def suggest(
    session: Session,
    county: str,
    *,
    radius_m: float,
    count: int | None = None,
    kind: SiteKind = SiteKind.SHELTER,
) -> Suggestion:
    """New places for ``kind`` sites so households lie within ``radius_m`` of one."""
    if not (np.isfinite(radius_m) and 100 <= radius_m <= 50_000):
        raise InvalidInputError("radius_m must be between 100 and 50,000 metres")
    if count is not None and not 1 <= count <= MAX_NEW:
        raise InvalidInputError(f"count must be between 1 and {MAX_NEW}")
    homes = db.households.read(session, county=county)
    if homes.empty:
        raise NotFoundError(f"county {county} has no households to cover")
    cells = h3cells.lonlat_to_cells(
        homes["lon"].to_numpy(float), homes["lat"].to_numpy(float), DEMAND_RESOLUTION
    )
    demand, weight = np.unique(cells, return_counts=True)
    d_lon, d_lat = h3cells.cells_to_lonlat(demand)
    existing, _ = sites.listing(session, counties=[county], kind=kind.value, limit=100_000)
    e_lon, e_lat = sites.anchors(existing) if existing else (np.zeros(0), np.zeros(0))
    villages = db.units.read(session, county=county, level="village")
    points = shapely.point_on_surface(np.asarray(villages.geometry.values, dtype=object))
    taken = {s["village_code"] for s in existing}
    free = ~villages["code"].isin(taken).to_numpy()
    c_lon, c_lat = shapely.get_x(points)[free], shapely.get_y(points)[free]
    c_code = villages["code"].to_numpy()[free]
    c_name = villages["name"].to_numpy()[free]
    xy, _ = crs.gauss_kruger_xy(np.r_[d_lon, e_lon, c_lon], np.r_[d_lat, e_lat, c_lat])
    n_d, n_e = len(demand), len(e_lon)
    places = xy[n_d:]
    tree = spatial.cKDTree(places)
    near = tree.query_ball_point(xy[:n_d], r=radius_m)
    reach = np.zeros((n_d, len(places)), dtype=bool)
    for i, found in enumerate(near):  # one list per demand cell; pulp needs the matrix
        reach[i, found] = True
    covered_before = reach[:, :n_e].any(axis=1) if n_e else np.zeros(n_d, bool)
    reachable = reach.any(axis=1)
    cost = np.where(reach, 0.0, 2.0 * radius_m)  # spopt reads coverage as cost <= radius
    fixed = np.r_[np.ones(n_e, int), np.zeros(len(c_lon), int)]
    started = time.perf_counter()
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=TIME_LIMIT_S)
    from spopt.locate import LSCP, MCLP  # spopt (and its PuLP models) load on first use

    if count is not None:
        model: Any = MCLP.from_cost_matrix(
            cost, weight.astype(float), radius_m, n_e + count, predefined_facilities_arr=fixed
        )
        name = "MCLP"
    else:
        keep = reachable  # LSCP must cover every row: leave out cells nobody can reach
        model = LSCP.from_cost_matrix(cost[keep], radius_m, predefined_facilities_arr=fixed)
        name = "LSCP"
    model = model.solve(solver)
    solve_s = time.perf_counter() - started
    chosen = np.array([v.value() > 0.5 for v in model.fac_vars], dtype=bool)
    new = np.flatnonzero(chosen[n_e:])
    covered_after = reach[:, chosen].any(axis=1)
    newly = covered_after & ~covered_before
    features = []
    for rank, j in enumerate(new, start=1):
        column = n_e + j
        mine = newly & reach[:, column]
        households = max(int(weight[mine].sum()), 1)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(c_lon[j]), float(c_lat[j])]},
                "properties": {
                    "code": f"NEW{rank:03d}",
                    "name": f"{c_name[j]}{kind.zh}（建议）",
                    "kind": kind.value,
                    "capacity_households": households,
                    "capacity_persons": households * PERSONS_PER_HOUSEHOLD,
                    "village_code": str(c_code[j]),
                    "households_newly_covered": int(weight[mine].sum()),
                },
            }
        )
    return Suggestion(
        county=county,
        radius_m=radius_m,
        households=int(weight.sum()),
        covered_before=int(weight[covered_before].sum()),
        covered_after=int(weight[covered_after].sum()),
        unreachable=int(weight[~reachable].sum()),
        features=features,
        model=name,
        status=pulp.LpStatus[model.problem.status],
        solve_s=solve_s,
    )
