"""Response bodies of the relocation routes (安置点, 搬迁安置方案)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas import Public


class SiteFeature(Public):
    """One site: geometry (Point or Polygon, WGS84) and its attributes."""

    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: dict[str, Any] = Field(
        description="code, name, kind, kind_label, capacities, occupancy, free_*, facilities, "
        "county_code, village_code, community_code, synthetic, source"
    )


class SiteCollection(Public):
    """A page of sites."""

    type: Literal["FeatureCollection"]
    numberMatched: int  # noqa: N815 (OGC API - Features member name)
    numberReturned: int  # noqa: N815
    features: list[SiteFeature]


class SitesCreated(Public):
    """What an add wrote."""

    created: int
    sites: list[dict[str, Any]]


class Suggestion(Public):
    """Suggested new sites (site Features one can POST to /sites) and what they change."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    county_code: str
    radius_m: float
    households: int
    covered_before: int
    covered_before_share: float
    covered_after: int
    covered_after_share: float
    unreachable: int
    model: str
    status: str
    solve_s: float


class Community(Public):
    """A site made a community: its code, the generations written, what was redrawn."""

    site: str
    community_code: str
    generation: int
    grids_generation: int
    villages_redrawn: list[str]
    households: int
    grids: int


class PlanView(Public):
    """A relocation plan: its summary, what was asked, every site with this plan's load."""

    id: int
    county_code: str
    created_at: datetime | None
    created_by: str
    summary: dict[str, Any]
    request: dict[str, Any]
    sites: list[dict[str, Any]]


class PlanPage(Public):
    """Plans, newest first (summaries only)."""

    limit: int
    offset: int
    items: list[dict[str, Any]]


class PlanHouseholds(Public):
    """Sites and households of a plan (households as points, when the role sees them)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    plan: dict[str, Any]


class Moved(Public):
    """How many households a carry-out moved."""

    plan: int
    moved: int


class Registered(Public):
    """How many households were registered at their destination."""

    registered: int
