"""Who may see what: every incident, worker, track and household query goes through
:func:`scoped`; :func:`enter` is the second layer, PostgreSQL row-level security.

A scope is a set of division or grid codes; a row is inside when its deepest code starts with one
of them (``5134`` is all of 凉山, ``513401`` one county, a 15-digit code one grid). The accounts
module resolves an account's codes against the current generation (retired codes follow lineage
to their successors) before they become a Scope.

:func:`enter` switches the transaction to the ``gridmap_scoped`` database role with the scope in
the ``gridmap.scope`` setting; the policies of migration ``2026-12-03_accounts_audit_rls`` then
hide every incident, event, household, worker and position outside it, even from a query that
forgot :func:`scoped`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, exists, false, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from gridmap.db.models import Household, Incident, Position, Worker, WorkerGrid

SCOPED_ROLE = "gridmap_scoped"  # the database role requests run as (RLS applies to it)

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

    def contains(self, code: str | None) -> bool:
        """Whether a row whose deepest code is ``code`` is inside (a unit, grid or incident)."""
        if self.codes is None:
            return True
        return code is not None and any(code.startswith(c) for c in self.codes)

    def covers(self, code: str) -> bool:
        """Whether the whole of unit ``code`` is inside (a scope code is ``code`` or above it)."""
        return self.contains(code)

    def touches(self, code: str) -> bool:
        """Whether any part of unit ``code`` is inside (it is inside, or holds a scope code)."""
        if self.codes is None:
            return True
        return any(code.startswith(c) or c.startswith(code) for c in self.codes)

    @property
    def setting(self) -> str:
        """The ``gridmap.scope`` setting RLS policies read: ``*`` or comma-separated codes."""
        return "*" if self.codes is None else ",".join(self.codes)


EVERYTHING = Scope()


def _under(
    column: ColumnElement[str] | InstrumentedAttribute[str], codes: tuple[str, ...]
) -> ColumnElement[bool]:
    if not codes:
        return false()
    return or_(*(column.startswith(code, autoescape=True) for code in codes))


def scoped(query: S, entity: type, scope: Scope) -> S:
    """``query`` restricted to rows of ``entity`` (Incident, Worker, Position) inside ``scope``.

    Incidents and households match on their deepest code; workers on any of their grids;
    positions through their worker.
    """
    if scope.codes is None:
        return query
    codes = scope.codes
    if entity is Incident:
        deepest = func.coalesce(
            Incident.grid_code, Incident.village_code, Incident.township_code, Incident.county_code
        )
        return query.where(_under(deepest, codes))
    if entity is Worker:  # on its county's roster (county scopes), or in one of its grids
        return query.where(or_(_under(Worker.county_code, codes), _worker_in(Worker.id, codes)))
    if entity is Position:
        return query.where(_worker_in(Position.worker_id, codes))
    if entity is Household:
        return query.where(
            _under(func.coalesce(Household.grid_code, Household.village_code), codes)
        )
    raise TypeError(f"no scope rule for {entity.__name__}")


def _worker_in(
    worker_id: ColumnElement[int] | InstrumentedAttribute[int], codes: tuple[str, ...]
) -> ColumnElement[bool]:
    return exists(
        select(WorkerGrid.worker_id).where(
            WorkerGrid.worker_id == worker_id, _under(WorkerGrid.grid_code, codes)
        )
    )


def enter(session: Session, scope: Scope) -> None:
    """Run the rest of ``session``'s transaction as :data:`SCOPED_ROLE` inside ``scope``.

    Both settings are transaction-local: they end with the transaction, so a pooled connection
    never carries one request's scope into the next.
    """
    session.execute(
        text("SELECT set_config('role', :role, true), set_config('gridmap.scope', :scope, true)"),
        {"role": SCOPED_ROLE, "scope": scope.setting},
    )
