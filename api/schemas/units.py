"""Response bodies of the unit, QA and health routes (区划单元, 拓扑检查)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas import Public
from gridmap.vocabulary import Level, UnitKind


class UnitProperties(Public):
    """What a unit's Feature says of it."""

    code: str
    name: str
    level: Level
    kind: UnitKind
    parent_code: str | None
    county_code: str
    urban_rural: str | None = Field(description="城乡分类代码 (111…220), villages only")
    households: int
    persons: int
    synthetic: bool
    generation_low: int
    generation_high: int | None = Field(description="null while the unit is current")


class Geometry(Public):
    """RFC 7946 geometry, WGS84 lon/lat."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class UnitFeature(Public):
    """One unit as an RFC 7946 Feature."""

    type: Literal["Feature"]
    geometry: Geometry
    properties: UnitProperties


class Link(Public):
    """A paging link (OGC API style)."""

    rel: str
    href: str
    type: str


class UnitCollection(Public):
    """A page of units as an RFC 7946 FeatureCollection."""

    type: Literal["FeatureCollection"]
    numberMatched: int  # noqa: N815 (OGC API - Features member name)
    numberReturned: int  # noqa: N815
    links: list[Link]
    features: list[UnitFeature]


class FindingPublic(Public):
    """One QA finding: which check, which units, how big and where."""

    check: str
    check_zh: str
    level: Level
    codes: list[str]
    area_m2: float
    lon: float
    lat: float
    message: str


class QAReportPublic(Public):
    """Topology QA of one county: unit counts per level, findings per check, the findings."""

    county_code: str
    units: dict[Level, int]
    counts: dict[str, int]
    findings: list[FindingPublic]


class Health(Public):
    """The server answers."""

    status: Literal["ok"]
