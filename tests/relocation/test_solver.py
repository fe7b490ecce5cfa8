"""Relocation plans: optimal against brute force, capacities kept, reasons given."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.errors import InvalidInputError
from gridmap.relocation import solver
from gridmap.relocation.solver import Problem
from gridmap.vocabulary import Unassigned

COORD = st.floats(0, 5_000, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, max_households: int = 5, max_sites: int = 3, persons_bind: bool = False):
    n_h = draw(st.integers(1, max_households))
    n_s = draw(st.integers(1, max_sites))
    homes = np.array(draw(st.lists(st.tuples(COORD, COORD), min_size=n_h, max_size=n_h)))
    sites = np.array(draw(st.lists(st.tuples(COORD, COORD), min_size=n_s, max_size=n_s)))
    persons = np.array(draw(st.lists(st.integers(1, 6), min_size=n_h, max_size=n_h)))
    priority = np.array(draw(st.lists(st.booleans(), min_size=n_h, max_size=n_h)))
    caps = np.array(draw(st.lists(st.integers(0, 3), min_size=n_s, max_size=n_s)))
    if persons_bind:
        people = np.array(draw(st.lists(st.integers(0, 12), min_size=n_s, max_size=n_s)))
    else:
        people = np.full(n_s, 10_000)
    limit = draw(st.one_of(st.none(), st.floats(500, 6_000)))
    return Problem(
        household_xy=homes.reshape(n_h, 2).astype(float),
        persons=persons.astype(np.int64),
        priority=priority.astype(bool),
        site_xy=sites.reshape(n_s, 2).astype(float),
        site_households=caps.astype(np.int64),
        site_persons=people.astype(np.int64),
        max_distance_m=limit,
    )


def goals(problem: Problem, site: np.ndarray) -> tuple[int, int, float]:
    """The plan's three goals as one sort key (smaller is better)."""
    served = site >= 0
    metres = solver.distances(problem)
    total = float(metres[served, site[served]].sum())
    return (-int(problem.priority[served].sum()), -int(served.sum()), total)


def feasible(problem: Problem, site: np.ndarray) -> bool:
    served = site >= 0
    metres = solver.distances(problem)
    limit = problem.max_distance_m
    if limit is not None and served.any() and (metres[served, site[served]] > limit).any():
        return False
    loads = np.bincount(site[served], minlength=problem.n_sites)
    people = np.bincount(site[served], weights=problem.persons[served], minlength=problem.n_sites)
    return bool((loads <= problem.site_households).all() and (people <= problem.site_persons).all())


def brute_force(problem: Problem) -> tuple[int, int, float]:
    choices = range(-1, problem.n_sites)
    return min(
        goals(problem, np.array(assignment))
        for assignment in itertools.product(choices, repeat=problem.n_households)
        if feasible(problem, np.array(assignment))
    )


def assert_matches_brute_force(problem: Problem) -> None:
    plan = solver.solve(problem)
    assert feasible(problem, plan.site)
    found, best = goals(problem, plan.site), brute_force(problem)
    assert found[:2] == best[:2]
    # Flow costs are whole centimetres: at most half a centimetre off per household.
    assert found[2] == pytest.approx(best[2], abs=0.01 * problem.n_households)
    assert plan.optimal
    assert plan.objective_m == pytest.approx(found[2])


@settings(max_examples=150, deadline=None)
@given(problems())
def test_household_capacities_give_the_brute_force_optimum(problem: Problem) -> None:
    assert_matches_brute_force(problem)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_the_proof_widens_the_arcs_until_the_plan_is_optimal(problem: Problem) -> None:
    """From one arc per household, so the certificate and pricing have to find what is
    missing."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solver, "FIRST_K", 1)
        patch.setattr(solver, "SITE_REACH", 0)
        assert_matches_brute_force(problem)


@settings(max_examples=100, deadline=None)
@given(problems(max_households=6))
def test_sample_prices_choose_the_first_arcs_but_never_the_answer(problem: Problem) -> None:
    """Prices from a 2-household sample (with one arc each and no site arcs, so the pricing
    rounds must repair whatever the prices got wrong)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solver, "PRICE_SAMPLE", 2)
        patch.setattr(solver, "FIRST_K", 1)
        patch.setattr(solver, "SITE_REACH", 0)
        assert_matches_brute_force(problem)


@settings(max_examples=100, deadline=None)
@given(problems(max_households=4, persons_bind=True))
def test_person_capacities_give_the_brute_force_optimum(problem: Problem) -> None:
    assert_matches_brute_force(problem)


def line_problem(**changes) -> Problem:
    """Three households at 0, 1, 2 km on a line; one site at 0 m and one at 10 km."""
    fields = {
        "household_xy": np.array([[0.0, 0], [1000, 0], [2000, 0]]),
        "persons": np.array([2, 3, 4]),
        "priority": np.array([False, False, True]),
        "site_xy": np.array([[0.0, 0], [10_000, 0]]),
        "site_households": np.array([2, 5]),
        "site_persons": np.array([100, 100]),
        "max_distance_m": None,
    }
    return Problem(**{**fields, **changes})


def test_a_full_site_sends_the_farthest_household_on_and_capacity_is_kept() -> None:
    plan = solver.solve(line_problem())
    # The site at 0 takes two; sending the 2 km household on costs 8 km, the 1 km one 9 km.
    assert plan.site.tolist() == [0, 0, 1]
    assert plan.objective_m == pytest.approx(0 + 1000 + 8000)
    assert plan.method == "min_cost_flow" and plan.optimal


def test_priority_households_come_first_when_places_are_short() -> None:
    plan = solver.solve(line_problem(site_households=np.array([2, 0])))
    assert plan.site.tolist() == [0, -1, 0]  # the priority household displaces a nearer one
    assert plan.reason == [None, Unassigned.OVER_CAPACITY, None]


def test_person_capacity_is_kept_through_the_milp() -> None:
    plan = solver.solve(line_problem(site_persons=np.array([4, 100])))
    # The flow's answer puts 2 + 3 persons at the first site; only one household fits there,
    # and the nearest one saves the most.
    assert plan.method == "milp" and plan.optimal
    assert plan.site.tolist() == [0, 1, 1] and plan.objective_m == pytest.approx(17_000)


def test_reasons_name_distance_and_unreachable_sites() -> None:
    roads = np.array([[0.0, np.inf], [1000, np.inf], [np.inf, np.inf]])
    plan = solver.solve(line_problem(distance_m=roads, max_distance_m=500.0))
    assert plan.site.tolist() == [0, -1, -1]
    assert plan.reason == [None, Unassigned.BEYOND_MAX_DISTANCE, Unassigned.NO_SITE_REACHABLE]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "site_xy": np.zeros((0, 2)),
                "site_households": np.zeros(0, int),
                "site_persons": np.zeros(0, int),
            },
            "no candidate sites",
        ),
        ({"household_xy": np.array([[np.nan, 0], [1, 0], [2, 0]])}, "finite"),
        ({"site_households": np.array([-1, 5])}, "over-occupied"),
        ({"max_distance_m": 0.0}, "positive"),
        ({"persons": np.array([1, -2, 1])}, "negative"),
        ({"distance_m": np.ones((2, 2))}, "one value per household and site"),
    ],
)
def test_bad_instances_are_refused_by_name(changes, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        solver.solve(line_problem(**changes))


# -- keeping groups together ------------------------------------------------------------------


def whole_groups(problem: Problem, site: np.ndarray) -> bool:
    """Every group's households all at one site."""
    assert problem.groups is not None
    return all(
        len(set(site[problem.groups == g].tolist())) == 1 and site[problem.groups == g][0] >= 0
        for g in np.unique(problem.groups[problem.groups >= 0])
    )


def best_whole(problem: Problem) -> float | None:
    """The least total distance of any plan that keeps every group whole (brute force)."""
    assert problem.groups is not None
    labels = np.unique(problem.groups)
    metres = solver.distances(problem)
    best = None
    for choice in itertools.product(range(problem.n_sites), repeat=len(labels)):
        site = np.array([choice[np.searchsorted(labels, g)] for g in problem.groups])
        if feasible(problem, site):
            total = float(metres[np.arange(problem.n_households), site].sum())
            best = total if best is None else min(best, total)
    return best


@st.composite
def grouped_problems(draw):
    problem = draw(problems(max_households=6, max_sites=3))
    groups = np.array(
        draw(
            st.lists(
                st.integers(0, 2), min_size=problem.n_households, max_size=problem.n_households
            )
        )
    )
    return Problem(**{**problem.__dict__, "groups": groups.astype(np.int64)})


@settings(max_examples=150, deadline=None)
@given(grouped_problems())
def test_groups_are_kept_whole_when_they_can_be_and_reported_when_not(problem: Problem) -> None:
    plan = solver.solve(problem)
    assert feasible(problem, plan.site)  # capacities and the distance limit, always
    best = best_whole(problem)
    n_groups = len(np.unique(problem.groups))
    assert plan.groups_kept + plan.groups_split == n_groups
    if best is not None:
        # Small instances: the packing MILP finds every whole plan, and its optimum is exact.
        assert plan.groups_split == 0 and whole_groups(problem, plan.site)
        # Small instances go to HiGHS whole: the exact optimum, gap 0.
        assert plan.objective_m == pytest.approx(best, abs=0.01 * problem.n_households)
        assert plan.optimal and plan.gap == pytest.approx(0, abs=1e-6)
    else:
        assert plan.groups_split >= 1
        assert any("could not be kept whole" in note for note in plan.notes)
    kept = plan.group_kept
    assert kept is not None
    for g in np.unique(problem.groups):
        members = problem.groups == g
        assert kept[members].all() or not kept[members].any()


def test_a_group_too_large_for_every_site_is_split_and_the_rest_kept_whole() -> None:
    problem = line_problem(
        site_households=np.array([2, 2]), groups=np.array([0, 0, 0]), priority=np.zeros(3, bool)
    )
    plan = solver.solve(problem)
    assert plan.groups_split == 1 and plan.assigned == 3
    assert plan.site.tolist() == [0, 0, 1]  # the nearest two at the near site
    two_groups = line_problem(site_households=np.array([2, 5]), groups=np.array([0, 0, 1]))
    plan = solver.solve(two_groups)
    assert plan.groups_split == 0 and plan.optimal and plan.gap == 0
    assert plan.site.tolist() == [0, 0, 1]


def test_households_in_no_group_are_placed_one_by_one_beside_whole_groups() -> None:
    problem = line_problem(site_households=np.array([2, 5]), groups=np.array([0, 0, -1]))
    plan = solver.solve(problem)
    assert plan.site.tolist() == [0, 0, 1] and plan.groups_kept == 1
