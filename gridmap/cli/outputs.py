"""``gridmap map``, ``export`` and ``export-summary``: offline HTML maps, GIS files and summary
tables (汇总表) written to disk. ``maps`` and ``exports`` load only when these commands run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gridmap.cli.context import JsonOpt, console, emit, load_settings, transaction

app = typer.Typer()


@app.command("map")
def map_(
    code: Annotated[str, typer.Option("--code", help="county, township, village or grid code")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")] = Path(
        "map.html"
    ),
    basemap: Annotated[
        str | None, typer.Option(help="tianditu-vec | tianditu-img | osm | custom (none: offline)")
    ] = None,
    lang: Annotated[str, typer.Option(help="zh | en")] = "zh",
    linked: Annotated[
        bool,
        typer.Option(
            "--linked",
            help="link the installed vendor files instead of embedding them (smaller, this "
            "machine only)",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a map of a unit and its children as one HTML file that opens offline."""
    from gridmap import maps

    settings = load_settings()
    asset_url = maps.VENDOR_DIR.as_uri() if linked else maps.ASSET_ROUTE
    with transaction(settings) as session:
        page = maps.render(
            maps.unit_map(
                session,
                code,
                asset_url=asset_url,
                basemap=basemap,
                tianditu_key=settings.tianditu_key,
                tile_url=settings.tile_url,
                lang=lang,
            )
        )
    if not linked:
        page = maps.inline_assets(page, asset_url)
    output.write_text(page, encoding="utf-8")
    summary = {"code": code, "path": str(output), "bytes": output.stat().st_size}
    emit(summary, as_json, lambda s: console.print(f"wrote {s['path']} ({s['bytes']:,} bytes)"))


@app.command("export")
def export(
    county: Annotated[str, typer.Argument(help="county code, e.g. 513401")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="gpkg, shp, geojson, kml, csv or parquet")
    ] = "gpkg",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="file (gpkg, kml) or directory; default 513401.gpkg, 513401_shp/…"
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="EPSG:4490 (default), EPSG:4326, or gk (the county's GK zone)"),
    ] = None,
    households: Annotated[
        bool, typer.Option("--households", help="also export every household (large)")
    ] = False,
    encoding: Annotated[str, typer.Option(help="utf-8 or gbk (shapefile text only)")] = "utf-8",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the file or a previous export")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export a county's layers as GIS files (CGCS2000 by default, Chinese field aliases)."""
    from gridmap import exports

    path = out or exports.default_path(county, fmt)
    with transaction(load_settings()) as session:
        report = exports.export_county(
            session,
            county,
            fmt,
            path,
            crs=crs,
            households=households,
            encoding=encoding,
            overwrite=overwrite,
        )

    def render(r: dict[str, Any]) -> None:
        table = Table(title=f"{r['county_name']} {r['county_code']} → {r['path']} ({r['crs']})")
        for column in ("layer", "图层", "features"):
            table.add_column(column)
        for layer in r["layers"]:
            table.add_row(layer["name"], layer["alias_zh"], str(layer["features"]))
        console.print(table)
        for note in r["notes"]:
            console.print(f"note: {note}")
        console.print(f"{r['seconds']} s")

    emit(report, as_json, render)


@app.command("export-summary")
def export_summary(
    county: Annotated[str, typer.Argument(help="county code, e.g. 513401")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or xlsx")] = "xlsx",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write")] = None,
    level: Annotated[
        str | None,
        typer.Option(help="township or village (csv: township by default; xlsx: both sheets)"),
    ] = None,
    lang: Annotated[str, typer.Option(help="zh or en column headers")] = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Summary tables (汇总表) per township or village: households, persons, grids, workers,
    incidents by stage.
    """
    from gridmap import exports

    path = out or Path(f"{county}_summary{'_' + level if level else ''}.{fmt.lower()}")
    with transaction(load_settings()) as session:
        report = exports.export_summary(session, county, fmt, path, level=level, lang=lang)
    emit(report, as_json, lambda r: console.print(f"{r['path']}: {r['rows']}"))
