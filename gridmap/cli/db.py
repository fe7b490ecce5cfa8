"""``gridmap db …``: the private PostGIS cluster (or DATABASE_URL) and its migrations."""

from __future__ import annotations

import sys

import typer

from gridmap import db
from gridmap.cli.context import JsonOpt, console, database_url, emit, load_settings
from gridmap.db import migrations

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
