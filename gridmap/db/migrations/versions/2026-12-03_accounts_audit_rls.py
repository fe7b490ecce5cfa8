"""Accounts, refresh tokens, the append-only audit log, and row-level security.

The API runs each request's transaction as the ``gridmap_scoped`` role (``db.scope.enter``) with
the caller's scope in the ``gridmap.scope`` setting. The policies below hide every incident,
incident event, household, worker and position outside that scope; the role may not touch
accounts, refresh tokens or the migration table, and may only append to the audit log. The table
owner (migrations, the CLI) is not subject to the policies.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridmap.vocabulary import Role

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED = "gridmap_scoped"

ROLE_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SCOPED}') THEN
        CREATE ROLE {SCOPED} NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT {SCOPED} TO %I', current_user);
    END IF;
END
$$;
"""

FUNCTIONS_SQL = """
-- Whether a row whose deepest code is `code` lies inside the transaction's scope.
-- No scope set means nothing: a forgotten gridmap.scope leaks nothing.
CREATE FUNCTION gridmap_in_scope(code text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE coalesce(current_setting('gridmap.scope', true), '')
        WHEN '' THEN false
        WHEN '*' THEN true
        ELSE EXISTS (
            SELECT 1
            FROM unnest(string_to_array(current_setting('gridmap.scope', true), ',')) AS s(p)
            WHERE starts_with(code, s.p)
        )
    END
$$;

-- Whether unit `code` and the scope overlap at all (it is inside, or holds a scope code).
CREATE FUNCTION gridmap_touches_scope(code text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE coalesce(current_setting('gridmap.scope', true), '')
        WHEN '' THEN false
        WHEN '*' THEN true
        ELSE EXISTS (
            SELECT 1
            FROM unnest(string_to_array(current_setting('gridmap.scope', true), ',')) AS s(p)
            WHERE starts_with(code, s.p) OR starts_with(s.p, code)
        )
    END
$$;

CREATE FUNCTION gridmap_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

POLICIES_SQL = f"""
ALTER TABLE incident ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_scope ON incident TO {SCOPED}
    USING (gridmap_in_scope(coalesce(grid_code, village_code, township_code, county_code)))
    WITH CHECK (gridmap_in_scope(coalesce(grid_code, village_code, township_code, county_code)));

-- A trail row is read through its incident. It is written in the same statement as the
-- incident (intake), where the new incident is not yet visible to a subquery: the write check
-- holds it to the county instead.
ALTER TABLE incident_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_event_scope ON incident_event FOR SELECT TO {SCOPED}
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_event.incident_id));
CREATE POLICY incident_event_write ON incident_event FOR INSERT TO {SCOPED}
    WITH CHECK (gridmap_touches_scope(county_code));

ALTER TABLE household ENABLE ROW LEVEL SECURITY;
CREATE POLICY household_scope ON household TO {SCOPED}
    USING (gridmap_in_scope(coalesce(grid_code, village_code)))
    WITH CHECK (gridmap_in_scope(coalesce(grid_code, village_code)));

-- Workers: their county's row is visible to any scope inside the county (a worker is added
-- before their grids are, and INSERT … RETURNING must see the new row); the sensitive part,
-- their track, is held to their grids below.
ALTER TABLE worker ENABLE ROW LEVEL SECURITY;
CREATE POLICY worker_scope ON worker TO {SCOPED}
    USING (gridmap_touches_scope(county_code))
    WITH CHECK (gridmap_touches_scope(county_code));

ALTER TABLE worker_position ENABLE ROW LEVEL SECURITY;
CREATE POLICY worker_position_scope ON worker_position TO {SCOPED}
    USING (
        gridmap_in_scope(county_code)
        OR EXISTS (
            SELECT 1 FROM worker_grid g
            WHERE g.worker_id = worker_position.worker_id AND gridmap_in_scope(g.grid_code)
        )
    )
    WITH CHECK (
        gridmap_in_scope(county_code)
        OR EXISTS (
            SELECT 1 FROM worker_grid g
            WHERE g.worker_id = worker_position.worker_id AND gridmap_in_scope(g.grid_code)
        )
    );

GRANT USAGE ON SCHEMA public TO {SCOPED};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SCOPED};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {SCOPED};
REVOKE ALL ON account, refresh_token, alembic_version FROM {SCOPED};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {SCOPED};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SCOPED};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {SCOPED};

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION gridmap_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_audit_append_only();
"""

RLS_TABLES = ("incident", "incident_event", "household", "worker", "worker_position")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scope_codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("api_key_hash", sa.String(length=64), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("token_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(Role.sql_in("role"), name=op.f("ck_account_role")),
        sa.CheckConstraint(
            "rate_per_minute IS NULL OR rate_per_minute > 0", name=op.f("ck_account_rate")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["worker.id"],
            name=op.f("fk_account_worker_id_worker"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("username", name=op.f("uq_account_username")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_account_api_key_hash")),
    )
    op.create_table(
        "refresh_token",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_refresh_token_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_token_token_hash")),
    )
    op.create_index("ix_refresh_token_account", "refresh_token", ["account_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_resource", "audit_log", ["resource", "resource_id"])
    op.execute(ROLE_SQL)
    op.execute(FUNCTIONS_SQL)
    op.execute(POLICIES_SQL)


def downgrade() -> None:
    """Revert this revision (the cluster-wide role stays: other databases may use it)."""
    op.execute("DROP POLICY IF EXISTS incident_event_write ON incident_event")
    for table in RLS_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_scope ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {SCOPED}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {SCOPED}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {SCOPED}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {SCOPED}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {SCOPED}")
    op.drop_table("audit_log")
    op.drop_table("refresh_token")
    op.drop_table("account")
    op.execute("DROP FUNCTION gridmap_audit_append_only()")
    op.execute("DROP FUNCTION gridmap_touches_scope(text)")
    op.execute("DROP FUNCTION gridmap_in_scope(text)")
