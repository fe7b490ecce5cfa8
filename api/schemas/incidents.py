"""Response bodies of the incident routes (事件): what a client can rely on, field by field."""

from __future__ import annotations

from pydantic import Field

from api.schemas import Public
from gridmap.categories import CategoryView
from gridmap.incidents import IncidentDetail, IncidentView
from gridmap.vocabulary import Stage

__all__ = [
    "BatchResult",
    "CategoryView",
    "Hotspots",
    "IncidentDetail",
    "IncidentPage",
    "IncidentView",
]


class IncidentPage(Public):
    """One page of incidents, newest first."""

    total: int
    limit: int
    offset: int
    items: list[IncidentView]


class BatchItemResult(Public):
    """What became of one queued report."""

    key: str
    id: int
    created: bool = Field(description="false: this key was stored before (a resend)")
    grid_code: str | None
    stage: Stage


class BatchResult(Public):
    """What became of a phone's queue."""

    count: int
    created: int
    existing: int
    items: list[BatchItemResult]


class HotspotCell(Public):
    """An H3 cell's count this month and last."""

    h3_cell: str
    count: int
    previous: int
    growth: float | None
    lon: float
    lat: float


class HotspotGrid(Public):
    """A grid's count this month and last."""

    grid: str | None
    count: int
    previous: int
    growth: float | None


class HotspotCategory(Public):
    """A category's count this month and last."""

    category: str
    count: int
    previous: int
    growth: float | None


class RecurringPlace(Public):
    """A place where the same kind of incident keeps coming back."""

    h3_cell: str
    category: str
    months: list[str] = Field(description="the months (YYYY-MM) it was seen in")
    count: int


class Hotspots(Public):
    """每月一题: where and what the month's incidents were, against the month before."""

    county: str
    month: str
    previous_month: str
    resolution: int
    total: int
    previous_total: int
    cells: list[HotspotCell]
    grids: list[HotspotGrid]
    categories: list[HotspotCategory]
    recurring: list[RecurringPlace]
