"""A benchmark's own account: made through the library, logged in over HTTP like any client,
disabled when the run ends (so no credential outlives the benchmark).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth import accounts
from gridmap.vocabulary import Role

# Load runs send thousands of requests a second: far above a person's default rate. The limit
# is still counted on every request, so its cost is in the figures.
BENCH_RATE = 1_000_000_000


def bench_account(
    database_url: str, scope: str = "5134", rate: int = BENCH_RATE
) -> tuple[str, str]:
    """A new county admin ``bench-…`` over ``scope`` (``rate`` requests a minute) and its
    generated password.
    """
    username = f"bench-{uuid.uuid4().hex[:8]}"
    engine = db.session.make_engine(database_url)
    with Session(engine) as session, session.begin():
        _, password = accounts.create(
            session,
            username=username,
            role=Role.COUNTY_ADMIN,
            scope_codes=[scope],
            rate_per_minute=rate,
            synthetic=True,
        )
    engine.dispose()
    return username, password


def login(base: str, username: str, password: str) -> str:
    """An access token from POST /api/v1/auth/token."""
    answer = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def retire(database_url: str, username: str) -> None:
    """Disable the benchmark's account."""
    engine = db.session.make_engine(database_url)
    with Session(engine) as session, session.begin():
        accounts.disable(session, username, now=datetime.now(UTC))
    engine.dispose()
