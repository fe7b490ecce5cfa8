"""Rate limits shared by API processes through PostgreSQL (gridmap.auth.rates)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gridmap import db
from gridmap.auth.rates import Rates
from gridmap.errors import RateLimitedError

MINUTE_START = 60.0 * 29_000_000  # a wall-clock minute's first second (any will do)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.session.make_engine(database_url)
    yield db.session.sessionmaker_for(engine)
    engine.dispose()


def key() -> str:
    """A key no other test counts (they share the session's database)."""
    return f"test:{uuid.uuid4().hex}"


def hits(rates: Rates, k: str, limit: int, n: int, now_s: float) -> int:
    """How many of ``n`` hits pass."""
    passed = 0
    for _ in range(n):
        try:
            rates.hit(k, limit, now_s)
            passed += 1
        except RateLimitedError:
            pass
    return passed


def test_one_process_refuses_past_the_limit_and_says_when_to_retry() -> None:
    rates, k = Rates(), key()
    assert hits(rates, k, 5, 5, MINUTE_START + 10) == 5
    with pytest.raises(RateLimitedError) as refused:
        rates.hit(k, 5, MINUTE_START + 10)
    wait = refused.value.context["retry_after_s"]
    assert 50 <= wait <= 62
    assert hits(rates, k, 5, 1, MINUTE_START + 10 + wait) == 1
    assert hits(rates, key(), 5, 1, MINUTE_START + 10) == 1  # other keys are not affected


def test_two_processes_share_one_limit_once_they_sync(sessions: sessionmaker[Session]) -> None:
    first, second, k = Rates(), Rates(), key()
    now = MINUTE_START + 5
    assert hits(first, k, 10, 6, now) == 6
    assert hits(second, k, 10, 3, now) == 3
    first.sync(sessions, now)
    second.sync(sessions, now)
    # 9 of 10 used between them: one more passes in either process, then both refuse.
    assert hits(second, k, 10, 1, now) == 1
    second.sync(sessions, now)
    first.sync(sessions, now)
    assert hits(first, k, 10, 3, now) == 0
    assert hits(second, k, 10, 3, now) == 0
    # Without the shared store each process would have let 10 through on its own.
    assert hits(Rates(), k, 10, 10, now) == 10


def test_the_previous_minute_counts_for_the_part_still_inside_the_window(
    sessions: sessionmaker[Session],
) -> None:
    rates, k = Rates(), key()
    assert hits(rates, k, 10, 10, MINUTE_START + 50) == 10
    rates.sync(sessions, MINUTE_START + 50)
    # 30 s into the next minute, the 10 hits of the last one weigh 5: 5 more pass, not 10.
    later = MINUTE_START + 90
    rates.sync(sessions, later)
    assert hits(rates, k, 10, 10, later) == 5


def test_a_failed_sync_keeps_the_hits_for_the_next(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    rates, k = Rates(), key()
    assert hits(rates, k, 4, 3, MINUTE_START) == 3
    base, _, _ = database_url.rpartition("/")
    down = db.session.make_engine(f"{base}/no_such_db")
    with pytest.raises(Exception, match="no_such_db"):
        rates.sync(db.session.sessionmaker_for(down), MINUTE_START)
    down.dispose()
    rates.sync(sessions, MINUTE_START)
    other = Rates()
    other.sync(sessions, MINUTE_START)
    assert hits(other, k, 4, 4, MINUTE_START) == 1  # it learnt the three from the store


def test_old_minutes_are_deleted(sessions: sessionmaker[Session]) -> None:
    rates, k = Rates(), key()
    rates.hit(k, 10, MINUTE_START)
    rates.sync(sessions, MINUTE_START)
    rates.sync(sessions, MINUTE_START + 180)
    with sessions() as session:
        left = db.rates.flush(session, {}, int(MINUTE_START // 60) + 3)
    assert not [slot for slot in left if slot[0] == k]
