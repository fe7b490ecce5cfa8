"""Generations (版本): every boundary row lives from generation_low to generation_high.

An import or plan writes a *new* generation; nothing is updated in place, so any past map can be
rebuilt. generation_high is NULL while a row is still current, so a new generation touches only
the rows it changes (MapIt raises generation_high on every surviving row instead).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.orm import Session

from gridmap.db.models import Generation, Unit
from gridmap.errors import UnknownGenerationError


def alive_in(generation: int | None) -> ColumnElement[bool]:
    """SQL filter for unit rows that exist in ``generation`` (None: the current one)."""
    if generation is None:
        return Unit.generation_high.is_(None)
    return and_(
        Unit.generation_low <= generation,
        or_(Unit.generation_high.is_(None), Unit.generation_high >= generation),
    )


def current(session: Session) -> int:
    """The newest generation number, 0 when nothing was ever imported."""
    return int(session.scalar(select(func.coalesce(func.max(Generation.id), 0))) or 0)


def check_exists(session: Session, generation: int | None) -> None:
    """Raise UnknownGenerationError for a generation number that was never written."""
    if generation is None:
        return
    newest = current(session)
    if not 1 <= generation <= newest:
        raise UnknownGenerationError(
            f"generation {generation} does not exist: generations run from 1 to {newest}",
            generation=generation,
        )


def open_generation(
    session: Session, *, kind: str, description: str, county_code: str | None = None
) -> Generation:
    """Insert a new generation row (flushed, not committed) and return it.

    Its number is the newest plus one, taken under a lock rather than from the sequence: a
    retired row's generation_high is the new number minus one, so numbers must have no gaps,
    and a sequence leaves one behind every rolled-back or killed write. The lock also queues
    a second writer until the first commits; readers are not blocked.
    """
    session.execute(text("LOCK TABLE generation IN SHARE ROW EXCLUSIVE MODE"))
    number = current(session) + 1
    # Keep the sequence in step, so a plain INSERT (a migration, a script) takes the next one.
    session.execute(
        text("SELECT setval(pg_get_serial_sequence('generation', 'id'), :n)"), {"n": number}
    )
    generation = Generation(id=number, kind=kind, description=description, county_code=county_code)
    session.add(generation)
    session.flush()
    return generation


def listing(session: Session) -> list[Generation]:
    """All generations, oldest first."""
    return list(session.scalars(select(Generation).order_by(Generation.id)))
