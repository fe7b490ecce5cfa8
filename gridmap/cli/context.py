"""What every command shares: Settings built at the edge, the database URL, the command's one
transaction (rolled back instead of committed on a dry run), the ``--json`` and ``--dry-run``
options and how a command's result is written out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from gridmap import db, grids
from gridmap.settings import Settings

console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="run every step and check, then roll back: nothing is written"),
]
DRY_RUN_NOTE = "dry run: rolled back, nothing was written"


def load_settings() -> Settings:
    """Settings from GRIDMAP_* variables and .env: built here, at the edge, once per command."""
    return Settings()


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the private cluster's URL (which must be running)."""
    return db.cluster.database_url(settings)


@contextmanager
def transaction(settings: Settings, *, dry_run: bool = False) -> Iterator[Session]:
    """One session, committed once at the end, rolled back on any error; on a dry run rolled
    back at the end too, after everything ran.
    """
    engine = db.session.make_engine(database_url(settings))
    try:
        with db.session.sessionmaker_for(engine)() as session, session.begin() as begun:
            yield session
            if dry_run:
                begun.rollback()
    finally:
        engine.dispose()


def emit(data: Any, as_json: bool, render: Any = None, *, dry_run: bool = False) -> None:
    """``data`` as JSON on stdout (with ``--json`` or without a renderer), else rendered; a dry
    run's data carries ``"dry_run": true`` and a line on stderr says nothing was written.
    """
    if dry_run:
        data = {**data, "dry_run": True}
    if as_json or render is None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render(data)
    if dry_run:
        console.print(DRY_RUN_NOTE)


def grid_rules(settings: Settings, county: str) -> dict[str, grids.GridRules]:
    """Grid rules for a county: settings override the national defaults."""
    custom = settings.grid_rules.get(county, {})
    return {
        "urban": grids.GridRules(*custom.get("urban", (300, 500))),
        "rural": grids.GridRules(*custom.get("rural", (100, 300))),
    }
