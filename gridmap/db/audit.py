"""The audit log (审计日志): append rows, read them back filtered; nothing else is possible."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, func, insert, or_, select, text
from sqlalchemy.orm import Session

from gridmap.db.models import AuditEntry

COLUMNS = (
    AuditEntry.id,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.role,
    AuditEntry.action,
    AuditEntry.resource,
    AuditEntry.resource_id,
    AuditEntry.county_code,
    AuditEntry.before,
    AuditEntry.after,
    AuditEntry.detail,
)


def append(session: Session, rows: list[dict[str, Any]], *, own_transaction: bool = False) -> None:
    """Insert audit rows. ``own_transaction``: the session's transaction only records (a read's
    audit), so it may be made read-write even on a database whose default is read-only.
    """
    if not rows:
        return
    if own_transaction:
        session.execute(text("SET TRANSACTION READ WRITE"))
    session.execute(insert(AuditEntry), rows)


def search(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    resource_id: str | None = None,
    codes: tuple[str, ...] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Audit rows matching every filter, newest first; ``codes`` limits to those counties."""
    query = select(*COLUMNS)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if resource is not None:
        query = query.where(AuditEntry.resource == resource)
    if resource_id is not None:
        query = query.where(AuditEntry.resource_id == resource_id)
    if codes is not None:  # a county's rows (a prefecture or province scope: its counties')
        counties = {c[:6] for c in codes}
        query = query.where(
            or_(*(AuditEntry.county_code.startswith(c) for c in counties)) if counties else false()
        )
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    ).mappings()
    return int(total), [dict(r) for r in rows]
