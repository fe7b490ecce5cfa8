"""``gridmap db …``: the private PostGIS cluster (or DATABASE_URL) and its migrations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gridmap import db
from gridmap.cli.context import JsonOpt, console, database_url, emit, load_settings
from gridmap.db import migrations
from gridmap.db.session import normalize_url

app = typer.Typer(help="The database: private PostGIS cluster or DATABASE_URL.")


@app.command("up")
def db_up(as_json: JsonOpt = False) -> None:
    """Start the private PostGIS cluster (initialising it once) and migrate it."""
    settings = load_settings()
    url = db.cluster.database_url(settings, start=True)
    migrations.upgrade(url)
    emit(
        {"url": url, "migrated": True},
        as_json,
        lambda d: console.print(f"database ready: {d['url']}"),
    )


@app.command("down")
def db_down() -> None:
    """Stop the private cluster."""
    stopped = db.cluster.down(db.cluster.for_settings(load_settings()))
    console.print("stopped" if stopped else "was not running")


@app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """Where the private cluster lives and whether it runs."""
    settings = load_settings()
    data = db.cluster.status(db.cluster.for_settings(settings))
    data["database_url_override"] = bool(settings.database_url)

    def render(fields: dict[str, object]) -> None:
        for key, value in fields.items():
            console.print(f"{key}: {value}")

    emit(data, as_json, render)


@app.command("url")
def db_url() -> None:
    """Print the database URL commands use."""
    settings = load_settings()
    sys.stdout.write(db.cluster.database_url(settings, must_run=False) + "\n")


@app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations."""
    migrations.upgrade(database_url(load_settings()))
    console.print("migrated to head")


@app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="where to write the dump (pg_dump custom format)")],
    as_json: JsonOpt = False,
) -> None:
    """Back the database up with pg_dump (custom format); restore it with `gridmap db restore`."""
    settings = load_settings()
    url = database_url(settings)
    size = db.backup.dump(url, file, db.cluster.find_bin_dir(settings.pg_bin))
    tables = db.backup.checksums(url)
    emit(
        {"file": str(file), "bytes": size, "rows": sum(n for n, _ in tables.values())},
        as_json,
        lambda d: console.print(f"{d['file']}: {d['bytes']} bytes, {d['rows']} rows"),
    )


@app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="a dump made by `gridmap db backup`")],
    database: Annotated[str, typer.Option(help="the new database to restore into")],
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup into a new database on the same server, in one transaction; point
    DATABASE_URL (or the API) at it once it is checked. An existing database is refused.
    """
    from sqlalchemy.engine import make_url

    settings = load_settings()
    source = database_url(settings)
    target = make_url(normalize_url(source)).set(database=database).render_as_string(False)
    db.backup.restore(file, target, db.cluster.find_bin_dir(settings.pg_bin))
    tables = db.backup.checksums(target)
    emit(
        {"database": database, "url": target, "rows": sum(n for n, _ in tables.values())},
        as_json,
        lambda d: console.print(f"restored into {d['database']}: {d['rows']} rows ({d['url']})"),
    )
