"""Incidents, their audit trail, the category catalogue, grid workers and their tracks.

The default catalogue (gridmap/data/categories.json) is seeded here so every database has one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:04:52.840106
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "category",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("parent_code", sa.String(length=8), nullable=True),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("case_type", sa.String(length=12), nullable=False),
        sa.Column("limit_hours", sa.Double(), nullable=False),
        sa.Column(
            "stage_hours",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint(
            "case_type IN ('immediate', 'promised', 'coordinated')",
            name=op.f("ck_category_case_type"),
        ),
        sa.CheckConstraint(
            "tier IN ('grid', 'village', 'township', 'county')", name=op.f("ck_category_tier")
        ),
        sa.CheckConstraint("limit_hours > 0", name=op.f("ck_category_limit_positive")),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["category.code"], name=op.f("fk_category_parent_code_category")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_category")),
    )
    op.create_geospatial_table(
        "worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), server_default="", nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("on_duty", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('fulltime', 'parttime', 'cadre')", name=op.f("ck_worker_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker")),
    )
    op.create_index("ix_worker_county", "worker", ["county_code"], unique=False)
    op.create_geospatial_table(
        "incident",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("township_code", sa.String(length=9), nullable=True),
        sa.Column("village_code", sa.String(length=12), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("near_boundary", sa.Boolean(), nullable=False),
        sa.Column("h3_cell", sa.BigInteger(), nullable=False),
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
        sa.Column("input_crs", sa.String(length=8), nullable=False),
        sa.Column("category_code", sa.String(length=8), nullable=False),
        sa.Column("case_type", sa.String(length=12), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reporter", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gps_accuracy_m", sa.Double(), nullable=True),
        sa.Column("photo_urls", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("handler", sa.Text(), nullable=True),
        sa.Column("dispatcher", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "stage IN ('reported', 'accepted', 'dispatched', 'handling', 'resolved', 'closed', 'rated')",
            name=op.f("ck_incident_stage"),
        ),
        sa.CheckConstraint(
            "tier IN ('grid', 'village', 'township', 'county')", name=op.f("ck_incident_tier")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_incident_rating")
        ),
        sa.ForeignKeyConstraint(
            ["category_code"], ["category.code"], name=op.f("fk_incident_category_code_category")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["worker.id"], name=op.f("fk_incident_worker_id_worker")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_geospatial_index(
        "idx_incident_geom",
        "incident",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_incident_county_reported", "incident", ["county_code", "reported_at"], unique=False
    )
    op.create_index("ix_incident_county_stage", "incident", ["county_code", "stage"], unique=False)
    op.create_index("ix_incident_grid", "incident", ["grid_code"], unique=False)
    op.create_index(
        "ix_incident_open_due",
        "incident",
        ["stage_due"],
        unique=False,
        postgresql_where=sa.text("stage NOT IN ('closed', 'rated')"),
    )
    op.create_index(
        "ix_incident_open_worker",
        "incident",
        ["worker_id"],
        unique=False,
        postgresql_where=sa.text("stage NOT IN ('closed', 'rated')"),
    )
    op.create_index("uq_incident_idempotency_key", "incident", ["idempotency_key"], unique=True)
    op.create_table(
        "worker_grid",
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("duty", sa.String(length=10), nullable=False),
        sa.CheckConstraint("duty IN ('primary', 'supporting')", name=op.f("ck_worker_grid_duty")),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["worker.id"],
            name=op.f("fk_worker_grid_worker_id_worker"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("worker_id", "grid_code", name=op.f("pk_worker_grid")),
    )
    op.create_index("ix_worker_grid_grid", "worker_grid", ["grid_code"], unique=False)
    op.create_index(
        "uq_worker_grid_primary",
        "worker_grid",
        ["grid_code"],
        unique=True,
        postgresql_where=sa.text("duty = 'primary'"),
    )
    op.create_geospatial_table(
        "worker_position",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("h3_cell", sa.BigInteger(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["worker.id"],
            name=op.f("fk_worker_position_worker_id_worker"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_position")),
    )
    op.create_index(
        "ix_worker_position_county_time",
        "worker_position",
        ["county_code", "recorded_at"],
        unique=False,
    )
    op.create_index(
        "uq_worker_position_time", "worker_position", ["worker_id", "recorded_at"], unique=True
    )
    op.create_table(
        "incident_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("from_stage", sa.String(length=10), nullable=True),
        sa.Column("to_stage", sa.String(length=10), nullable=False),
        sa.Column("from_tier", sa.String(length=8), nullable=True),
        sa.Column("to_tier", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_event_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_event")),
    )
    op.create_index(
        "ix_incident_event_incident", "incident_event", ["incident_id", "id"], unique=False
    )
    _seed_categories()


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_incident_event_incident", table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index("uq_worker_position_time", table_name="worker_position")
    op.drop_index("ix_worker_position_county_time", table_name="worker_position")
    op.drop_geospatial_table("worker_position")
    op.drop_index(
        "uq_worker_grid_primary",
        table_name="worker_grid",
        postgresql_where=sa.text("duty = 'primary'"),
    )
    op.drop_index("ix_worker_grid_grid", table_name="worker_grid")
    op.drop_table("worker_grid")
    op.drop_index("uq_incident_idempotency_key", table_name="incident")
    op.drop_index(
        "ix_incident_open_worker",
        table_name="incident",
        postgresql_where=sa.text("stage NOT IN ('closed', 'rated')"),
    )
    op.drop_index(
        "ix_incident_open_due",
        table_name="incident",
        postgresql_where=sa.text("stage NOT IN ('closed', 'rated')"),
    )
    op.drop_index("ix_incident_grid", table_name="incident")
    op.drop_index("ix_incident_county_stage", table_name="incident")
    op.drop_index("ix_incident_county_reported", table_name="incident")
    op.drop_geospatial_index(
        "idx_incident_geom", table_name="incident", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("incident")
    op.drop_index("ix_worker_county", table_name="worker")
    op.drop_geospatial_table("worker")
    op.drop_table("category")


CATALOGUE = Path(__file__).resolve().parents[3] / "data" / "categories.json"


def _seed_categories() -> None:
    """Insert the default catalogue, parents first."""
    rows = json.loads(CATALOGUE.read_text(encoding="utf-8"))["categories"]
    table = sa.table(
        "category",
        *(sa.column(c) for c in ("code", "parent_code", "name_zh", "name_en", "tier")),
        *(sa.column(c) for c in ("case_type", "limit_hours")),
    )
    keys = ("code", "parent_code", "name_zh", "name_en", "tier", "case_type", "limit_hours")
    ordered = sorted(rows, key=lambda row: (row.get("parent_code") is not None, row["code"]))
    op.bulk_insert(table, [{k: row.get(k) for k in keys} for row in ordered])
