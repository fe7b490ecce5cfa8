"""Accounts (账号) and refresh tokens; scope codes resolved through lineage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gridmap.db.models import Account, RefreshToken, WorkerGrid


def create(session: Session, row: dict[str, Any]) -> int:
    """Insert one account; its id."""
    account = Account(**row)
    session.add(account)
    session.flush()
    return int(account.id)


def by_username(session: Session, username: str, *, lock: bool = False) -> Account | None:
    """The account called ``username`` (row-locked for a login's counters when ``lock``)."""
    query = select(Account).where(Account.username == username)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def by_id(session: Session, account_id: int) -> Account | None:
    """The account with this id."""
    return session.get(Account, account_id)


def by_api_key_hash(session: Session, digest: str) -> Account | None:
    """The API client whose key hashes to ``digest``."""
    return session.scalars(select(Account).where(Account.api_key_hash == digest)).one_or_none()


def listing(session: Session) -> list[Account]:
    """Every account, by username."""
    return list(session.scalars(select(Account).order_by(Account.username)))


def versions(session: Session) -> dict[int, int]:
    """Account id → token version, for enabled accounts: what every valid token must match."""
    rows = session.execute(
        select(Account.id, Account.token_version).where(Account.disabled.is_(False))
    )
    return {int(i): int(v) for i, v in rows}


def worker_grids(session: Session, worker_id: int) -> list[str]:
    """The grids a worker looks after (primary and supporting)."""
    query = select(WorkerGrid.grid_code).where(WorkerGrid.worker_id == worker_id)
    return sorted(session.scalars(query))


def current_codes(session: Session, codes: Sequence[str]) -> dict[str, list[str]]:
    """Each unit code → the codes of its current units, following lineage from retired ones.

    A current code maps to itself; a code retired by a merge maps to the merged unit, one split
    maps to every part. Codes of no unit are missing from the answer.
    """
    rows = session.execute(
        text(
            """
            WITH RECURSIVE walk(id, code, generation_high, asked) AS (
                SELECT id, code, generation_high, code FROM unit WHERE code = ANY(:codes)
                UNION
                SELECT s.id, s.code, s.generation_high, w.asked
                FROM walk w
                JOIN lineage l ON l.predecessor_id = w.id
                JOIN unit s ON s.id = l.successor_id
                WHERE w.generation_high IS NOT NULL
            )
            SELECT DISTINCT asked, code FROM walk WHERE generation_high IS NULL
            ORDER BY asked, code
            """
        ),
        {"codes": list(codes)},
    )
    found: dict[str, list[str]] = {}
    for asked, code in rows:
        found.setdefault(asked, []).append(code)
    return found


def prefix_exists(session: Session, prefix: str) -> bool:
    """Whether any current unit's code starts with ``prefix`` (province or prefecture codes)."""
    query = text(
        "SELECT EXISTS (SELECT 1 FROM unit WHERE generation_high IS NULL AND starts_with(code, :p))"
    )
    return bool(session.execute(query, {"p": prefix}).scalar_one())


def bump(session: Session, account_id: int, now: datetime, **values: Any) -> None:
    """Change an account and invalidate its tokens: a new token version, refresh tokens revoked."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(token_version=Account.token_version + 1, **values)
    )
    revoke_all(session, account_id, now)


def set_values(session: Session, account_id: int, **values: Any) -> None:
    """Change an account's columns (login counters) without touching its tokens."""
    session.execute(update(Account).where(Account.id == account_id).values(**values))


def add_refresh(
    session: Session, account_id: int, digest: str, issued: datetime, expires: datetime
) -> None:
    """Store a refresh token's hash."""
    session.add(
        RefreshToken(account_id=account_id, token_hash=digest, issued_at=issued, expires_at=expires)
    )
    session.flush()


def refresh_by_hash(session: Session, digest: str) -> RefreshToken | None:
    """The refresh token with this hash, row-locked (one rotation at a time)."""
    query = select(RefreshToken).where(RefreshToken.token_hash == digest).with_for_update()
    return session.scalars(query).one_or_none()


def revoke(session: Session, token_id: int, now: datetime) -> None:
    """Revoke one refresh token."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all(session: Session, account_id: int, now: datetime) -> None:
    """Revoke every refresh token of an account."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def first_primary(session: Session, county: str) -> tuple[int, str] | None:
    """A worker of ``county`` with a primary grid (the lowest grid code) and that grid."""
    query = (
        select(WorkerGrid.worker_id, WorkerGrid.grid_code)
        .where(WorkerGrid.county_code == county, WorkerGrid.duty == "primary")
        .order_by(WorkerGrid.grid_code, WorkerGrid.worker_id)
        .limit(1)
    )
    row = session.execute(query).one_or_none()
    return None if row is None else (int(row[0]), str(row[1]))
