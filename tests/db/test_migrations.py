from alembic import command
from sqlalchemy import inspect, text

from gridmap import db
from gridmap.db import migrations


def test_models_match_migrations(database_url):
    """``alembic check``: autogenerate finds nothing the migrations have not already built."""
    migrations.check(database_url)


def test_downgrade_and_upgrade_round_trip(scratch_url):
    command.downgrade(migrations.config(scratch_url), "base")
    engine = db.session.make_engine(scratch_url)
    assert "unit" not in inspect(engine).get_table_names()
    migrations.upgrade(scratch_url)
    inspector = inspect(engine)
    assert {"unit", "generation", "lineage"} <= set(inspector.get_table_names())
    indexes = {ix["name"] for ix in inspector.get_indexes("unit")}
    assert {"idx_unit_geom", "uq_unit_current_code"} <= indexes
    with engine.connect() as connection:
        checks = (
            connection.execute(
                text("SELECT conname FROM pg_constraint WHERE conrelid = 'unit'::regclass")
            )
            .scalars()
            .all()
        )
    assert "ck_unit_geom_valid" in checks
    engine.dispose()
