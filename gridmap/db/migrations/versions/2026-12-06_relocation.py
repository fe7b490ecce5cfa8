"""Relocation: sites (安置点), plans and their assignments, households' moves, road edges.

pgRouting is created when the cluster has it (the project's setup installs Debian's
``postgresql-15-pgrouting``); without it, plans over roads answer a clear error and
straight-line plans work as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geoalchemy2

from gridmap.vocabulary import SiteKind

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PGROUTING_SQL = """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgrouting') THEN
        CREATE EXTENSION IF NOT EXISTS pgrouting;
    END IF;
END
$$;
"""

# Assignments name households: the same scope rule as the household table.
RLS_SQL = """
ALTER TABLE relocation_assignment ENABLE ROW LEVEL SECURITY;
CREATE POLICY relocation_assignment_scope ON relocation_assignment TO gridmap_scoped
    USING (gridmap_in_scope(coalesce(grid_code, village_code)))
    WITH CHECK (gridmap_in_scope(coalesce(grid_code, village_code)));
"""


def upgrade() -> None:
    """Apply this revision."""
    op.execute(PGROUTING_SQL)
    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("capacity_households", sa.Integer(), nullable=False),
        sa.Column("capacity_persons", sa.Integer(), nullable=False),
        sa.Column("occupied_households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("occupied_persons", sa.Integer(), server_default="0", nullable=False),
        sa.Column("facilities", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=True),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=False,
        ),
        sa.CheckConstraint(SiteKind.sql_in("kind"), name=op.f("ck_site_kind")),
        sa.CheckConstraint(
            "capacity_households > 0", name=op.f("ck_site_capacity_households_positive")
        ),
        sa.CheckConstraint("capacity_persons > 0", name=op.f("ck_site_capacity_persons_positive")),
        sa.CheckConstraint(
            "occupied_households BETWEEN 0 AND capacity_households",
            name=op.f("ck_site_occupied_households"),
        ),
        sa.CheckConstraint(
            "occupied_persons BETWEEN 0 AND capacity_persons",
            name=op.f("ck_site_occupied_persons"),
        ),
        sa.CheckConstraint(
            "ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name=op.f("ck_site_geom_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
    )
    op.create_index("uq_site_county_code", "site", ["county_code", "code"], unique=True)
    op.create_index("idx_site_geom", "site", ["geom"], postgresql_using="gist")

    op.add_column("household", sa.Column("origin_village_code", sa.String(12), nullable=True))
    op.add_column("household", sa.Column("destination_site_id", sa.Integer(), nullable=True))
    op.add_column(
        "household",
        sa.Column("registered", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("household", sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_household_destination_site_id_site"),
        "household",
        "site",
        ["destination_site_id"],
        ["id"],
    )

    op.create_table(
        "relocation_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("site_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation"],
            ["generation.id"],
            name=op.f("fk_relocation_plan_generation_generation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relocation_plan")),
    )
    op.create_index("ix_relocation_plan_county", "relocation_plan", ["county_code", "created_at"])
    op.create_table(
        "relocation_assignment",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("route_m", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("group_kept", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_relocation_assignment_household_id_household"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["relocation_plan.id"],
            name=op.f("fk_relocation_assignment_plan_id_relocation_plan"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_relocation_assignment_site_id_site")
        ),
        sa.PrimaryKeyConstraint("plan_id", "household_id", name=op.f("pk_relocation_assignment")),
    )
    op.create_index(
        "ix_relocation_assignment_site", "relocation_assignment", ["plan_id", "site_id"]
    )
    op.execute(RLS_SQL)

    op.create_table(
        "road_edge",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost_m", sa.Float(), nullable=False),
        sa.Column("reverse_cost_m", sa.Float(), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_edge")),
    )
    op.create_index("ix_road_edge_county_source", "road_edge", ["county_code", "source"])
    op.create_index("ix_road_edge_county_target", "road_edge", ["county_code", "target"])
    op.create_index("idx_road_edge_geom", "road_edge", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("road_edge")
    op.execute("DROP POLICY IF EXISTS relocation_assignment_scope ON relocation_assignment")
    op.drop_table("relocation_assignment")
    op.drop_table("relocation_plan")
    op.drop_constraint(op.f("fk_household_destination_site_id_site"), "household")
    for column in ("moved_at", "registered", "destination_site_id", "origin_village_code"):
        op.drop_column("household", column)
    op.drop_table("site")
