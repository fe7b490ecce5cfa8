"""Households (points in villages and grids) and the persisted H3 cell index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:36:44.754967
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_geospatial_table(
        "household",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("persons", sa.Integer(), server_default="1", nullable=False),
        sa.Column("urban", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "flags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("persons >= 0", name=op.f("ck_household_persons_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    op.create_geospatial_index(
        "idx_household_geom",
        "household",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_household_county_village", "household", ["county_code", "village_code"], unique=False
    )
    op.create_index("ix_household_grid", "household", ["grid_code"], unique=False)
    op.create_table(
        "cell_index",
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("resolution", sa.SmallInteger(), nullable=False),
        sa.Column("h3_cell", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("exact", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation"], ["generation.id"], name=op.f("fk_cell_index_generation_generation")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_cell_index_unit_id_unit"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "county_code", "resolution", "h3_cell", "unit_id", name=op.f("pk_cell_index")
        ),
    )
    op.create_index("ix_cell_index_cell", "cell_index", ["resolution", "h3_cell"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_cell_index_cell", table_name="cell_index")
    op.drop_table("cell_index")
    op.drop_index("ix_household_grid", table_name="household")
    op.drop_index("ix_household_county_village", table_name="household")
    op.drop_geospatial_index(
        "idx_household_geom", table_name="household", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("household")
