"""Benchmark: relocation plans, 100,000 households × 200 sites on the demo county.

The instance: ``households`` of the demo county's households (drawn with a fixed seed, their
real positions and grids), ``sites`` synthetic sites uniform inside the county with room for
``slack`` × the households (persons ample, so household capacity binds), straight-line metres
in the county's CGCS2000 Gauss–Krüger zone. Measured in the same run on that instance:

* ``solve_s``: gridmap's solver (pruned min-cost flow + proof of optimality over every arc);
* ``grouped_solve_s``: the same with each grid's households kept together (LP bound over
  grids × sites, then HiGHS), its gap against the bound and the groups kept whole;
* ``milp_s``: a plain MILP (``scipy.optimize.milp``, HiGHS) on the same nearest arcs the flow
  ended on (the full 20 million binaries do not fit a generic MILP on this machine);
* ``spopt_s``: spopt's capacitated ``PMedian`` (PuLP + CBC) with p = every site on the grids
  as demand points (weights = households; 20 million PuLP variables for the households would
  not be built in an hour), against gridmap's grouped solve on that very instance.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import numpy as np
import pulp
from scipy import optimize, sparse
from sqlalchemy.orm import Session

from gridmap import __version__, crs, db, hierarchy
from gridmap.relocation import solver
from gridmap.synth import uniform_inside

MILP_LIMIT_S = 300.0
SPOPT_LIMIT_S = 300.0


def instance(
    session: Session, county: str, households: int, sites: int, slack: float, seed: int
) -> tuple[solver.Problem, np.ndarray]:
    """The benchmark's Problem and each household's grid code."""
    rng = np.random.default_rng(seed)
    frame = db.households.read(session, county=county)
    if len(frame) < households:
        raise ValueError(f"county {county} has {len(frame):,} households, fewer than asked")
    pick = np.sort(rng.choice(len(frame), households, replace=False))
    frame = frame.iloc[pick].reset_index(drop=True)
    area = hierarchy.get_unit(session, county, level="county").geometry
    spots = uniform_inside(area, sites, rng)
    lon = np.r_[frame["lon"].to_numpy(), spots[:, 0]]
    lat = np.r_[frame["lat"].to_numpy(), spots[:, 1]]
    xy, _ = crs.gauss_kruger_xy(lon, lat)
    weights = rng.uniform(0.5, 1.5, sites)
    capacity = np.maximum(np.floor(weights / weights.sum() * households * slack), 1)
    grids = frame["grid_code"].fillna("").to_numpy()
    _, groups = np.unique(grids, return_inverse=True)
    problem = solver.Problem(
        household_xy=xy[:households],
        persons=frame["persons"].to_numpy(np.int64),
        priority=np.zeros(households, bool),
        site_xy=xy[households:],
        site_households=capacity.astype(np.int64),
        site_persons=(capacity * 20).astype(np.int64),
        groups=groups.astype(np.int64),
    )
    return problem, grids


def plain_milp(problem: solver.Problem, arcs: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """HiGHS on the transportation MILP over the arcs gridmap's flow ended on."""
    metres = solver.distances(problem)
    rows, cols = arcs
    n = len(rows)
    columns = np.arange(n)
    started = time.perf_counter()
    result = optimize.milp(
        metres[rows, cols],
        constraints=[
            optimize.LinearConstraint(
                sparse.csr_array((np.ones(n), (rows, columns)), shape=(problem.n_households, n)),
                1,
                1,
            ),
            optimize.LinearConstraint(
                sparse.csr_array((np.ones(n), (cols, columns)), shape=(problem.n_sites, n)),
                0,
                problem.site_households,
            ),
        ],
        integrality=np.ones(n),
        bounds=optimize.Bounds(0, 1),
        options={"time_limit": MILP_LIMIT_S, "mip_rel_gap": 0.0},
    )
    return {
        "milp_s": round(time.perf_counter() - started, 2),
        "milp_objective_m": None if result.x is None else round(float(result.fun), 1),
        "milp_optimal": bool(result.status == 0),
        "milp_arcs": n,
    }


def spopt_pmedian(problem: solver.Problem) -> dict[str, Any]:
    """The capacitated p-median of spopt on the grids (demand = households, at their centroid),
    and gridmap's grouped solve on the same grid points for a like-for-like objective.
    """
    from spopt.locate import PMedian

    assert problem.groups is not None
    labels, inverse = np.unique(problem.groups, return_inverse=True)
    size = np.bincount(inverse).astype(float)
    cx = np.bincount(inverse, weights=problem.household_xy[:, 0]) / size
    cy = np.bincount(inverse, weights=problem.household_xy[:, 1]) / size
    centre = np.column_stack((cx, cy))
    cost = np.hypot(
        centre[:, None, 0] - problem.site_xy[None, :, 0],
        centre[:, None, 1] - problem.site_xy[None, :, 1],
    )
    started = time.perf_counter()
    model = PMedian.from_cost_matrix(
        cost,
        size,
        p_facilities=problem.n_sites,
        facility_capacities=problem.site_households.astype(float),
    )
    try:
        model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=SPOPT_LIMIT_S))
        status = pulp.LpStatus[model.problem.status]
        objective = pulp.value(model.problem.objective)
    except RuntimeError as error:  # spopt raises when CBC ends without a solution
        status, objective = f"no solution in {SPOPT_LIMIT_S:.0f} s ({error})", None
    spopt_s = time.perf_counter() - started
    # gridmap on the very same instance: each grid a "household" of its size, kept whole.
    members = np.repeat(np.arange(len(labels)), size.astype(int))
    grid_problem = solver.Problem(
        household_xy=centre[members],
        persons=np.ones(len(members), np.int64),
        priority=np.zeros(len(members), bool),
        site_xy=problem.site_xy,
        site_households=problem.site_households,
        site_persons=problem.site_households * 20,
        groups=members.astype(np.int64),
    )
    ours = solver.solve(grid_problem)
    return {
        "spopt_s": round(spopt_s, 2),
        "spopt_status": status,
        "spopt_objective_m": None if objective is None else round(float(objective), 1),
        "spopt_grid_points": len(labels),
        "gridmap_on_spopt_instance_s": round(ours.solve_s, 2),
        "gridmap_on_spopt_instance_objective_m": round(ours.objective_m, 1),
        "gridmap_on_spopt_instance_gap": ours.gap,
    }


def run(
    session: Session,
    *,
    county: str = "513401",
    households: int = 100_000,
    sites: int = 200,
    slack: float = 1.15,
    seed: int = 7,
    anchors: bool = True,
) -> dict[str, Any]:
    """Every figure of the module docstring, measured in one run."""
    problem, _ = instance(session, county, households, sites, slack, seed)
    ungrouped = solver.Problem(**{**problem.__dict__, "groups": None})
    plan = solver.solve(ungrouped)
    grouped = solver.solve(problem)
    report: dict[str, Any] = {
        "benchmark": "relocation",
        "gridmap": __version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "county": county,
        "households": households,
        "sites": sites,
        "capacity_slack": slack,
        "seed": seed,
        "solve_s": round(plan.solve_s, 2),
        "optimal": plan.optimal,
        "gap": plan.gap,
        "objective_m": round(plan.objective_m, 1),
        "method": plan.method,
        "arcs": plan.arcs,
        "rounds": plan.rounds,
        "assigned": plan.assigned,
        "grouped_solve_s": round(grouped.solve_s, 2),
        "grouped_optimal": grouped.optimal,
        "grouped_gap": round(grouped.gap, 5),
        "grouped_objective_m": round(grouped.objective_m, 1),
        "groups": grouped.groups_kept + grouped.groups_split,
        "groups_kept": grouped.groups_kept,
        "groups_split": grouped.groups_split,
        "grouped_notes": grouped.notes,
    }
    print(f"gridmap: {report['solve_s']} s, grouped {report['grouped_solve_s']} s", file=sys.stderr)
    if anchors:
        assert plan.arc_set is not None
        report.update(plain_milp(ungrouped, plan.arc_set))
        print(f"milp: {report['milp_s']} s", file=sys.stderr)
        if report["milp_objective_m"] is not None:
            report["milp_over_gridmap_objective"] = round(
                report["milp_objective_m"] / plan.objective_m, 6
            )
        report["milp_s_over_solve_s"] = round(report["milp_s"] / max(plan.solve_s, 1e-9), 1)
        report.update(spopt_pmedian(problem))
    return report
