"""``gridmap import``, ``qa`` and ``locate``: boundary files in, their topology checked, points
looked up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from gridmap import hierarchy, lookup, qa
from gridmap.cli.context import DryRunOpt, JsonOpt, console, emit, load_settings, transaction

app = typer.Typer()


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="GeoJSON, GeoPackage or Shapefile")],
    level: Annotated[str, typer.Option(help="county | township | village | grid")],
    crs: Annotated[str, typer.Option(help="wgs84 | cgcs2000 | gcj02 | bd09")] = "wgs84",
    code_field: Annotated[str | None, typer.Option(help="field with the division code")] = None,
    name_field: Annotated[str | None, typer.Option(help="field with the name")] = None,
    parent_field: Annotated[str | None, typer.Option(help="field with the parent code")] = None,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. gbk")] = None,
    layer: Annotated[str | None, typer.Option(help="layer name in a GeoPackage")] = None,
    allow_overlaps: Annotated[
        bool, typer.Option(help="import units overlapping loaded neighbours (listed as notes)")
    ] = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import boundary files as one new generation; any error leaves the database unchanged."""
    settings = load_settings()
    with (
        transaction(settings, dry_run=dry_run) as session,
        Progress(console=console, transient=True) as progress,
    ):
        progress.add_task(f"importing {len(files)} file(s)", total=None)
        report = hierarchy.import_files(
            session,
            list(files),
            level=level,
            crs_name=crs,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
            encoding=encoding,
            layer=layer,
            allow_overlaps=allow_overlaps,
        )
        if report.generation is not None:
            rebuilt = lookup.rebuild_index(
                session, report.counties, resolution=settings.h3_resolution
            )
            report.notes.append(f"lookup index rebuilt: {rebuilt}")
    emit(report.to_dict(), as_json, _render_import, dry_run=dry_run)


def _render_import(r: dict[str, Any]) -> None:
    table = Table("level", "features", "inserted", "replaced", "unchanged", "repairs", "generation")
    counts = (str(r[k]) for k in ("features", "inserted", "replaced", "unchanged"))
    table.add_row(r["level"], *counts, str(len(r["repairs"])), str(r["generation"] or "-"))
    console.print(table)
    for repair in r["repairs"]:
        console.print(
            f"repaired {repair['label'] or repair['index']}: {repair['reason']} "
            f"(area changed {repair['area_change_m2']} m²)"
        )
    for note in r["notes"]:
        console.print(note)


@app.command("qa")
def qa_(
    county: Annotated[str, typer.Option(help="6-digit county code")],
    min_area_m2: Annotated[
        float, typer.Option(help="ignore findings smaller than this")
    ] = qa.DEFAULT_MIN_AREA_M2,
    as_json: JsonOpt = False,
) -> None:
    """Topology QA of one county: gaps, overlaps, spills, orphans, duplicates (areas in m²)."""
    with transaction(load_settings()) as session:
        report = qa.check_county(session, county, min_area_m2=min_area_m2).to_dict()
    emit(report, as_json, _render_qa)


def _render_qa(report: dict[str, Any]) -> None:
    console.print(f"county {report['county_code']}: units {report['units']}")
    table = Table("check 检查", "level", "codes", "area m²", "lon", "lat")
    for f in report["findings"]:
        table.add_row(
            f"{f['check']} {f['check_zh']}",
            f["level"],
            ", ".join(f["codes"]),
            f"{f['area_m2']:.1f}",
            f"{f['lon']:.6f}",
            f"{f['lat']:.6f}",
        )
    console.print(table)
    console.print({k: v for k, v in report["counts"].items() if v})


@app.command("locate")
def locate_(
    lon: Annotated[float, typer.Argument()],
    lat: Annotated[float, typer.Argument()],
    crs: Annotated[str, typer.Option(help="wgs84 | cgcs2000 | gcj02 | bd09")] = "wgs84",
    as_json: JsonOpt = False,
) -> None:
    """Which county, township, village and grid hold a point."""
    settings = load_settings()
    with transaction(settings) as session:
        index = lookup.load_index(session, resolution=settings.h3_resolution)
    location = lookup.locate_one(
        index, lon, lat, crs_name=crs, near_boundary_m=settings.near_boundary_m
    )
    emit(location.to_dict(), as_json, console.print)
