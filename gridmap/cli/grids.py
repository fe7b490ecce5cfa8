"""``gridmap grids generate``: uniform grids (综合网格) as one new generation, then the index."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from gridmap import grids, lookup
from gridmap.cli.context import (
    DryRunOpt,
    JsonOpt,
    console,
    emit,
    grid_rules,
    load_settings,
    transaction,
)
from gridmap.errors import InvalidCodeError

app = typer.Typer(help="Uniform grids (综合网格) inside villages and communities.")


@app.command("generate")
def grids_generate(
    village: Annotated[
        list[str] | None, typer.Option(help="12-digit village code (repeatable)")
    ] = None,
    county: Annotated[str | None, typer.Option(help="6-digit county code: every village")] = None,
    urban_min: Annotated[int | None, typer.Option(help="min households per urban grid")] = None,
    urban_max: Annotated[int | None, typer.Option(help="max households per urban grid")] = None,
    rural_min: Annotated[int | None, typer.Option(help="min households per rural grid")] = None,
    rural_max: Annotated[int | None, typer.Option(help="max households per rural grid")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw grids for a county or some villages as one new generation, then refresh the index."""
    if bool(village) == bool(county):
        raise InvalidCodeError("give either --county CODE or one or more --village CODE")
    county_code = county or village[0][:6]  # type: ignore[index]
    if village and any(v[:6] != county_code for v in village):
        raise InvalidCodeError("all --village codes must belong to one county")
    settings = load_settings()
    rules = grid_rules(settings, county_code)
    rules["urban"] = grids.GridRules(
        urban_min or rules["urban"].min_households, urban_max or rules["urban"].max_households
    )
    rules["rural"] = grids.GridRules(
        rural_min or rules["rural"].min_households, rural_max or rules["rural"].max_households
    )
    with (
        transaction(settings, dry_run=dry_run) as session,
        Progress(console=console, transient=True) as progress,
    ):
        progress.add_task(f"drawing grids in {county_code}", total=None)
        report = grids.generate_for_county(
            session,
            county_code,
            villages=village or None,
            **rules,
            resolution=settings.h3_resolution,
        )
        report["index"] = lookup.rebuild_index(
            session, county_code, resolution=settings.h3_resolution
        )
    emit(report, as_json, console.print, dry_run=dry_run)
