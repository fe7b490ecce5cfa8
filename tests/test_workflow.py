"""The workflow rules alone: every action from every stage, notes, separation of duties, clocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gridmap import workflow
from gridmap.errors import InvalidTransitionError, SeparationOfDutiesError
from gridmap.vocabulary import OPEN_STAGES, Stage

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WEEK = workflow.Limits(168.0, {})


def case(stage: str, tier: str = "grid", handler: str | None = None) -> workflow.Case:
    return workflow.Case(stage, tier, handler, "dispatcher", T0)


EXPECTED = {  # (action, from) → to, written out independently of TRANSITIONS
    ("accept", "reported"): "accepted",
    ("reject", "reported"): "closed",
    ("dispatch", "accepted"): "dispatched",
    ("start", "dispatched"): "handling",
    ("resolve", "handling"): "resolved",
    ("close", "resolved"): "closed",
    ("rate", "closed"): "rated",
    ("return", "dispatched"): "accepted",
    ("return", "handling"): "accepted",
    ("return", "resolved"): "handling",
    ("escalate", "reported"): "reported",
    ("escalate", "accepted"): "accepted",
    ("escalate", "dispatched"): "accepted",
    ("escalate", "handling"): "accepted",
    ("escalate", "resolved"): "resolved",
    ("reopen", "closed"): "accepted",
    ("reopen", "rated"): "accepted",
}
ACTIONS = sorted({a for a, _ in EXPECTED})


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_from_every_stage(action: str, stage: str) -> None:
    """Allowed moves land where the table says; refused ones name the allowed actions."""
    kwargs = {"note": "原因", "rating": 4 if action == "rate" else None}
    if (action, stage) in EXPECTED:
        planned = workflow.plan(case(stage), action, actor="a", now=T0, limits=WEEK, **kwargs)
        assert planned.changes["stage"] == EXPECTED[(action, stage)]
        assert planned.event["from_stage"] == stage
        assert planned.event["to_stage"] == EXPECTED[(action, stage)]
        assert planned.event["actor"] == "a"
    else:
        with pytest.raises(InvalidTransitionError) as refused:
            workflow.plan(case(stage), action, actor="a", now=T0, limits=WEEK, **kwargs)
        allowed = {a for a, s in EXPECTED if s == stage}
        assert set(refused.value.context["allowed"]) == allowed
        assert stage in str(refused.value)


def test_unknown_action_is_refused_with_the_list() -> None:
    with pytest.raises(InvalidTransitionError, match="unknown action"):
        workflow.plan(case("reported"), "teleport", actor="a", now=T0, limits=WEEK)


@pytest.mark.parametrize("action", sorted(workflow.NEEDS_NOTE))
def test_reasons_are_required(action: str) -> None:
    stage = next(s for a, s in EXPECTED if a == action)
    with pytest.raises(InvalidTransitionError, match="reason"):
        workflow.plan(case(stage), action, actor="a", now=T0, limits=WEEK, note="  ")


def test_blank_actor_is_refused() -> None:
    with pytest.raises(InvalidTransitionError, match="actor"):
        workflow.plan(case("reported"), "accept", actor=" ", now=T0, limits=WEEK)


def test_the_handler_and_the_dispatcher_cannot_verify() -> None:
    for actor in ("worker:7", "dispatcher"):
        with pytest.raises(SeparationOfDutiesError):
            workflow.plan(
                case("resolved", handler="worker:7"), "close", actor=actor, now=T0, limits=WEEK
            )
    done = workflow.plan(
        case("resolved", handler="worker:7"), "close", actor="supervisor", now=T0, limits=WEEK
    )
    assert done.changes["closed_at"] == T0


@pytest.mark.parametrize("rating", [None, 0, 6])
def test_rating_must_be_one_to_five(rating: int | None) -> None:
    with pytest.raises(InvalidTransitionError, match="1 to 5"):
        workflow.plan(case("closed"), "rate", actor="a", now=T0, limits=WEEK, rating=rating)


def test_escalation_climbs_one_tier_and_stops_at_county() -> None:
    tiers = []
    current = case("handling")
    for _ in range(3):
        planned = workflow.plan(current, "escalate", actor="a", now=T0, limits=WEEK, note="超时")
        tiers.append(planned.changes["tier"])
        current = workflow.Case(planned.changes["stage"], planned.changes["tier"], None, None, T0)
    assert tiers == ["village", "township", "county"]
    assert "escalate" not in workflow.allowed(current.stage, "county")
    with pytest.raises(InvalidTransitionError, match="escalate"):
        workflow.plan(current, "escalate", actor="a", now=T0, limits=WEEK, note="超时")


def test_stage_deadlines_follow_the_limits() -> None:
    """A week-long case: 5 % to accept, 60 % to handle; overrides win; finished stages have none."""
    assert WEEK.stage_due("reported", T0) == T0 + timedelta(hours=168 * 0.05)
    assert WEEK.stage_due("handling", T0) == T0 + timedelta(hours=168 * 0.60)
    assert WEEK.stage_due("closed", T0) is None
    custom = workflow.Limits(24.0, {"handling": 4.0})
    assert custom.stage_due("handling", T0) == T0 + timedelta(hours=4)
    later = T0 + timedelta(hours=3)
    planned = workflow.plan(case("accepted"), "dispatch", actor="d", now=later, limits=custom)
    assert planned.changes["stage_due"] == later + timedelta(hours=24 * 0.10)
    assert planned.changes["dispatcher"] == "d"


def test_reopen_clears_the_outcome_and_restarts_the_clock() -> None:
    planned = workflow.plan(case("rated"), "reopen", actor="a", now=T0, limits=WEEK, note="复发")
    assert planned.changes["rating"] is None and planned.changes["closed_at"] is None
    assert planned.changes["due_at"] == T0 + timedelta(hours=168)


def test_shares_cover_the_whole_limit() -> None:
    assert sum(workflow.STAGE_SHARES.values()) == pytest.approx(1.0)
    assert set(workflow.STAGE_SHARES) == set(OPEN_STAGES)


def test_escalation_back_to_dispatch_forgets_the_old_handler() -> None:
    """The higher tier dispatches afresh: the old handler must not count as the new one."""
    planned = workflow.plan(
        case("handling", handler="alice"), "escalate", actor="sys", now=T0, limits=WEEK, note="超时"
    )
    assert planned.changes["stage"] == "accepted"
    assert planned.changes["handler"] is None and planned.changes["dispatcher"] is None


def test_actor_names_are_trimmed_before_the_duty_check() -> None:
    with pytest.raises(SeparationOfDutiesError):
        workflow.plan(
            case("resolved", handler="alice"), "close", actor="alice ", now=T0, limits=WEEK
        )


def test_only_rate_takes_a_rating() -> None:
    with pytest.raises(InvalidTransitionError, match="only rate"):
        workflow.plan(case("reported"), "accept", actor="a", now=T0, limits=WEEK, rating=3)


@pytest.mark.parametrize("stage", OPEN_STAGES)
@pytest.mark.parametrize(
    ("limit_hours", "stage_hours"),
    [(24.0, {}), (360.0, {"reported": 0.5, "handling": 200.0}), (2.0, {"resolved": 1e-3})],
)
def test_sql_deadline_rule_equals_the_python_one(session, stage, limit_hours, stage_hours):
    """The intake statement's deadline (rendered SQL) and Limits.hours agree in PostgreSQL."""
    expression = workflow.stage_hours_sql(
        stage, limit_hours=":limit", stage_hours="CAST(:overrides AS jsonb)"
    )
    in_sql = session.execute(
        text(f"SELECT {expression}"),
        {"limit": limit_hours, "overrides": json.dumps(stage_hours)},
    ).scalar_one()
    assert in_sql == pytest.approx(workflow.Limits(limit_hours, stage_hours).hours(stage))


def test_finished_stages_have_no_sql_deadline():
    with pytest.raises(ValueError, match="not an open stage"):
        workflow.stage_hours_sql(Stage.CLOSED, limit_hours="x", stage_hours="y")
