"""``gridmap demo``: the database up, the bundled 凉山 counties, a synthetic county (or every
county of a prefecture) with grids, index, workers, sample incidents and tracks.

The loaders themselves are the library's ``gridmap.demo``, imported here as ``demo_data`` so
that in this file ``demo`` never stands for two things: the command and its data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gridmap import db, hierarchy
from gridmap import demo as demo_data
from gridmap.cli.context import (
    JsonOpt,
    console,
    emit,
    grid_rules,
    load_settings,
    transaction,
)
from gridmap.db import migrations
from gridmap.errors import ImportFileError
from gridmap.settings import Settings

app = typer.Typer()
BUNDLED = hierarchy.bundled_boundaries()
LIANGSHAN = "5134"


@app.command("demo")
def demo_(
    county: Annotated[
        str, typer.Option(help="county to fill with a synthetic hierarchy")
    ] = "513401",
    seed: Annotated[int, typer.Option(help="seed of the synthetic county")] = 1,
    boundaries: Annotated[Path, typer.Option(help="folder of bundled county boundaries")] = BUNDLED,
    prefix: Annotated[str, typer.Option(help="adcode prefix of the counties to load")] = LIANGSHAN,
    as_json: JsonOpt = False,
) -> None:
    """Database up, bundled 凉山 counties, a synthetic county with grids, the lookup index."""
    settings = load_settings()
    url = db.cluster.database_url(settings, start=True)
    migrations.upgrade(url)
    files = sorted(boundaries.glob(f"{prefix}*.geojson"))
    if not files:
        raise ImportFileError(f"no bundled boundaries matching {prefix}*.geojson in {boundaries}")
    summary: dict[str, Any] = {"url": url}
    with transaction(settings) as session:
        summary["import"] = demo_data.load_counties(
            session, files, resolution=settings.h3_resolution
        )
    if len(county) == 4:  # a prefecture: every loaded county under it, one transaction each
        with transaction(settings) as session:
            targets = [
                c for c in db.units.read(session, level="county")["code"] if c.startswith(county)
            ]
        summary["prefecture"] = [_demo_county(settings, c, seed) for c in targets]
        summary["synthetic"] = {"county_code": county, "seed": seed, "counties": len(targets)}
    else:
        summary.update(_demo_county(settings, county, seed))
    emit(summary, as_json, _render_demo)


def _demo_county(settings: Settings, county: str, seed: int) -> dict[str, Any]:
    """Synthesize one county, draw its grids and index them, unless this seed is loaded."""
    resolution = settings.h3_resolution
    with transaction(settings) as session:
        if demo_data.is_loaded(session, county, seed=seed):
            summary: dict[str, Any] = {
                "synthetic": {"county_code": county, "seed": seed, "already_loaded": True}
            }
        else:
            console.print(f"synthesizing {county} (seed {seed}) and drawing its grids…")
            started = time.perf_counter()
            rules = grid_rules(settings, county)
            summary = demo_data.load_synthetic_county(
                session, county, seed=seed, rules=rules, resolution=resolution
            )
            summary["synthetic"]["seconds"] = round(time.perf_counter() - started, 1)
    with transaction(settings) as session:
        if not demo_data.has_people(session, county):
            console.print(f"adding grid workers and sample incidents to {county}…")
            summary.update(demo_data.load_people(session, county, seed=seed, resolution=resolution))
    with transaction(settings) as session:
        if not demo_data.has_sites(session, county):
            console.print(f"adding relocation sites and a synthetic road network to {county}…")
            summary["sites"] = demo_data.load_sites(session, county, seed=seed)
    with transaction(settings) as session:
        summary["accounts"] = demo_data.load_accounts(session, county)
    return summary


def _render_accounts(made: list[dict[str, Any]]) -> None:
    """The demo accounts and their new secrets (reset on every run; log in at /login)."""
    console.print("demo accounts (passwords are new on every run; log in at /login):")
    for account in made:
        scope = account["scope"]
        where = scope if isinstance(scope, str) else ", ".join(scope)
        secret = "api_key" if account["role"] == "client" else "password"
        console.print(
            f"  {account['role_zh']:<10} {account['username']:<18} {secret} "
            f"{account['secret']}  (scope: {where})",
            soft_wrap=True,
        )


def _render_demo(summary: dict[str, Any]) -> None:
    imported = summary["import"]
    console.print(
        f"bundled counties: {imported['features']} ({imported['inserted']} new, "
        f"{imported['unchanged']} unchanged)"
    )
    for part in summary.get("prefecture", [summary]):
        made = part["synthetic"]
        if made.get("already_loaded"):
            console.print(f"synthetic {made['county_code']} (seed {made['seed']}) already loaded")
        else:
            g = part["grids"]
            console.print(
                f"synthetic {made['county_code']}: {made['townships']} townships, "
                f"{made['villages']} villages, {made['communities']} communities, "
                f"{made['households']} households, {made['persons']} persons; "
                f"{g['grids']} grids in {g['seconds']:.1f} s, max spread "
                f"{g['max_spread']:.2f}, out of bounds {g['grids_out_of_bounds']}"
            )
        if "workers" in part:
            console.print(
                f"  {part['workers']['workers']} grid workers "
                f"({part['workers']['off_duty']} off duty), "
                f"{part['incidents']['incidents']} sample incidents across the seven stages, "
                f"{part['tracks']['walkers']} patrol tracks"
            )
        if "sites" in part:
            console.print(
                f"  {part['sites']['sites']} relocation sites, "
                f"{part['sites']['roads']['edges']} synthetic road edges"
            )
        if "accounts" in part:
            _render_accounts(part["accounts"])
