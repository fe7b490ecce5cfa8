"""Response bodies of the grid-worker routes (网格员)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.incidents import Public
from gridmap.vocabulary import Duty, WorkerRole


class WorkerGridPublic(Public):
    """One of a worker's grids and their duty there."""

    code: str
    duty: Duty
    duty_zh: str


class WorkerPublic(Public):
    """A worker with their grids and last known position."""

    id: int
    county_code: str
    name: str
    phone: str
    role: WorkerRole
    on_duty: bool
    synthetic: bool
    last_seen: datetime | None
    lon: float | None
    lat: float | None
    role_zh: str
    grids: list[WorkerGridPublic]


class WorkerPage(Public):
    """One page of workers, by id."""

    total: int
    limit: int
    offset: int
    items: list[WorkerPublic]


class UnstaffedGrid(Public):
    """A grid with no fulltime worker attached."""

    code: str
    name: str
    parent_code: str | None
    households: int


class Staffing(Public):
    """Grids of a county without a fulltime worker (网格配备检查)."""

    county: str
    unstaffed: int
    grids: list[UnstaffedGrid]


class GridCoverage(Public):
    """A grid's patrol coverage: cells passed through of all its cells."""

    grid: str
    cells: int
    visited: int
    coverage: float


class Coverage(Public):
    """Patrol coverage (走遍率) over a period, per grid and overall."""

    county: str
    since: datetime
    until: datetime
    resolution: int = Field(description="H3 resolution of the cells counted (11 ≈ 25 m)")
    coverage: float
    grids: list[GridCoverage]


class TrackResult(Public):
    """How many fixes arrived and how many were new (a resent batch adds none)."""

    received: int
    added: int
