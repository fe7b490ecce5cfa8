"""Alembic environment: spatial-aware autogenerate through geoalchemy2.alembic_helpers."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from geoalchemy2 import alembic_helpers

from gridmap.db.models import Base

config = context.config
target_metadata = Base.metadata

# PostGIS and tiger/topology extensions own tables we must not touch.
IGNORED_TABLES = {"spatial_ref_sys", "layer", "topology"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Skip PostGIS's own tables; defer spatial details to geoalchemy2."""
    if type_ == "table" and name in IGNORED_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_online() -> None:
    """Run migrations on a live connection."""
    connectable = context.config.attributes.get("connection") or engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
