"""``gridmap bench …``: the benchmarks of the checkout's ``benchmarks/`` (not installed with
gridmap), each reporting its figures next to anchors measured in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gridmap import hierarchy
from gridmap.cli.context import JsonOpt, console, database_url, emit, load_settings, transaction
from gridmap.errors import GridmapError

app = typer.Typer(help="Benchmarks: figures with anchors measured in the same run.")
REPO_ROOT = Path(__file__).resolve().parents[2]  # the source checkout: gridmap/cli/bench.py ↑↑


def _source_benchmarks() -> None:
    """Make the checkout's ``benchmarks`` importable: it is not installed with gridmap.

    In an editable install gridmap/ sits in the checkout next to benchmarks/, which goes on
    sys.path; from a wheel there is none, and the error says where the benchmarks live.
    """
    if not (REPO_ROOT / "benchmarks" / "__init__.py").is_file():
        raise GridmapError(
            "gridmap bench runs from a source checkout: the benchmarks are not installed with "
            f"the package (no benchmarks/ next to {REPO_ROOT / 'gridmap'}); clone the "
            "repository and run `pip install -e .` there"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


@app.command("lookup")
def bench_lookup(
    county: Annotated[str, typer.Option(help="county with generated grids")] = "513401",
    points: Annotated[int, typer.Option(help="points per set (uniform and clustered)")] = 1_000_000,
    maxp_villages: Annotated[int, typer.Option(help="villages compared with spopt max-p")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Batch lookup: H3 index vs STRtree, geopandas, PostGIS and the H3 floor; grid generation."""
    _source_benchmarks()
    from benchmarks import lookup as bench

    settings = load_settings()
    with transaction(settings) as session:
        report = bench.run(
            session,
            county_code=county,
            points=points,
            resolution=settings.h3_resolution,
            spopt_villages=maxp_villages,
        )
    emit(report, as_json, console.print)


@app.command("locate")
def bench_locate(
    county: Annotated[str, typer.Option(help="county whose points are located")] = "513401",
    seconds: Annotated[int, typer.Option(help="duration of each measurement")] = 10,
    connections: Annotated[int, typer.Option(help="concurrent connections")] = 16,
    as_json: JsonOpt = False,
) -> None:
    """HTTP GET /locate with a token, against the same server without one and its /health."""
    _source_benchmarks()
    from benchmarks import locate as bench

    settings = load_settings()
    url = database_url(settings)
    with transaction(settings) as session:
        geometry = hierarchy.get_unit(session, county, level="county").geometry
    report = bench.run(url, geometry, seconds=seconds, connections=connections)
    emit(report, as_json, console.print)


@app.command("intake")
def bench_intake(
    county: Annotated[str, typer.Option(help="county whose households report")] = "513401",
    seconds: Annotated[int, typer.Option(help="duration of each measurement")] = 10,
    connections: Annotated[int, typer.Option(help="concurrent connections")] = 16,
    reports: Annotated[int, typer.Option(help="reports in the retry phase")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """HTTP POST /incidents with a token, without one, /health; lost and duplicated on retries."""
    _source_benchmarks()
    from benchmarks import intake as bench

    settings = load_settings()
    report = bench.run(
        database_url(settings),
        county=county,
        seconds=seconds,
        connections=connections,
        reports=reports,
    )
    emit(report, as_json, console.print)


@app.command("export")
def bench_export(
    county: Annotated[str, typer.Option(help="county to export")] = "513401",
    repeat: Annotated[int, typer.Option(help="timed runs of each exporter")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """County GeoPackage (all layers, no households) against ogr2ogr from PostGIS, same run."""
    _source_benchmarks()
    from benchmarks import export as bench

    report = bench.run(database_url(load_settings()), county, repeat=repeat)
    emit(report, as_json, console.print)


@app.command("relocation")
def bench_relocation(
    county: Annotated[str, typer.Option(help="county whose households are drawn")] = "513401",
    households: Annotated[int, typer.Option(help="households in the instance")] = 100_000,
    sites: Annotated[int, typer.Option(help="candidate sites")] = 200,
    slack: Annotated[float, typer.Option(help="site capacity over households")] = 1.15,
    anchors: Annotated[bool, typer.Option(help="run the MILP and spopt anchors")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Relocation: min-cost flow with its proof, grouped by grid, against a plain MILP and
    spopt's capacitated p-median on the same instance.
    """
    _source_benchmarks()
    from benchmarks import relocation as bench

    with transaction(load_settings()) as session:
        report = bench.run(
            session,
            county=county,
            households=households,
            sites=sites,
            slack=slack,
            anchors=anchors,
        )
    emit(report, as_json, console.print)
