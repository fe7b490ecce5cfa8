"""Response bodies of the incident routes (事件): what a client can rely on, field by field."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from gridmap.vocabulary import Action, CaseType, InputCRS, Stage, Tier


class Public(BaseModel):
    """A documented body: every field it carries is named here (tests validate with it)."""

    model_config = ConfigDict(extra="forbid")


class IncidentPublic(Public):
    """An incident with Chinese labels, its deadlines and what may be done next."""

    id: int
    county_code: str
    township_code: str | None
    village_code: str | None
    grid_code: str | None
    near_boundary: bool = Field(description="within the near-boundary distance of another unit")
    lon: float = Field(description="WGS84 longitude / 经度")
    lat: float = Field(description="WGS84 latitude / 纬度")
    input_crs: InputCRS
    category_code: str
    case_type: CaseType
    description: str
    reporter: str
    source: str = Field(description="api | batch | open311 | demo")
    device_time: datetime | None
    gps_accuracy_m: float | None
    photo_urls: list[str]
    stage: Stage
    tier: Tier
    worker_id: int | None
    department: str | None
    handler: str | None
    dispatcher: str | None
    reported_at: datetime
    stage_at: datetime
    stage_due: datetime | None
    due_at: datetime
    closed_at: datetime | None
    rating: int | None
    version: int = Field(description="optimistic-lock version; send it back with an action")
    idempotency_key: str | None
    stage_zh: str
    tier_zh: str
    case_type_zh: str
    open: bool
    overdue: bool
    allowed_actions: list[Action]


class IncidentEventPublic(Public):
    """One row of the audit trail."""

    at: datetime
    actor: str
    action: Action
    from_stage: Stage | None
    to_stage: Stage
    from_tier: Tier | None
    to_tier: Tier
    note: str
    action_zh: str


class IncidentDetail(IncidentPublic):
    """An incident with its full audit trail."""

    events: list[IncidentEventPublic]


class IncidentPage(Public):
    """One page of incidents, newest first."""

    total: int
    limit: int
    offset: int
    items: list[IncidentPublic]


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


class CategoryPublic(Public):
    """A category (大类 or 小类) with its rules and Chinese labels."""

    code: str
    parent_code: str | None
    name_zh: str
    name_en: str
    tier: Tier
    tier_zh: str
    case_type: CaseType
    case_type_zh: str
    limit_hours: float
    stage_hours: dict[Stage, float] = Field(description="hours allowed in each open stage")
    active: bool
