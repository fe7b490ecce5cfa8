"""Alembic migrations, run programmatically so no alembic.ini is needed at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gridmap.db.session import normalize_url

SCRIPT_LOCATION = Path(__file__).parent


def config(url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema of ``url`` to ``revision`` (default: the newest)."""
    command.upgrade(config(url), revision)


def check(url: str) -> None:
    """Fail if the models differ from what the migrations build (``alembic check``)."""
    command.check(config(url))
