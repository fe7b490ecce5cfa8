"""The audit log (审计日志): who did what, when, to what, with the row before and after.

Every write through the API records a row in the same transaction as the write; every read of
sensitive fields records one too (in a transaction of its own, since the read itself writes
nothing). Rows cannot be changed or deleted by anyone (a trigger), and the API's database role
may only insert and read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth.access import Principal
from gridmap.vocabulary import AuditAction


def _jsonable(value: Any) -> Any:
    """Rows as JSONB takes them (datetimes and the like as strings)."""
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


def entry(
    principal: Principal,
    action: AuditAction,
    resource: str,
    resource_id: object = None,
    *,
    county: str | None = None,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit row for ``principal`` doing ``action`` to ``resource``; without ``county``
    it is filed under the principal's own county, so their county admin sees it.
    """
    if county is None and principal.scope.codes:
        county = principal.scope.codes[0][:6]
    return {
        "actor": principal.username,
        "role": principal.role.value,
        "action": action.value,
        "resource": resource,
        "resource_id": None if resource_id is None else str(resource_id),
        "county_code": county,
        "before": _jsonable(before),
        "after": _jsonable(after),
        "detail": _jsonable(detail or {}),
    }


def record(session: Session, *rows: dict[str, Any]) -> None:
    """Append rows made by :func:`entry`, in the session's (the write's) transaction."""
    db.audit.append(session, list(rows))


def record_read(session: Session, *rows: dict[str, Any]) -> None:
    """Append rows for a sensitive read, committing them in a transaction of their own."""
    with session.begin():
        db.audit.append(session, list(rows), own_transaction=True)


def search(
    session: Session,
    principal: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    **filters: Any,
) -> tuple[int, list[dict[str, Any]]]:
    """Audit rows of the principal's counties matching ``filters``, newest first."""
    return db.audit.search(
        session, codes=principal.scope.codes, since=since, until=until, **filters
    )
