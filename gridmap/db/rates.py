"""Rate-limit counts in PostgreSQL, so every API process (uvicorn worker) sees the others' hits.

One statement adds a process's hits since its last flush and reads back every key's totals for
the current and the previous minute; older minutes are deleted on the way.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

ADD_SQL = text(
    """
    INSERT INTO rate_hit (key, minute, hits)
    SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:minutes AS bigint[]), CAST(:hits AS bigint[]))
    ON CONFLICT (key, minute) DO UPDATE SET hits = rate_hit.hits + excluded.hits
    """
)


def flush(
    session: Session, pending: dict[tuple[str, int], int], minute: int
) -> dict[tuple[str, int], int]:
    """Add ``pending`` hits (key, minute → count) and return every key's totals for ``minute``
    and ``minute - 1``, summed over all processes (one transaction, the caller's).
    """
    # Counting is not a data write: it runs even where transactions default to read-only.
    session.execute(text("SET TRANSACTION READ WRITE"))
    if pending:
        # Sorted, so two processes flushing the same keys lock their rows in the same order.
        items = sorted(pending.items())
        session.execute(
            ADD_SQL,
            {
                "keys": [key for (key, _), _ in items],
                "minutes": [m for (_, m), _ in items],
                "hits": [n for _, n in items],
            },
        )
    session.execute(text("DELETE FROM rate_hit WHERE minute < :oldest"), {"oldest": minute - 1})
    rows = session.execute(
        text("SELECT key, minute, hits FROM rate_hit WHERE minute >= :oldest"),
        {"oldest": minute - 1},
    )
    return {(key, m): int(hits) for key, m, hits in rows}
