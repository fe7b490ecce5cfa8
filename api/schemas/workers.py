"""Response bodies of the grid-worker routes (网格员)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas import Public
from gridmap.workers import GridCoverage, UnstaffedGrid, WorkerView

__all__ = ["Coverage", "Staffing", "TrackResult", "WorkerPage", "WorkerView"]


class WorkerPage(Public):
    """One page of workers, by id."""

    total: int
    limit: int
    offset: int
    items: list[WorkerView]


class Staffing(Public):
    """Grids of a county without a fulltime worker (网格配备检查)."""

    county: str
    unstaffed: int
    grids: list[UnstaffedGrid]


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
