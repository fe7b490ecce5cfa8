"""Initial boundaries: generations, units of every level, lineage.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:16:54.590055
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=True),
        sa.CheckConstraint(
            "kind IN ('import', 'grids', 'plan', 'rollback')", name=op.f("ck_generation_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation")),
    )
    op.create_geospatial_table(
        "unit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("urban_rural", sa.String(length=3), nullable=True),
        sa.Column("households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("persons", sa.Integer(), server_default="0", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("generation_low", sa.Integer(), nullable=False),
        sa.Column("generation_high", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "length(code) = CASE level WHEN 'county' THEN 6 WHEN 'township' THEN 9 WHEN 'village' THEN 12 ELSE 15 END",
            name=op.f("ck_unit_code_length"),
        ),
        sa.CheckConstraint(
            "level IN ('county', 'township', 'village', 'grid')", name=op.f("ck_unit_level")
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_unit_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_unit_geom_valid")),
        sa.CheckConstraint(
            "generation_high IS NULL OR generation_high >= generation_low",
            name=op.f("ck_unit_generation_span"),
        ),
        sa.ForeignKeyConstraint(
            ["generation_high"], ["generation.id"], name=op.f("fk_unit_generation_high_generation")
        ),
        sa.ForeignKeyConstraint(
            ["generation_low"], ["generation.id"], name=op.f("fk_unit_generation_low_generation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
    )
    op.create_geospatial_index(
        "idx_unit_geom", "unit", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_unit_code_generation", "unit", ["code", "generation_low"], unique=False)
    op.create_index("ix_unit_county_level", "unit", ["county_code", "level"], unique=False)
    op.create_index("ix_unit_parent_code", "unit", ["parent_code"], unique=False)
    op.create_index(
        "uq_unit_current_code",
        "unit",
        ["code"],
        unique=True,
        postgresql_where=sa.text("generation_high IS NULL"),
    )
    op.create_table(
        "lineage",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("predecessor_id", sa.BigInteger(), nullable=False),
        sa.Column("successor_id", sa.BigInteger(), nullable=True),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["generation_id"], ["generation.id"], name=op.f("fk_lineage_generation_id_generation")
        ),
        sa.ForeignKeyConstraint(
            ["predecessor_id"], ["unit.id"], name=op.f("fk_lineage_predecessor_id_unit")
        ),
        sa.ForeignKeyConstraint(
            ["successor_id"], ["unit.id"], name=op.f("fk_lineage_successor_id_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage")),
    )
    op.create_index("ix_lineage_predecessor", "lineage", ["predecessor_id"], unique=False)
    op.create_index("ix_lineage_successor", "lineage", ["successor_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_lineage_successor", table_name="lineage")
    op.drop_index("ix_lineage_predecessor", table_name="lineage")
    op.drop_table("lineage")
    op.drop_index(
        "uq_unit_current_code",
        table_name="unit",
        postgresql_where=sa.text("generation_high IS NULL"),
    )
    op.drop_index("ix_unit_parent_code", table_name="unit")
    op.drop_index("ix_unit_county_level", table_name="unit")
    op.drop_index("ix_unit_code_generation", table_name="unit")
    op.drop_geospatial_index(
        "idx_unit_geom", table_name="unit", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("unit")
    op.drop_table("generation")
