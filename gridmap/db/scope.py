"""Who may see what: every incident, worker and track query goes through :func:`scoped`.

Access control (accounts, roles, object-level rules) arrives later; it will only have to build the
right :class:`Scope` for the caller. Today the API passes :data:`EVERYTHING`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, exists, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from gridmap.db.models import Incident, Position, Worker, WorkerGrid

S = TypeVar("S", bound=Select)  # type: ignore[type-arg]


@dataclass(frozen=True, slots=True)
class Scope:
    """Division codes (county, township, village or grid) whose data the caller may see.

    ``codes=None`` means everything; an empty tuple means nothing.
    """

    codes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.codes is not None and any(not c.isdigit() for c in self.codes):
            raise ValueError("scope codes are division or grid codes (digits only)")


EVERYTHING = Scope()


def _under(
    column: ColumnElement[str] | InstrumentedAttribute[str], codes: tuple[str, ...]
) -> ColumnElement[bool]:
    if not codes:
        return false()
    return or_(*(column.startswith(code, autoescape=True) for code in codes))


def scoped(query: S, entity: type, scope: Scope) -> S:
    """``query`` restricted to rows of ``entity`` (Incident, Worker, Position) inside ``scope``.

    Incidents match on their deepest code; workers on any of their grids; positions through
    their worker. A scope that is a county code also restricts by ``county_code``, the shard key.
    """
    if scope.codes is None:
        return query
    codes = scope.codes
    if entity is Incident:
        deepest = func.coalesce(
            Incident.grid_code, Incident.village_code, Incident.township_code, Incident.county_code
        )
        return query.where(_under(deepest, codes))
    if entity is Worker:
        return query.where(_worker_in(Worker.id, codes))
    if entity is Position:
        return query.where(_worker_in(Position.worker_id, codes))
    raise TypeError(f"no scope rule for {entity.__name__}")


def _worker_in(
    worker_id: ColumnElement[int] | InstrumentedAttribute[int], codes: tuple[str, ...]
) -> ColumnElement[bool]:
    return exists(
        select(WorkerGrid.worker_id).where(
            WorkerGrid.worker_id == worker_id, _under(WorkerGrid.grid_code, codes)
        )
    )
