"""Who may do and see what (权限与数据分级): roles' permissions, the field classification, and
the :class:`Principal` every request acts as.

Three rules, each written once here and used by the API, the exports, the tiles and the maps:

* **Permissions** (:data:`GRANTS`): a role holds a set of :class:`Permission` s; an action on a
  case needs the permission :data:`ACTION_NEEDS` names.
* **Scope** (:class:`gridmap.db.scope.Scope`): the division or grid codes whose rows a principal
  may read and change; anything else is "not found", so ids cannot be probed.
* **Classification** (:data:`FIELDS`): every personal field is ``internal`` or ``sensitive``;
  :func:`redact` drops what the principal's role may not see (:data:`SEES`), so an output never
  carries it, whatever the output is (JSON, CSV, tiles, maps, Open311).

>>> Role.VIEWER in ROLES_THAT_SEE[Sensitivity.SENSITIVE]
False
>>> sorted(redact("worker", {"id": 1, "name": "张三", "phone": "139"}, Role.PLANNER))
['id', 'name']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import ForbiddenError
from gridmap.vocabulary import Action, Permission, Role, Sensitivity

P = Permission
_CASEWORK = {P.READ_INCIDENTS, P.REPORT, P.ACCEPT, P.DISPATCH, P.HANDLE, P.VERIFY, P.RATE}
_STAFF = {*_CASEWORK, P.ESCALATE, P.READ_WORKERS, P.READ_QA, P.EXPORT}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.COUNTY_ADMIN: frozenset(Permission),
    Role.TOWNSHIP_STAFF: frozenset(
        {*_STAFF, P.REOPEN, P.EDIT_WORKERS, P.EDIT_SITES, P.PLAN_RELOCATION, P.RELOCATE}
    ),
    Role.VILLAGE_STAFF: frozenset({*_STAFF, P.PLAN_RELOCATION}),
    Role.GRID_WORKER: frozenset(
        {P.READ_INCIDENTS, P.REPORT, P.HANDLE, P.READ_WORKERS, P.RECORD_POSITIONS}
    ),
    Role.PLANNER: frozenset(
        {
            P.READ_INCIDENTS,
            P.READ_WORKERS,
            P.READ_QA,
            P.EXPORT,
            P.DRAFT_PLANS,
            P.EDIT_SITES,
            P.PLAN_RELOCATION,
        }
    ),
    Role.VIEWER: frozenset({P.READ_INCIDENTS, P.READ_WORKERS, P.EXPORT}),
    Role.CLIENT: frozenset({P.READ_INCIDENTS, P.REPORT}),
}
"""What each role may do. County admins alone edit categories, read the audit log and apply
plans; verification (核查) additionally needs someone who neither handled nor dispatched."""

ACTION_NEEDS: dict[Action, Permission] = {
    Action.ACCEPT: P.ACCEPT,
    Action.REJECT: P.ACCEPT,
    Action.DISPATCH: P.DISPATCH,
    Action.START: P.HANDLE,
    Action.RESOLVE: P.HANDLE,
    Action.RETURN: P.HANDLE,
    Action.CLOSE: P.VERIFY,
    Action.RATE: P.RATE,
    Action.ESCALATE: P.ESCALATE,
    Action.REOPEN: P.REOPEN,
}

SEES: dict[Role, frozenset[Sensitivity]] = {
    Role.COUNTY_ADMIN: frozenset(Sensitivity),
    Role.TOWNSHIP_STAFF: frozenset(Sensitivity),
    Role.VILLAGE_STAFF: frozenset(Sensitivity),
    Role.GRID_WORKER: frozenset(Sensitivity),  # inside their own grids only (their scope)
    Role.PLANNER: frozenset({Sensitivity.PUBLIC, Sensitivity.INTERNAL}),
    Role.VIEWER: frozenset({Sensitivity.PUBLIC}),
    Role.CLIENT: frozenset({Sensitivity.PUBLIC}),
}
"""Which classes of field each role sees (in its scope)."""

ROLES_THAT_SEE: dict[Sensitivity, frozenset[Role]] = {
    level: frozenset(role for role, seen in SEES.items() if level in seen) for level in Sensitivity
}

_S, _I = Sensitivity.SENSITIVE, Sensitivity.INTERNAL
FIELDS: dict[str, dict[str, Sensitivity]] = {
    # Fields not listed are public.
    "incident": {
        "reporter": _S,
        "reporter_phone": _S,
        "photo_urls": _S,  # photos show faces, number plates and homes
        "worker_id": _I,
        "worker_name": _I,
        "handler": _I,
        "dispatcher": _I,
        "department": _I,
        "events": _I,
    },
    "worker": {"name": _I, "phone": _S, "last_seen": _S, "lon": _S, "lat": _S},
    "grid": {"worker_id": _I, "worker_name": _I, "worker": _I, "workers": _I},
    "household": {"persons": _S, "flags": _S, "geometry": _S, "lon": _S, "lat": _S},
    "position": {"lon": _S, "lat": _S, "geometry": _S, "recorded_at": _S},
    "account": {"password_hash": _S, "failed_logins": _I, "locked_until": _I},
}
"""The classification (数据分级) of personal fields, by resource; see docs/security.md."""

M = TypeVar("M", bound=Mapping[str, Any])


def hidden_fields(resource: str, role: Role) -> frozenset[str]:
    """The fields of ``resource`` that ``role`` may not see."""
    seen = SEES[role]
    return frozenset(name for name, level in FIELDS.get(resource, {}).items() if level not in seen)


def redact(resource: str, row: M, role: Role) -> M:
    """``row`` without the fields of ``resource`` that ``role`` may not see (a new mapping)."""
    hidden = hidden_fields(resource, role)
    if not hidden:
        return row
    return {k: v for k, v in row.items() if k not in hidden}  # type: ignore[return-value]


def sees_sensitive(role: Role) -> bool:
    """Whether ``role`` sees sensitive fields (in its scope)."""
    return Sensitivity.SENSITIVE in SEES[role]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: an account, its role and its scope, as the token carries them.

    ``scope`` limits what it reads and changes; ``report_scope`` where it may report (a grid
    worker reports anywhere in the villages of their grids: a pothole just across the grid line
    is still theirs to report, and goes to the neighbouring grid's worker).
    """

    user_id: int
    username: str
    role: Role
    scope: Scope
    report_scope: Scope
    worker_id: int | None = None
    token_version: int = 0
    rate_per_minute: int | None = None

    def can(self, permission: Permission) -> bool:
        """Whether the role holds ``permission``."""
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise :class:`ForbiddenError` naming the permission unless the role holds it."""
        if not self.can(permission):
            raise ForbiddenError(
                f"your role {self.role.value} ({self.role.zh}) may not {permission.en.lower()} "
                f"({permission.zh})",
                role=self.role.value,
                permission=permission.value,
            )

    def sees(self, level: Sensitivity) -> bool:
        """Whether the role sees fields of class ``level``."""
        return level in SEES[self.role]

    def redact(self, resource: str, row: M) -> M:
        """``row`` without what this principal's role may not see."""
        return redact(resource, row, self.role)

    def holds_county(self, county: str) -> bool:
        """Whether the whole of ``county`` is in scope (exports, QA and county maps need that)."""
        return self.scope.covers(county)


SYSTEM = Principal(
    user_id=0,
    username="system",
    role=Role.COUNTY_ADMIN,
    scope=EVERYTHING,
    report_scope=EVERYTHING,
)
"""The CLI and scheduled jobs: the operator at the machine, not an HTTP caller."""


def scope_of_codes(codes: tuple[str, ...]) -> Scope:
    """A :class:`Scope` of ``codes``; ``*`` alone means everything (a deployment operator)."""
    return EVERYTHING if codes == ("*",) else Scope(codes=tuple(sorted(set(codes))))
