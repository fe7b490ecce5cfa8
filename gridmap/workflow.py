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

# Re-exported: the stage names live with the schema that constrains them.
from gridmap.db.models import OPEN_STAGES as OPEN_STAGES
from gridmap.db.models import STAGES as STAGES
from gridmap.errors import InvalidTransitionError, SeparationOfDutiesError

STAGE_ZH: dict[str, str] = {
    "reported": "受理",
    "accepted": "立案",
    "dispatched": "派遣",
    "handling": "处置",
    "resolved": "反馈",
    "closed": "核查结案",
    "rated": "评价",
}
TIERS: tuple[str, ...] = ("grid", "village", "township", "county")
TIER_ZH: dict[str, str] = {
    "grid": "网格",
    "village": "村(社区)",
    "township": "乡镇(街道)",
    "county": "县级部门",
}
CASE_TYPE_ZH: dict[str, str] = {
    "immediate": "即办件",
    "promised": "承诺件",
    "coordinated": "协调件",
}

# Share of a category's whole time limit that each open stage may take (configurable per category
# through ``stage_hours``). The handling stage gets most of it; acceptance and dispatch are quick.
STAGE_SHARES: dict[str, float] = {
    "reported": 0.05,
    "accepted": 0.05,
    "dispatched": 0.10,
    "handling": 0.60,
    "resolved": 0.20,
}

# action → {from stage: to stage}. ``escalate`` sends cases that were with a handler back to
# ``accepted``, so the higher tier dispatches them afresh.
TRANSITIONS: dict[str, dict[str, str]] = {
    "accept": {"reported": "accepted"},
    "reject": {"reported": "closed"},
    "dispatch": {"accepted": "dispatched"},
    "start": {"dispatched": "handling"},
    "resolve": {"handling": "resolved"},
    "close": {"resolved": "closed"},
    "rate": {"closed": "rated"},
    "return": {"dispatched": "accepted", "handling": "accepted", "resolved": "handling"},
    "escalate": {
        "reported": "reported",
        "accepted": "accepted",
        "dispatched": "accepted",
        "handling": "accepted",
        "resolved": "resolved",
    },
    "reopen": {"closed": "accepted", "rated": "accepted"},
}
ACTION_ZH: dict[str, str] = {
    "report": "上报",
    "accept": "立案",
    "reject": "不予立案",
    "dispatch": "派遣",
    "start": "开始处置",
    "resolve": "处置反馈",
    "close": "核查结案",
    "rate": "评价",
    "return": "退回",
    "escalate": "上报升级",
    "reopen": "重新办理",
}
NEEDS_NOTE: frozenset[str] = frozenset({"reject", "return", "escalate", "reopen"})


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
        return float(override) if override is not None else self.limit_hours * STAGE_SHARES[stage]

    def stage_due(self, stage: str, since: datetime) -> datetime | None:
        """When a case that entered ``stage`` at ``since`` becomes overdue."""
        hours = self.hours(stage)
        return None if hours is None else since + timedelta(hours=hours)


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


def allowed(stage: str, tier: str) -> list[str]:
    """Actions allowed from ``stage`` (escalation only below the county tier)."""
    return [
        action
        for action, moves in TRANSITIONS.items()
        if stage in moves and not (action == "escalate" and tier == TIERS[-1])
    ]


def next_tier(tier: str) -> str:
    """The tier above ``tier`` (分级响应); the county tier has none."""
    position = TIERS.index(tier)
    if position == len(TIERS) - 1:
        raise InvalidTransitionError(
            "the case is already at the county tier and cannot be escalated further",
            tier=tier,
        )
    return TIERS[position + 1]


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
    moves = TRANSITIONS[action]
    if case.stage not in moves or (action == "escalate" and case.tier == TIERS[-1]):
        options = allowed(case.stage, case.tier)
        raise InvalidTransitionError(
            f"cannot {action} a case in stage {case.stage} ({STAGE_ZH[case.stage]}, tier "
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

    to_stage = moves[case.stage]
    tier = next_tier(case.tier) if action == "escalate" else case.tier
    changes: dict[str, Any] = {"stage": to_stage, "tier": tier}
    if to_stage != case.stage or action == "escalate":  # the stage clock restarts
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
    elif action in ("return", "escalate") and to_stage == "accepted":
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
