"""Relocation plans (搬迁安置方案): every affected household to a site, shortest total travel
within both capacities, priority households first when places are short.

The problem, in the order its goals rank:

1. serve as many priority households (留守老人, 残疾, 儿童, 孕产妇, 低保) as possible;
2. then as many households as possible;
3. then the least total distance (household-metres; straight lines in the county's
   Gauss–Krüger zone, or road lengths when a network gives them).

With only household capacities this is a min-cost flow (OR-Tools ``SimpleMinCostFlow``,
``solve_max_flow_with_min_cost``): goal 2 is the maximum flow, goal 1 a bonus on the source
arcs of priority households, goal 3 the arc costs. The flow is integral and exact.

Speed: a household rarely goes beyond its few cheapest sites, so the flow first gets arcs to
each household's ``FIRST_K`` cheapest allowed sites only (100,000 × 200: 2.4 million arcs, not
20). "Cheapest" is distance less the site's *price*: where homes crowd round few sites (a city)
most households must go past their nearest ones, so the prices come from the exact flow on a
sample of 10,000 households with the capacities scaled down (the site potentials of its
residual graph). Each site's nearest households (``SITE_REACH`` × its capacity) are added too.
The result is then *proven* optimal over every allowed arc: the residual graph of the full
problem collapses onto the sites (one edge per site pair, the cheapest household move between
them), and optimality is the absence of an augmenting path and of a negative cycle there
(Floyd–Warshall on ≤ 202 nodes). When the proof fails, the potentials of the flow's own
residual graph price every missing arc and each household's most negative ones are added
(column generation) until it holds. See ``docs/decisions/0023-relocation-pruned-flow-with-
certificate.md``.

Person capacities break the flow's integrality. When the flow's answer respects them it is
optimal anyway (it solves a relaxation); otherwise a MILP (HiGHS through ``scipy.optimize.milp``)
solves the three goals in turn over the same arcs, and the plan says whether that MILP was
optimal and whether its arcs were all the allowed ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from scipy import optimize, sparse

from gridmap.errors import InvalidInputError
from gridmap.vocabulary import Unassigned

# Costs are integers for the flow: centimetres, so ties between sites 1 m apart still order.
COST_PER_M = 100
FIRST_K = 24  # each household's cheapest sites (distance less the site's price) in the first round
SITE_REACH = 3  # and each site's nearest households, this many times its capacity
PRICE_PER_ROUND = 2  # arcs added per household and round when the proof fails
PRICE_SAMPLE = 10_000  # households whose optimal flow prices the sites (larger problems only)
INF = np.int64(2**61)  # "no edge" in the certificate graph; INF + INF still fits in int64


@dataclass(frozen=True)
class Problem:
    """A relocation instance in metres.

    ``distance_m`` (households × sites) is given for road distances (``inf`` where no route
    exists); otherwise it is the straight-line distance between the projected points.
    Capacities are what is left of each site (capacity minus current occupancy).
    """

    household_xy: NDArray[np.float64]
    persons: NDArray[np.int64]
    priority: NDArray[np.bool_]
    site_xy: NDArray[np.float64]
    site_households: NDArray[np.int64]
    site_persons: NDArray[np.int64]
    max_distance_m: float | None = None
    distance_m: NDArray[np.float64] | None = None
    groups: NDArray[np.int64] | None = None  # keep-together group per household, -1 for none

    @property
    def n_households(self) -> int:
        """How many households the plan must place."""
        return len(self.persons)

    @property
    def n_sites(self) -> int:
        """How many candidate sites there are."""
        return len(self.site_households)


@dataclass
class Plan:
    """The assignment: ``site[i]`` is household i's site index, or -1 with ``reason[i]``."""

    site: NDArray[np.int64]
    distance_m: NDArray[np.float64]
    reason: list[Unassigned | None]
    objective_m: float
    optimal: bool
    method: str
    solve_s: float
    arcs: int
    rounds: int
    gap: float = 0.0
    notes: list[str] = field(default_factory=list)
    group_kept: NDArray[np.bool_] | None = None  # per household: its whole group at one site
    arc_set: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None  # the flow's last arcs
    groups_kept: int = 0
    groups_split: int = 0

    @property
    def assigned(self) -> int:
        """How many households got a site."""
        return int((self.site >= 0).sum())


def check(problem: Problem) -> None:
    """Refuse instances no plan can mean anything for, naming the problem."""
    h, s = problem.n_households, problem.n_sites
    if problem.household_xy.shape != (h, 2) or problem.priority.shape != (h,):
        raise InvalidInputError("households need one position, person count and priority each")
    if problem.site_xy.shape != (s, 2) or problem.site_persons.shape != (s,):
        raise InvalidInputError("sites need one position and both capacities each")
    if s == 0:
        raise InvalidInputError("no candidate sites: add sites or widen the selection")
    for name, values in (
        ("household positions", problem.household_xy),
        ("site positions", problem.site_xy),
    ):
        if not np.isfinite(values).all():
            raise InvalidInputError(f"{name} must be finite numbers")
    if (problem.persons < 0).any():
        raise InvalidInputError("a household's persons cannot be negative")
    if (problem.site_households < 0).any() or (problem.site_persons < 0).any():
        raise InvalidInputError("a site's free capacity cannot be negative (over-occupied site)")
    if problem.max_distance_m is not None and not problem.max_distance_m > 0:
        raise InvalidInputError("max_distance_m must be a positive number of metres")
    if problem.distance_m is not None:
        if problem.distance_m.shape != (h, s):
            raise InvalidInputError("road distances need one value per household and site")
        if np.isnan(problem.distance_m).any() or (problem.distance_m < 0).any():
            raise InvalidInputError("road distances must be non-negative (inf: no route)")
    if problem.groups is not None and problem.groups.shape != (h,):
        raise InvalidInputError("keep-together groups need one value per household (-1: none)")


def distances(problem: Problem) -> NDArray[np.float64]:
    """Households × sites metres (road lengths if given, else straight lines)."""
    if problem.distance_m is not None:
        return problem.distance_m
    hx, hy = problem.household_xy[:, 0], problem.household_xy[:, 1]
    sx, sy = problem.site_xy[:, 0], problem.site_xy[:, 1]
    return np.hypot(hx[:, None] - sx[None, :], hy[:, None] - sy[None, :])


def solve(problem: Problem) -> Plan:
    """The optimal plan (see the module docstring for the goals and how they are proven)."""
    check(problem)
    started = time.perf_counter()
    metres = distances(problem)
    allowed = np.isfinite(metres)
    if problem.max_distance_m is not None:
        allowed &= metres <= problem.max_distance_m
    costs = np.where(allowed, np.rint(metres * COST_PER_M), 0).astype(np.int64)
    if problem.groups is not None and (problem.groups >= 0).any():
        return _solve_grouped(problem, metres, allowed, costs, started)
    return _solve_households(problem, metres, allowed, costs, started)


def _solve_households(
    problem: Problem,
    metres: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    costs: NDArray[np.int64],
    started: float,
) -> Plan:
    """Each household on its own: the pruned flow with its certificate, the MILP if needed."""
    # Without a bonus first: the priority goal only binds when a priority household is left
    # out, and the bonus's large costs make the flow three times slower.
    bonus = np.zeros(problem.n_households, dtype=np.int64)
    prices = _sample_prices(problem, costs, allowed)
    current = _nearest_arcs(costs - prices[None, :], allowed, FIRST_K)
    current |= _site_arcs(costs, allowed, problem)
    rounds, full = 0, False
    while True:
        rounds += 1
        arcs = _arc_list(current)
        site = _flow(problem, costs, arcs, bonus)
        full = bool(current.sum() == allowed.sum())
        if not bonus.any() and (problem.priority & (site < 0)).any():
            bonus = _priority_bonus(problem, costs, allowed)
            continue
        if full:
            break
        whole = _collapsed(problem, costs, allowed, site, bonus)  # over every allowed arc
        if _proven(whole, problem.n_sites):
            break
        missing = _priced(problem, costs, allowed, current, site, bonus, whole)
        if not missing.any():  # cannot happen with exact potentials; widen everything if it does
            missing = allowed & ~current
        current |= missing
    k = int(np.ceil(current.sum() / max(problem.n_households, 1)))
    method, optimal, gap, notes = "min_cost_flow", True, 0.0, []
    if _over_persons(problem, site):
        site, optimal, gap = _milp(problem, costs, arcs)
        method = "milp"
        if not full:
            notes.append(
                f"the MILP saw the flow's {len(arcs[0]):,} arcs (about {k} sites per household "
                f"of {problem.n_sites}); optimal over those"
            )
    plan = _plan(problem, metres, allowed, site, method, optimal, gap, started, arcs, rounds, notes)
    plan.arc_set = arcs
    return plan


def _priority_bonus(
    problem: Problem, costs: NDArray[np.int64], allowed: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Per household, the cost saved by serving it when it is a priority household: more than
    any total distance, so a priority household displaces any number of metres.
    """
    span = int(costs[allowed].max()) if allowed.any() else 0
    bonus = np.int64(problem.n_households * (span + 1) + 1)
    if bonus > 2**62 // max(problem.n_households, 1):
        raise InvalidInputError("the instance is too large for exact integer costs")
    return np.where(problem.priority, bonus, 0).astype(np.int64)


def _nearest_arcs(
    costs: NDArray[np.int64], allowed: NDArray[np.bool_], k: int
) -> NDArray[np.bool_]:
    """Households × sites: each household's ``k`` cheapest allowed sites."""
    n_h, n_s = costs.shape
    if k >= n_s:
        return allowed.copy()
    ranked = np.where(allowed, costs, np.iinfo(np.int64).max)
    nearest = np.argpartition(ranked, k - 1, axis=1)[:, :k]
    mask = np.zeros((n_h, n_s), dtype=bool)
    np.put_along_axis(mask, nearest, True, axis=1)
    return mask & allowed


def _sample_prices(
    problem: Problem, costs: NDArray[np.int64], allowed: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Site prices from the same problem on a sample of ``PRICE_SAMPLE`` households with the
    capacities scaled to it: the optimal flow's site potentials there say how crowded each
    site is, so ranking a household's sites by distance minus price (not distance alone) puts
    its optimal site among the first few. Zero for small problems. Only the choice of the
    first arcs depends on it; the proof is over every arc as before.
    """
    n_h, n_s = costs.shape
    if n_h <= 2 * PRICE_SAMPLE:
        return np.zeros(n_s, dtype=np.int64)
    rng = np.random.default_rng(0)  # fixed: the same input gives the same arcs and plan
    sample = np.sort(rng.choice(n_h, PRICE_SAMPLE, replace=False))
    scale = PRICE_SAMPLE / n_h
    sub = Problem(
        household_xy=problem.household_xy[sample],
        persons=problem.persons[sample],
        priority=np.zeros(PRICE_SAMPLE, dtype=bool),
        site_xy=problem.site_xy,
        site_households=np.floor(problem.site_households * scale).astype(np.int64),
        site_persons=problem.site_persons,
    )
    sub_costs, sub_allowed = costs[sample], allowed[sample]
    arcs = sub_allowed  # every arc: the sample's flow is exact, so are its prices
    site = _flow(sub, sub_costs, _arc_list(arcs), np.zeros(PRICE_SAMPLE, dtype=np.int64))
    dist = _all_pairs(_collapsed(sub, sub_costs, arcs, site, np.zeros(PRICE_SAMPLE, np.int64)))
    if dist is None:
        return np.zeros(n_s, dtype=np.int64)
    potential = dist.min(axis=0)[:n_s]
    return np.asarray(potential, dtype=np.int64)


def _site_arcs(
    costs: NDArray[np.int64], allowed: NDArray[np.bool_], problem: Problem
) -> NDArray[np.bool_]:
    """Households × sites: each site's ``SITE_REACH`` × capacity nearest households. Where
    homes crowd round few sites (a city) the households overflow far, to sites that are
    nobody's nearest; these arcs reach them without widening every household's list.
    """
    n_h, n_s = costs.shape
    mask = np.zeros((n_h, n_s), dtype=bool)
    ranked = np.where(allowed, costs, np.iinfo(np.int64).max).T.copy()  # one row per site
    for j in range(n_s):  # one site at a time: a vectorised partition over all households
        m = int(min(n_h, SITE_REACH * problem.site_households[j]))
        if m <= 0:
            continue
        nearest = np.argpartition(ranked[j], m - 1)[:m] if m < n_h else np.arange(n_h)
        mask[nearest, j] = True
    return mask & allowed


def _arc_list(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    rows, cols = np.nonzero(mask)
    return rows.astype(np.int64), cols.astype(np.int64)


def _priced(
    problem: Problem,
    costs: NDArray[np.int64],
    allowed: NDArray[np.bool_],
    current: NDArray[np.bool_],
    site: NDArray[np.int64],
    bonus: NDArray[np.int64],
    whole: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """The arcs to add after a failed proof (column generation): site potentials from the
    flow's own residual graph (optimal there, so it has no negative cycle), then each
    household's most negative reduced-cost arcs under them; and, when ``whole`` (the collapsed
    graph over every arc) has an augmenting path, arcs from the households left out to the
    nearest sites with room.
    """
    n_s = problem.n_sites
    src = n_s
    graph = _collapsed(problem, costs, current, site, bonus)
    dist = _all_pairs(graph)
    missing = np.zeros_like(current)
    if dist is None:  # not optimal even on its own arcs: cannot happen; let the caller widen
        return missing
    potential = dist.min(axis=0)  # shortest distance from a root joined to every node at 0
    served = site >= 0
    if served.any():
        at = site[served]
        reduced = (
            costs[served]
            - costs[served, at][:, None]
            + potential[at][:, None]
            - potential[None, :n_s]
        )
        missing[served] = _most_negative(reduced, allowed[served] & ~current[served])
    unserved = ~served
    if unserved.any():
        reduced = costs[unserved] - bonus[unserved][:, None] + potential[src] - potential[:n_s]
        missing[unserved] = _most_negative(reduced, allowed[unserved] & ~current[unserved])
        if _reachable(whole < INF, src)[n_s + 1]:  # more households could be served:
            # join those left out to the nearest sites with room (the direct augmenting paths)
            loads = np.bincount(site[served], minlength=n_s)
            room = np.broadcast_to(loads < problem.site_households, (int(unserved.sum()), n_s))
            open_ = allowed[unserved] & ~current[unserved] & room
            missing[unserved] |= _most_negative(costs[unserved] - INF // 2, open_)
    return missing


def _flow(
    problem: Problem,
    costs: NDArray[np.int64],
    arcs: tuple[NDArray[np.int64], NDArray[np.int64]],
    bonus: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Max flow with min cost over ``arcs``: each household's site index, or -1."""
    n_h, n_s = problem.n_households, problem.n_sites
    rows, cols = arcs
    source, sink = n_h + n_s, n_h + n_s + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    households = np.arange(n_h, dtype=np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(
        np.full(n_h, source, dtype=np.int64), households, np.ones(n_h, np.int64), -bonus
    )
    placed = flow.add_arcs_with_capacity_and_unit_cost(
        rows, n_h + cols, np.ones(len(rows), np.int64), costs[rows, cols]
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        n_h + np.arange(n_s, dtype=np.int64),
        np.full(n_s, sink, dtype=np.int64),
        problem.site_households.astype(np.int64),
        np.zeros(n_s, np.int64),
    )
    flow.set_node_supply(source, n_h)
    flow.set_node_supply(sink, -n_h)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # cannot happen for a well-formed network; say so if it does
        raise RuntimeError(f"min-cost flow ended with status {status}")
    used = flow.flows(placed) > 0
    site = np.full(n_h, -1, dtype=np.int64)
    site[rows[used]] = cols[used]
    return site


def _proven(graph: NDArray[np.int64], n_sites: int) -> bool:
    """Whether the flow is optimal over every arc ``graph`` (its residual graph collapsed onto
    sites + source + sink, :func:`_collapsed`) holds: no augmenting path, no negative cycle.
    """
    if _reachable(graph < INF, n_sites)[n_sites + 1]:
        return False  # an augmenting path: more households could be served
    return _all_pairs(graph) is not None


def _most_negative(reduced: NDArray[np.int64], open_: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per row, the ``PRICE_PER_ROUND`` most negative reduced costs among ``open_`` arcs:
    adding every negative arc at once (7 million in the benchmark) makes the next flow slower
    than the rounds it saves.
    """
    n, m = reduced.shape
    keep = min(PRICE_PER_ROUND, m)
    masked = np.where(open_, reduced, np.iinfo(np.int64).max)
    best = np.argpartition(masked, keep - 1, axis=1)[:, :keep] if keep < m else None
    chosen = np.zeros((n, m), dtype=bool)
    if best is None:
        chosen[:] = True
    else:
        np.put_along_axis(chosen, best, True, axis=1)
    return chosen & open_ & (reduced < 0)


def _collapsed(
    problem: Problem,
    costs: NDArray[np.int64],
    allowed: NDArray[np.bool_],
    site: NDArray[np.int64],
    bonus: NDArray[np.int64],
) -> NDArray[np.int64]:
    """The residual graph over ``allowed`` arcs collapsed onto sites + source + sink: one
    edge per pair, the cheapest household move between them (``INF``: none).
    """
    n_s = problem.n_sites
    src, snk = n_s, n_s + 1
    graph = np.full((n_s + 2, n_s + 2), INF, dtype=np.int64)
    served = site >= 0
    # Site s → site t: a household at s moves to t (gains c_ht − c_hs).
    if served.any():
        at = site[served]
        own = costs[served, at]
        move = np.where(allowed[served], costs[served] - own[:, None], INF)
        order = np.argsort(at, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(at[order]) != 0])
        used_sites = at[order][starts]
        graph[used_sites, :n_s] = np.minimum.reduceat(move[order], starts, axis=0)
        # Site s → source: a household at s is dropped (gives back its bonus, saves c_hs).
        back = bonus[served] - own
        graph[used_sites, src] = np.minimum.reduceat(back[order], starts)
        graph[snk, used_sites] = 0  # the sink can push back through any site with flow
    # Source → site t: an unserved household is taken in at t.
    unserved = ~served
    if unserved.any():
        enter = np.where(allowed[unserved], costs[unserved] - bonus[unserved][:, None], INF)
        graph[src, :n_s] = enter.min(axis=0)
    loads = np.bincount(site[served], minlength=n_s)
    free = loads < problem.site_households
    graph[np.flatnonzero(free), snk] = 0
    np.fill_diagonal(graph, 0)  # staying put
    return graph


def _all_pairs(graph: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """Shortest distances between every pair (Floyd–Warshall, one vectorised relaxation per
    pivot), or None when a negative cycle exists.
    """
    dist = graph.copy()
    for k in range(len(graph)):
        np.minimum(dist, np.minimum(dist[:, k : k + 1] + dist[k : k + 1, :], INF), out=dist)
        if (np.diagonal(dist) < 0).any():
            return None
    return dist


def _reachable(edges: NDArray[np.bool_], start: int) -> NDArray[np.bool_]:
    """Nodes reachable from ``start`` over ``edges`` (boolean adjacency)."""
    seen = np.zeros(len(edges), dtype=bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        nxt = edges[frontier].any(axis=0) & ~seen
        seen |= nxt
        frontier = nxt
    return seen


def _over_persons(problem: Problem, site: NDArray[np.int64]) -> bool:
    served = site >= 0
    persons = np.bincount(site[served], weights=problem.persons[served], minlength=problem.n_sites)
    return bool((persons > problem.site_persons).any())


def _milp(
    problem: Problem,
    costs: NDArray[np.int64],
    arcs: tuple[NDArray[np.int64], NDArray[np.int64]],
) -> tuple[NDArray[np.int64], bool, float]:
    """Both capacities: the three goals in turn (each fixed before the next), over ``arcs``."""
    rows, cols = arcs
    n = len(rows)
    n_h, n_s = problem.n_households, problem.n_sites
    columns = np.arange(n)
    one_each = sparse.csr_array((np.ones(n), (rows, columns)), shape=(n_h, n))
    by_site = sparse.csr_array((np.ones(n), (cols, columns)), shape=(n_s, n))
    persons = sparse.csr_array(
        (problem.persons[rows].astype(float), (cols, columns)), shape=(n_s, n)
    )
    constraints = [
        optimize.LinearConstraint(one_each, 0, 1),
        optimize.LinearConstraint(by_site, 0, problem.site_households),
        optimize.LinearConstraint(persons, 0, problem.site_persons),
    ]
    priority = problem.priority[rows].astype(float)
    goals = [-priority, -np.ones(n), costs[rows, cols] / COST_PER_M]
    optimal, gap, x = True, 0.0, np.zeros(n)
    for step, goal in enumerate(goals):
        result = optimize.milp(
            goal,
            constraints=constraints,
            integrality=np.ones(n),
            bounds=optimize.Bounds(0, 1),
            options={"mip_rel_gap": 0.0, "time_limit": 600.0},
        )
        if result.x is None:
            raise RuntimeError(f"the MILP found no plan: {result.message}")
        x = np.rint(result.x)
        optimal &= bool(result.status == 0)
        if step < len(goals) - 1:  # hold this goal at its optimum for the next
            value = float(goal @ x)
            constraints.append(optimize.LinearConstraint(goal, -np.inf, value + 0.5))
        else:
            gap = float(getattr(result, "mip_gap", 0.0) or 0.0)
    chosen = x > 0.5
    site = np.full(n_h, -1, dtype=np.int64)
    site[rows[chosen]] = cols[chosen]
    return site, optimal, gap


def _plan(
    problem: Problem,
    metres: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    site: NDArray[np.int64],
    method: str,
    optimal: bool,
    gap: float,
    started: float,
    arcs: tuple[NDArray[np.int64], NDArray[np.int64]],
    rounds: int,
    notes: list[str],
) -> Plan:
    served = site >= 0
    distance = np.full(problem.n_households, np.nan)
    distance[served] = metres[served, site[served]]
    reachable = np.asarray(np.isfinite(metres).any(axis=1))
    within = np.asarray(allowed.any(axis=1))
    reason: list[Unassigned | None] = [None] * problem.n_households
    for i in np.flatnonzero(~served):
        if not reachable[i]:
            reason[i] = Unassigned.NO_SITE_REACHABLE
        elif not within[i]:
            reason[i] = Unassigned.BEYOND_MAX_DISTANCE
        else:
            reason[i] = Unassigned.OVER_CAPACITY
    return Plan(
        site=site,
        distance_m=distance,
        reason=reason,
        objective_m=float(np.nansum(distance)),
        optimal=optimal,
        method=method,
        solve_s=time.perf_counter() - started,
        arcs=len(arcs[0]),
        rounds=rounds,
        gap=gap,
        notes=notes,
    )


def _solve_grouped(
    problem: Problem,
    metres: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    costs: NDArray[np.int64],
    started: float,
) -> Plan:
    """Keep each group (a grid's or village's households) whole at one site where possible.

    Whole groups make the problem a generalised assignment (NP-hard: 1,000 groups × 200 sites
    at 15 % spare capacity leaves HiGHS a 9 % gap after two minutes), so it is solved in steps,
    each exact or with its gap reported against a proven bound:

    1. the LP relaxation over groups × sites (HiGHS, under a second at that size): its optimum
       bounds every plan that keeps all groups whole; groups it places whole stay so;
    2. up to ``WHOLE_MILP_PAIRS`` group–site pairs (a county's grids and its shelters), HiGHS
       solves the whole MILP (``GROUP_MILP_S`` at most) and usually proves it optimal; larger,
       or if that fails, the groups the LP splits (at most one per site, usually a few dozen)
       get a MILP of their own in the capacity left: whole if it finds a packing, and the
       plan's gap is measured against the LP bound;
    3. if no packing exists, those groups are split and placed household by household (the
       flow, priority first) in the capacity left; the plan lists them.

    Priority households inside whole groups go with their group; the priority rule applies
    to the households placed one by one.
    """
    assert problem.groups is not None
    n_s = problem.n_sites
    grouped = np.flatnonzero(problem.groups >= 0)
    labels, member_group = np.unique(problem.groups[grouped], return_inverse=True)
    order = np.argsort(member_group, kind="stable")
    members = grouped[order]
    starts = np.flatnonzero(np.r_[True, np.diff(member_group[order]) != 0])
    size = np.diff(np.r_[starts, len(members)]).astype(np.int64)
    people = np.add.reduceat(problem.persons[members], starts).astype(np.int64)
    cost = np.add.reduceat(costs[members], starts, axis=0) / COST_PER_M  # groups × sites, m
    fits = np.logical_and.reduceat(allowed[members], starts, axis=0)
    fits &= (size[:, None] <= problem.site_households[None, :]) & (
        people[:, None] <= problem.site_persons[None, :]
    )
    n_g = len(labels)
    group_site = np.full(n_g, -1, dtype=np.int64)
    bound, optimal, gap = math.inf, False, math.inf
    placeable = np.flatnonzero(fits.any(axis=1))  # a group too big for every site is split
    common = (
        cost[placeable],
        fits[placeable],
        size[placeable],
        people[placeable],
        problem.site_households,
        problem.site_persons,
    )
    relaxed = _group_program(*common, integral=False)
    proven = False
    if relaxed is not None:
        if relaxed.strict:  # every group whole in the relaxation: its optimum is a bound
            bound = relaxed.objective
        group_site[placeable[relaxed.whole]] = relaxed.site[relaxed.whole]
    undecided = placeable[group_site[placeable] < 0]
    if undecided.size and fits[placeable].sum() <= WHOLE_MILP_PAIRS:
        exact = _group_program(*common, integral=True)  # small: HiGHS gets the whole problem
        if exact is not None:
            group_site[placeable] = np.where(exact.whole, exact.site, -1)
            proven = exact.proven
            if exact.strict:
                bound = max(bound if math.isfinite(bound) else exact.bound, exact.bound)
            undecided = undecided[:0]
    if undecided.size:
        used_h, used_p = _loads(group_site, size, people, n_s)
        packed = _group_program(
            cost[undecided],
            fits[undecided],
            size[undecided],
            people[undecided],
            problem.site_households - used_h,
            problem.site_persons - used_p,
            integral=True,
        )
        if packed is not None:
            group_site[undecided[packed.whole]] = packed.site[packed.whole]
    whole = group_site >= 0
    site = np.full(problem.n_households, -1, dtype=np.int64)
    site[members] = np.repeat(group_site, size)
    kept = site >= 0
    if whole.all() and math.isfinite(bound):
        value = float(cost[np.arange(n_g), group_site].sum())
        slack = value - bound  # within HiGHS's tolerances (relative, or a centimetre) it is none
        close = slack <= max(GAP_TOLERANCE * value, 1.0 / COST_PER_M)
        gap = 0.0 if proven or close else slack / max(value, 1.0)
        optimal = gap == 0.0
    rest = np.flatnonzero(~kept)
    used_h, used_p = _loads(group_site, size, people, n_s)
    notes: list[str] = []
    method, rounds, arcs = "lp+milp", 1, int(fits.sum())
    if rest.size:
        sub = Problem(
            household_xy=problem.household_xy[rest],
            persons=problem.persons[rest],
            priority=problem.priority[rest],
            site_xy=problem.site_xy,
            site_households=problem.site_households - used_h,
            site_persons=problem.site_persons - used_p,
            max_distance_m=problem.max_distance_m,
            distance_m=None if problem.distance_m is None else problem.distance_m[rest],
        )
        rest_plan = _solve_households(sub, metres[rest], allowed[rest], costs[rest], started)
        site[rest] = rest_plan.site
        rounds += rest_plan.rounds
        arcs += rest_plan.arcs
        method = f"lp+milp+{rest_plan.method}"
        notes.extend(rest_plan.notes)
    n_split = int((~whole).sum())
    if n_split:
        notes.append(
            f"{n_split} of {n_g} groups could not be kept whole at one site ("
            + (
                "proven: no packing keeps more households whole"
                if proven
                else "no packing keeping them whole was found"
            )
            + "); their households were placed one by one"
        )
    elif not optimal:
        notes.append(
            f"every group kept whole; the total is within {gap:.2%} of the proven lower bound "
            "(the LP relaxation)"
        )
    plan = _plan(
        problem,
        metres,
        allowed,
        site,
        method,
        optimal,
        gap if math.isfinite(gap) else 1.0,
        started,
        (np.zeros(0, np.int64), np.zeros(0, np.int64)),
        rounds,
        notes,
    )
    plan.arcs = arcs
    plan.group_kept = kept
    plan.groups_kept = n_g - n_split
    plan.groups_split = n_split
    return plan


GAP_TOLERANCE = 1e-6  # relative: below it the LP bound and the plan agree
GROUP_MILP_S = 20.0  # time for each MILP of the grouped solve
WHOLE_MILP_PAIRS = 50_000  # up to this many group-site pairs, HiGHS gets the whole problem


@dataclass(frozen=True)
class _GroupAnswer:
    site: NDArray[np.int64]  # per group, the site it is (mostly) at
    whole: NDArray[np.bool_]  # per group, entirely at that one site
    objective: float  # total distance of the groups placed whole (penalties left out)
    bound: float  # HiGHS's proven lower bound on that, when ``strict``
    strict: bool  # no group left out: the answer is a plan that keeps every group whole
    proven: bool  # HiGHS proved it optimal (most households whole, then least distance)


def _group_program(
    cost: NDArray[np.float64],
    fits: NDArray[np.bool_],
    size: NDArray[np.int64],
    people: NDArray[np.int64],
    free_households: NDArray[np.int64],
    free_persons: NDArray[np.int64],
    *,
    integral: bool,
) -> _GroupAnswer | None:
    """Groups whole at sites they fit, the most households kept whole first, then the least
    total distance: the LP relaxation or the MILP (HiGHS). A group may be left out (``u_g``),
    so the program is always feasible and leaves groups out only when no packing keeps them.
    None without any pair.
    """
    n_g, n_s = cost.shape
    rows, cols = np.nonzero(fits)
    n = len(rows)
    if n_g == 0 or n == 0:
        return None
    columns = np.arange(n)
    u_columns = n + np.arange(n_g)
    constraints = [
        optimize.LinearConstraint(
            sparse.csr_array(
                (np.ones(n + n_g), (np.r_[rows, np.arange(n_g)], np.r_[columns, u_columns])),
                shape=(n_g, n + n_g),
            ),
            1,
            1,
        ),
        optimize.LinearConstraint(
            sparse.csr_array((size[rows].astype(float), (cols, columns)), shape=(n_s, n + n_g)),
            0,
            free_households,
        ),
        optimize.LinearConstraint(
            sparse.csr_array((people[rows].astype(float), (cols, columns)), shape=(n_s, n + n_g)),
            0,
            free_persons,
        ),
    ]
    options: dict[str, float] = {"time_limit": GROUP_MILP_S}
    if integral:
        options["mip_rel_gap"] = 0.0
    # Two goals in turn (a weighted sum would need weights beyond HiGHS's tolerances): the
    # fewest households left out of whole groups, held there, then the least distance.
    left_out_goal = np.r_[np.zeros(n), size.astype(float)]
    distance_goal = np.r_[cost[rows, cols], np.zeros(n_g)]
    result = None
    proven = True
    for step, goal in enumerate((left_out_goal, distance_goal)):
        result = optimize.milp(
            goal,
            constraints=constraints,
            integrality=np.ones(n + n_g) if integral else np.zeros(n + n_g),
            bounds=optimize.Bounds(0, 1),
            options=options,
        )
        if result.x is None:
            return None
        proven &= bool(result.status == 0)
        if step == 0:
            held = float(goal @ result.x) + (0.5 if integral else 1e-7)
            constraints.append(optimize.LinearConstraint(goal, -np.inf, held))
    assert result is not None
    x, left_out = np.clip(result.x[:n], 0, 1), np.clip(result.x[n:], 0, 1)
    best = np.full(n_g, -1, dtype=np.int64)
    share = np.zeros(n_g)
    order = np.argsort(x, kind="stable")  # the largest share of each group wins
    best[rows[order]] = cols[order]
    share[rows[order]] = x[order]
    strict = bool((left_out < 1e-5).all())  # HiGHS's tolerances, not a group left out
    objective = float(cost[rows, cols] @ x)
    bound = float(getattr(result, "mip_dual_bound", None) or result.fun) if strict else 0.0
    return _GroupAnswer(
        site=best,
        whole=share > 1 - 1e-6,
        objective=objective,
        bound=bound,
        strict=strict,
        proven=bool(integral and proven),
    )


def _loads(
    group_site: NDArray[np.int64], size: NDArray[np.int64], people: NDArray[np.int64], n_s: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Households and persons the whole groups put on each site."""
    placed = group_site >= 0
    households = np.bincount(group_site[placed], weights=size[placed], minlength=n_s)
    persons = np.bincount(group_site[placed], weights=people[placed], minlength=n_s)
    return households.astype(np.int64), persons.astype(np.int64)
