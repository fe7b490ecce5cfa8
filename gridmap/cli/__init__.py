"""The ``gridmap`` command line: builds Settings, owns each command's one transaction.

One module per command group, composed here in the order ``gridmap --help`` lists them:
``boundaries`` (import, qa, locate), ``demo``, ``outputs`` (map, export, export-summary),
``relocation`` (relocate), ``serve`` (serve, version), then the groups ``db``, ``grids``,
``incidents`` and ``categories`` (both in ``incidents``), ``sites`` and ``roads`` (both in
``relocation``), ``users``, ``bench``; what they share is in ``context``.
"""

from __future__ import annotations

import typer

from gridmap.cli import (
    bench,
    boundaries,
    db,
    demo,
    grids,
    incidents,
    outputs,
    relocation,
    serve,
    users,
)
from gridmap.cli.context import console
from gridmap.errors import GridmapError

app = typer.Typer(help="gridmap: 网格化管理 boundaries, grids and lookup.", no_args_is_help=True)
# Commands without a group first, then the groups (typer lists them in this order).
app.add_typer(boundaries.app)
app.add_typer(demo.app)
app.add_typer(outputs.app)
app.add_typer(relocation.app)
app.add_typer(serve.app)
app.add_typer(db.app, name="db")
app.add_typer(grids.app, name="grids")
app.add_typer(incidents.incidents_app, name="incidents")
app.add_typer(incidents.categories_app, name="categories")
app.add_typer(relocation.sites_app, name="sites")
app.add_typer(relocation.roads_app, name="roads")
app.add_typer(users.app, name="users")
app.add_typer(bench.app, name="bench")


def main() -> None:
    """Entry point: turn gridmap errors into one clear line and exit status 2."""
    try:
        app()
    except GridmapError as error:
        console.print(f"[red]error:[/red] {error}")
        raise SystemExit(2) from error
