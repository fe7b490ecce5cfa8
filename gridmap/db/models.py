"""Tables: generations of boundary units (county > township > village > grid) and lineage.

One ``unit`` table holds every level: lookups, QA and plans work across levels, and a single
table keeps generations uniform. A row lives from ``generation_low`` to ``generation_high``
(inclusive); ``generation_high`` is NULL while the row is current, so a new generation touches
only the rows it changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geoalchemy2 import Geometry, WKBElement

from gridmap.vocabulary import (
    FINISHED_STAGES,
    CaseType,
    Duty,
    GenerationKind,
    Level,
    Role,
    SiteKind,
    Stage,
    Tier,
    WorkerRole,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Generation(Base):
    """One atomic change to the boundaries: an import, a plan, a rollback."""

    __tablename__ = "generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(16))  # a GenerationKind
    description: Mapped[str] = mapped_column(Text, default="")
    county_code: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (CheckConstraint(GenerationKind.sql_in("kind"), name="kind"),)


class Unit(Base):
    """A county, township, village/community or grid in one span of generations."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(15))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    county_code: Mapped[str] = mapped_column(String(6))
    urban_rural: Mapped[str | None] = mapped_column(String(3))
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    persons: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    source: Mapped[str] = mapped_column(Text, default="", server_default="")
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
    generation_low: Mapped[int] = mapped_column(ForeignKey("generation.id"))
    generation_high: Mapped[int | None] = mapped_column(ForeignKey("generation.id"))

    __table_args__ = (
        CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        CheckConstraint(Level.sql_in("level"), name="level"),
        CheckConstraint(
            "length(code) = CASE level "
            + " ".join(f"WHEN '{level}' THEN {level.code_length}" for level in tuple(Level)[:-1])
            + f" ELSE {Level.GRID.code_length} END",
            name="code_length",
        ),
        CheckConstraint(
            "generation_high IS NULL OR generation_high >= generation_low", name="generation_span"
        ),
        # At most one current row per code.
        Index(
            "uq_unit_current_code",
            "code",
            unique=True,
            postgresql_where=text("generation_high IS NULL"),
        ),
        Index("ix_unit_county_level", "county_code", "level"),
        Index("ix_unit_parent_code", "parent_code"),
        Index("ix_unit_code_generation", "code", "generation_low"),
    )


class Lineage(Base):
    """Where a unit came from: predecessor row → successor row, by which operation."""

    __tablename__ = "lineage"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    predecessor_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    op: Mapped[str] = mapped_column(String(16))  # redraw | merge | split | transfer | convert…
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    plan_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_lineage_predecessor", "predecessor_id"),
        Index("ix_lineage_successor", "successor_id"),
    )


class Household(Base):
    """A household (户): a point with its persons, in a village and, once drawn, a grid."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    village_code: Mapped[str] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    persons: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    urban: Mapped[bool] = mapped_column(default=False, server_default="false")
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    flags: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # Relocation (搬迁): where it came from (迁出地) and where it went (迁入地). Until the move is
    # registered, village_code/grid_code stay the origin's, so the origin serves it; registering
    # sets them to the destination's (Liangshan's rule; gridmap.relocation.plans.register).
    origin_village_code: Mapped[str | None] = mapped_column(String(12))
    destination_site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    registered: Mapped[bool] = mapped_column(default=False, server_default="false")
    moved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )

    __table_args__ = (
        CheckConstraint("persons >= 0", name="persons_non_negative"),
        Index("ix_household_county_village", "county_code", "village_code"),
        Index("ix_household_grid", "grid_code"),
    )


class CellIndex(Base):
    """The persisted H3 lookup index: per cell, its unit (exact) or its candidate units."""

    __tablename__ = "cell_index"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    resolution: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    h3_cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True
    )
    exact: Mapped[bool] = mapped_column()
    generation: Mapped[int] = mapped_column(ForeignKey("generation.id"))

    __table_args__ = (Index("ix_cell_index_cell", "resolution", "h3_cell"),)


class Category(Base):
    """An incident category (大类 when ``parent_code`` is NULL, else 小类) with its rules."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    tier: Mapped[str] = mapped_column(String(8))
    case_type: Mapped[str] = mapped_column(String(12))
    limit_hours: Mapped[float] = mapped_column()
    # Hours allowed in each open stage; NULL entries fall back to shares of limit_hours.
    stage_hours: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    active: Mapped[bool] = mapped_column(default=True, server_default="true")

    __table_args__ = (
        CheckConstraint(Tier.sql_in("tier"), name="tier"),
        CheckConstraint(CaseType.sql_in("case_type"), name="case_type"),
        CheckConstraint("limit_hours > 0", name="limit_positive"),
    )


class Worker(Base):
    """A grid worker (网格员) or cadre (包联干部) of a county."""

    __tablename__ = "worker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text, default="", server_default="")
    role: Mapped[str] = mapped_column(String(10))
    on_duty: Mapped[bool] = mapped_column(default=True, server_default="true")
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(WorkerRole.sql_in("role"), name="role"),
        Index("ix_worker_county", "county_code"),
    )


class WorkerGrid(Base):
    """A worker's grid: ``primary`` (one per grid, gets its cases) or ``supporting``."""

    __tablename__ = "worker_grid"

    worker_id: Mapped[int] = mapped_column(
        ForeignKey("worker.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    duty: Mapped[str] = mapped_column(String(10))

    __table_args__ = (
        CheckConstraint(Duty.sql_in("duty"), name="duty"),
        Index(
            "uq_worker_grid_primary",
            "grid_code",
            unique=True,
            postgresql_where=text(f"duty = '{Duty.PRIMARY}'"),
        ),
        Index("ix_worker_grid_grid", "grid_code"),
    )


class Position(Base):
    """One GPS fix of a worker's patrol track (巡查轨迹), in WGS84, with its H3 cell."""

    __tablename__ = "worker_position"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id", ondelete="CASCADE"))
    county_code: Mapped[str] = mapped_column(String(6))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accuracy_m: Mapped[float | None] = mapped_column()
    h3_cell: Mapped[int] = mapped_column(BigInteger)  # resolution 11, for patrol coverage
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )

    __table_args__ = (
        Index("uq_worker_position_time", "worker_id", "recorded_at", unique=True),
        Index("ix_worker_position_county_time", "county_code", "recorded_at"),
    )


# Open cases are those not in a finished stage: the partial indexes below serve the open queues.
_OPEN_CASES = "stage NOT IN ({})".format(", ".join(f"'{stage}'" for stage in FINISHED_STAGES))


class Incident(Base):
    """An incident (事件/案件): where, what, which stage and tier, who has it, when it is due."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    township_code: Mapped[str | None] = mapped_column(String(9))
    village_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    near_boundary: Mapped[bool] = mapped_column(default=False)
    h3_cell: Mapped[int] = mapped_column(BigInteger)  # resolution 11, for hotspots
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )
    input_crs: Mapped[str] = mapped_column(String(8))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    case_type: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10), default="api")
    device_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    gps_accuracy_m: Mapped[float | None] = mapped_column()
    photo_urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    stage: Mapped[str] = mapped_column(String(10))
    tier: Mapped[str] = mapped_column(String(8))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"))
    department: Mapped[str | None] = mapped_column(Text)
    handler: Mapped[str | None] = mapped_column(Text)
    dispatcher: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(Stage.sql_in("stage"), name="stage"),
        CheckConstraint(Tier.sql_in("tier"), name="tier"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        Index("uq_incident_idempotency_key", "idempotency_key", unique=True),
        Index("ix_incident_county_stage", "county_code", "stage"),
        Index("ix_incident_grid", "grid_code"),
        Index(
            "ix_incident_open_due",
            "stage_due",
            postgresql_where=text(_OPEN_CASES),
        ),
        Index(
            "ix_incident_open_worker",
            "worker_id",
            postgresql_where=text(_OPEN_CASES),
        ),
        Index("ix_incident_county_reported", "county_code", "reported_at"),
    )


class IncidentEvent(Base):
    """The audit trail: one row per transition (who, when, from, to, note)."""

    __tablename__ = "incident_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    county_code: Mapped[str] = mapped_column(String(6))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(12))
    from_stage: Mapped[str | None] = mapped_column(String(10))
    to_stage: Mapped[str] = mapped_column(String(10))
    from_tier: Mapped[str | None] = mapped_column(String(8))
    to_tier: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_incident_event_incident", "incident_id", "id"),)


class Account(Base):
    """A person or an API client that logs in (账号): role, scope codes, password or key hash.

    ``scope_codes`` are division or grid codes as written when the account was made; tokens
    carry them resolved against the current generation (``gridmap.accounts``). Bumping
    ``token_version`` (disable, reset, a changed role or scope) invalidates every access token
    issued before; refresh tokens are revoked in the same transaction.
    """

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text, default="", server_default="")
    role: Mapped[str] = mapped_column(String(16))
    scope_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(default=False, server_default="false")
    token_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(Role.sql_in("role"), name="role"),
        CheckConstraint("rate_per_minute IS NULL OR rate_per_minute > 0", name="rate"),
    )


class RefreshToken(Base):
    """A refresh token, kept server-side as its SHA-256 so it can be revoked (and never read)."""

    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_refresh_token_account", "account_id"),)


class AuditEntry(Base):
    """The audit log (审计日志): every write and every sensitive read, append-only.

    A trigger refuses UPDATE and DELETE for every role, and the API's database role is granted
    only INSERT and SELECT on it.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(Text)
    county_code: Mapped[str | None] = mapped_column(String(6))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor", "at"),
        Index("ix_audit_log_resource", "resource", "resource_id"),
    )


class RateHit(Base):
    """Requests counted per rate-limit key and wall-clock minute, summed over every API process
    (gridmap.auth.rates). UNLOGGED: counts of the last two minutes are not worth a WAL write,
    and a crash that empties the table only forgives a minute of requests.
    """

    __tablename__ = "rate_hit"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = ({"prefixes": ["UNLOGGED"]},)


class Site(Base):
    """A relocation site (安置点): a resettlement community (集中安置点) or an emergency shelter
    (应急避难场所), a point or a polygon, with its capacity and current occupancy.

    ``community_code`` is set once a large resettlement site has become a community
    (集中安置点社区, a village-level unit of its own).
    """

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    county_code: Mapped[str] = mapped_column(String(6))
    village_code: Mapped[str | None] = mapped_column(String(12))  # the village it stands in
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))  # a SiteKind
    capacity_households: Mapped[int] = mapped_column(Integer)
    capacity_persons: Mapped[int] = mapped_column(Integer)
    occupied_households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    occupied_persons: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    facilities: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    community_code: Mapped[str | None] = mapped_column(String(12))
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    source: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=True), nullable=False
    )

    __table_args__ = (
        CheckConstraint(SiteKind.sql_in("kind"), name="kind"),
        CheckConstraint("capacity_households > 0", name="capacity_households_positive"),
        CheckConstraint("capacity_persons > 0", name="capacity_persons_positive"),
        CheckConstraint(
            "occupied_households BETWEEN 0 AND capacity_households", name="occupied_households"
        ),
        CheckConstraint("occupied_persons BETWEEN 0 AND capacity_persons", name="occupied_persons"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        Index("uq_site_county_code", "county_code", "code", unique=True),
    )


class RelocationPlan(Base):
    """A relocation plan (搬迁安置方案): what was asked, what the solver answered, who asked."""

    __tablename__ = "relocation_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(ForeignKey("generation.id"))
    site_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))  # the candidate sites
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_relocation_plan_county", "county_code", "created_at"),)


class RelocationAssignment(Base):
    """One household of a plan: its site and distances, or the reason it has none."""

    __tablename__ = "relocation_assignment"

    plan_id: Mapped[int] = mapped_column(
        ForeignKey("relocation_plan.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    county_code: Mapped[str] = mapped_column(String(6))
    village_code: Mapped[str] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    distance_m: Mapped[float | None] = mapped_column()
    route_m: Mapped[float | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(20))  # an Unassigned
    group_kept: Mapped[bool | None] = mapped_column()

    __table_args__ = (Index("ix_relocation_assignment_site", "plan_id", "site_id"),)


class RoadEdge(Base):
    """One edge of a county's road network, for pgRouting (``source``/``target`` are vertex
    ids; ``cost_m`` and ``reverse_cost_m`` lengths in metres, negative where one-way).
    """

    __tablename__ = "road_edge"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    source: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[int] = mapped_column(BigInteger)
    cost_m: Mapped[float] = mapped_column()
    reverse_cost_m: Mapped[float] = mapped_column()
    name: Mapped[str] = mapped_column(Text, default="", server_default="")
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("LINESTRING", srid=4326, spatial_index=True), nullable=False
    )

    __table_args__ = (
        Index("ix_road_edge_county_source", "county_code", "source"),
        Index("ix_road_edge_county_target", "county_code", "target"),
    )
