"""Requests per minute per key (an account, an API client, a login address), counted across
every API process through PostgreSQL (:mod:`gridmap.db.rates`).

A check never waits for the database: each process counts its own hits in memory and, once a
second (:meth:`Rates.sync`, the API lifespan's tick), adds them to the shared table and reads back
every process's totals. A key is refused when the shared totals plus this process's hits since
the last sync reach its limit, so a key can overshoot by at most what the other processes accept
for it in one sync interval (``make reliability`` (g): 325 of 600 requests pass a limit of 300
sent over 10 s to two workers, where counting per process would let up to 600 through).

Minutes are wall-clock (shared by every process). The count over the last 60 seconds is
estimated from two fixed minutes (the previous one weighted by how much of it is still inside
the window), which needs two numbers per key instead of one timestamp per request.
"""

from __future__ import annotations

import math
import threading

from sqlalchemy.orm import Session, sessionmaker

from gridmap import db
from gridmap.errors import RateLimitedError

SYNC_S = 1.0


class Rates:
    """One process's view of the shared counts, plus its hits not yet written."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], int] = {}
        self._shared: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()  # hits come from the event loop, syncs from a thread

    def hit(self, key: str, limit: int, now_s: float) -> None:
        """Count one request for ``key`` at wall-clock ``now_s``; RateLimitedError (with
        ``retry_after_s``) once the last minute's requests reach ``limit``.
        """
        minute, into = divmod(now_s, 60.0)
        current = int(minute)
        with self._lock:
            recent = self._count(key, current)
            earlier = self._count(key, current - 1)
            estimate = earlier * (1 - into / 60.0) + recent
            if estimate >= limit:
                raise RateLimitedError(
                    f"more than {limit} requests a minute; slow down",
                    retry_after_s=_retry_after(earlier, recent, limit, into),
                    limit_per_minute=limit,
                )
            slot = (key, current)
            self._pending[slot] = self._pending.get(slot, 0) + 1

    def _count(self, key: str, minute: int) -> int:
        slot = (key, minute)
        return self._shared.get(slot, 0) + self._pending.get(slot, 0)

    def sync(self, sessions: sessionmaker[Session], now_s: float) -> None:
        """Write this process's hits and read every process's totals (one transaction). On
        failure the hits stay pending for the next round, so none is forgiven.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            with sessions() as session, session.begin():
                shared = db.rates.flush(session, pending, int(now_s // 60))
        except BaseException:
            with self._lock:
                for slot, n in pending.items():
                    self._pending[slot] = self._pending.get(slot, 0) + n
            raise
        with self._lock:
            self._shared = shared


def _retry_after(earlier: float, recent: int, limit: int, into: float) -> float:
    """Seconds until the estimate falls below ``limit`` if no more requests come."""
    if recent >= limit:  # this minute alone is full: wait for it to end, then slide
        return 60.0 - into + 60.0 * max(0.0, 1 - (limit - 1) / max(recent, 1))
    # The previous minute's share shrinks by earlier/60 per second.
    needed = (earlier * (1 - into / 60.0) + recent - limit + 1) / max(earlier / 60.0, 1e-9)
    return max(1.0, min(math.ceil(needed), 60.0 - into))
