"""The case workflow (闭环): seven stages, four tiers, the allowed actions and their deadlines.

Pure rules, no storage: :func:`plan` turns (case, action, actor, now) into the field changes and the
audit row, or refuses with the allowed actions. ``gridmap.incidents`` applies plans atomically.

    受理 reported → 立案 accepted → 派遣 dispatched → 处置 handling → 反馈 resolved
      → 核查结案 closed → 评价 rated

Besides the forward path: ``return`` (退回, with a reason), ``escalate`` (分级响应 or
吹哨报到: one tier up), ``reopen`` (a closed case comes back) and ``reject`` (不予立案).
Verification is supervision (监督), kept separate from command (指挥): whoever handled or
dispatched a case cannot close it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridmap.errors import InvalidTransitionError, SeparationOfDutiesError
from gridmap.vocabulary import OPEN_STAGES, Action, Stage, Tier

# Share of a category's whole time limit that each open stage may take (configurable per category
# through ``stage_hours``). The handling stage gets most of it; acceptance and dispatch are quick.
STAGE_SHARES: dict[Stage, float] = {
    Stage.REPORTED: 0.05,
    Stage.ACCEPTED: 0.05,
    Stage.DISPATCHED: 0.10,
    Stage.HANDLING: 0.60,
    Stage.RESOLVED: 0.20,
}

# action → {from stage: to stage}. ``escalate`` sends cases that were with a handler back to
# ``accepted``, so the higher tier dispatches them afresh. ``report`` is not an action on a case.
TRANSITIONS: dict[Action, dict[Stage, Stage]] = {
    Action.ACCEPT: {Stage.REPORTED: Stage.ACCEPTED},
    Action.REJECT: {Stage.REPORTED: Stage.CLOSED},
    Action.DISPATCH: {Stage.ACCEPTED: Stage.DISPATCHED},
    Action.START: {Stage.DISPATCHED: Stage.HANDLING},
    Action.RESOLVE: {Stage.HANDLING: Stage.RESOLVED},
    Action.CLOSE: {Stage.RESOLVED: Stage.CLOSED},
    Action.RATE: {Stage.CLOSED: Stage.RATED},
    Action.RETURN: {
        Stage.DISPATCHED: Stage.ACCEPTED,
        Stage.HANDLING: Stage.ACCEPTED,
        Stage.RESOLVED: Stage.HANDLING,
    },
    Action.ESCALATE: {
        Stage.REPORTED: Stage.REPORTED,
        Stage.ACCEPTED: Stage.ACCEPTED,
        Stage.DISPATCHED: Stage.ACCEPTED,
        Stage.HANDLING: Stage.ACCEPTED,
        Stage.RESOLVED: Stage.RESOLVED,
    },
    Action.REOPEN: {Stage.CLOSED: Stage.ACCEPTED, Stage.RATED: Stage.ACCEPTED},
}
NEEDS_NOTE: frozenset[Action] = frozenset(
    {Action.REJECT, Action.RETURN, Action.ESCALATE, Action.REOPEN}
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Time limits of a category: the whole limit and optional per-stage overrides, in hours."""

    limit_hours: float
    stage_hours: Mapping[str, float]

    def hours(self, stage: str) -> float | None:
        """Hours allowed in ``stage``; None for the finished stages."""
        if stage not in OPEN_STAGES:
            return None
        override = self.stage_hours.get(stage)
        return (
            float(override)
            if override is not None
            else self.limit_hours * STAGE_SHARES[Stage(stage)]
        )

    def stage_due(self, stage: str, since: datetime) -> datetime | None:
        """When a case that entered ``stage`` at ``since`` becomes overdue."""
        hours = self.hours(stage)
        return None if hours is None else since + timedelta(hours=hours)


def stage_hours_sql(stage: Stage, *, limit_hours: str, stage_hours: str) -> str:
    """:meth:`Limits.hours` as a SQL expression over the named category columns.

    The intake statement sets a new case's deadline in the same round trip as it reads the
    category, so the rule is rendered here, next to its Python form, from the same shares; the
    storage layer only splices the text in. ``tests/test_workflow.py`` checks both agree.
    """
    if stage not in OPEN_STAGES:
        raise ValueError(f"{stage} is not an open stage and has no deadline")
    share = repr(STAGE_SHARES[Stage(stage)])
    return f"COALESCE(CAST({stage_hours} ->> '{stage}' AS float8), {limit_hours} * {share})"


@dataclass(frozen=True, slots=True)
class Case:
    """What the rules need to know of an incident."""

    stage: str
    tier: str
    handler: str | None
    dispatcher: str | None
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of an allowed action: new column values and the audit row."""

    changes: dict[str, Any]
    event: dict[str, Any]


def allowed(stage: str, tier: str) -> list[Action]:
    """Actions allowed from ``stage`` (escalation only below the county tier)."""
    return [
        action
        for action, moves in TRANSITIONS.items()
        if stage in moves and not (action is Action.ESCALATE and tier == Tier.COUNTY)
    ]


def next_tier(tier: str) -> Tier:
    """The tier above ``tier`` (分级响应); the county tier has none."""
    above = Tier(tier).next()
    if above is None:
        raise InvalidTransitionError(
            "the case is already at the county tier and cannot be escalated further",
            tier=tier,
        )
    return above


def plan(
    case: Case,
    action: str,
    *,
    actor: str,
    now: datetime,
    limits: Limits,
    note: str = "",
    rating: int | None = None,
    worker_id: int | None = None,
    department: str | None = None,
) -> Plan:
    """Check ``action`` against the rules and say what it changes; raise when it is not allowed."""
    actor = actor.strip()  # "alice " must not slip past the separation of duties
    if action not in TRANSITIONS:
        raise InvalidTransitionError(
            f"unknown action {action!r}; actions are {', '.join(TRANSITIONS)}",
            action=action,
            allowed=allowed(case.stage, case.tier),
        )
    moves = TRANSITIONS[Action(action)]
    if case.stage not in moves or (action == Action.ESCALATE and case.tier == Tier.COUNTY):
        options = allowed(case.stage, case.tier)
        raise InvalidTransitionError(
            f"cannot {action} a case in stage {case.stage} ({Stage(case.stage).zh}, tier "
            f"{case.tier}); allowed: {', '.join(options) or 'none'}",
            action=action,
            stage=case.stage,
            allowed=options,
        )
    if not actor.strip():
        raise InvalidTransitionError("every action needs an actor (who does it)", action=action)
    if action in NEEDS_NOTE and not note.strip():
        raise InvalidTransitionError(f"{action} needs a reason in 'note'", action=action)
    if action == "close" and actor in {case.handler, case.dispatcher}:
        role = "handled" if actor == case.handler else "dispatched"
        raise SeparationOfDutiesError(
            f"{actor} {role} this case and cannot verify it; verification (核查) must be done "
            "by someone else",
            actor=actor,
        )
    if action == "rate" and (rating is None or not 1 <= rating <= 5):
        raise InvalidTransitionError("rate needs a rating from 1 to 5", action=action)
    if action != "rate" and rating is not None:
        raise InvalidTransitionError("only rate takes a rating", action=action)

    to_stage = moves[Stage(case.stage)]
    tier = next_tier(case.tier) if action == Action.ESCALATE else case.tier
    changes: dict[str, Any] = {"stage": to_stage, "tier": tier}
    if to_stage != case.stage or action == Action.ESCALATE:  # the stage clock restarts
        changes["stage_at"] = now
        changes["stage_due"] = limits.stage_due(to_stage, now)
    if action == "dispatch":
        changes["dispatcher"] = actor
        if worker_id is not None:
            changes["worker_id"] = worker_id
        if department is not None:
            changes["department"] = department
    elif action in ("start", "resolve") and case.handler is None:
        changes["handler"] = actor
    elif action in ("close", "reject"):
        changes["closed_at"] = now
    elif action == "rate":
        changes["rating"] = rating
    elif action == "reopen":
        changes.update(closed_at=None, rating=None, handler=None, dispatcher=None)
        changes["due_at"] = now + timedelta(hours=limits.limit_hours)
    elif action in (Action.RETURN, Action.ESCALATE) and to_stage == Stage.ACCEPTED:
        changes.update(handler=None, dispatcher=None)  # whoever takes it next starts afresh
    event = {
        "at": now,
        "actor": actor,
        "action": action,
        "from_stage": case.stage,
        "to_stage": to_stage,
        "from_tier": case.tier,
        "to_tier": tier,
        "note": note if rating is None else f"{rating}/5 {note}".strip(),
    }
    return Plan(changes=changes, event=event)
