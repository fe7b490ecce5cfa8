"""The incident category catalogue (事件分类): read and upsert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gridmap.db.models import Category

FIELDS = (
    "code",
    "parent_code",
    "name_zh",
    "name_en",
    "tier",
    "case_type",
    "limit_hours",
    "stage_hours",
    "active",
)


def read(session: Session, *, active_only: bool = False) -> list[Category]:
    """Every category, 大类 before their 小类 (by code)."""
    query = select(Category).order_by(Category.code)
    if active_only:
        query = query.where(Category.active)
    return list(session.execute(query).scalars())


def get(session: Session, code: str) -> Category | None:
    """One category by code."""
    return session.get(Category, code)


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace categories (parents first); return how many were written."""
    ordered = sorted(rows, key=lambda row: (row.get("parent_code") is not None, row["code"]))
    for row in ordered:
        values = {k: row[k] for k in FIELDS if k in row}
        statement = insert(Category).values(**values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[Category.code],
                set_={k: statement.excluded[k] for k in values if k != "code"},
            )
        )
    return len(ordered)
