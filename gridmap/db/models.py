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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geoalchemy2 import Geometry, WKBElement

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
    kind: Mapped[str] = mapped_column(String(16))  # import | grids | plan | rollback
    description: Mapped[str] = mapped_column(Text, default="")
    county_code: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        CheckConstraint("kind IN ('import', 'grids', 'plan', 'rollback')", name="kind"),
    )


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
        CheckConstraint("level IN ('county', 'township', 'village', 'grid')", name="level"),
        CheckConstraint(
            "length(code) = CASE level WHEN 'county' THEN 6 WHEN 'township' THEN 9 "
            "WHEN 'village' THEN 12 ELSE 15 END",
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
