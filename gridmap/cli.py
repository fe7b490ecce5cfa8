"""The ``gridmap`` command line: builds Settings, owns each command's one transaction."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session

from gridmap import __version__, categories, db, demo, grids, hierarchy, incidents, lookup, qa
from gridmap.db import migrations
from gridmap.errors import (
    DatabaseUnavailableError,
    GridmapError,
    ImportFileError,
    InvalidCodeError,
    InvalidInputError,
)
from gridmap.settings import Settings

app = typer.Typer(help="gridmap: 网格化管理 boundaries, grids and lookup.", no_args_is_help=True)
db_app = typer.Typer(help="The database: private PostGIS cluster or DATABASE_URL.")
app.add_typer(db_app, name="db")
console = Console(stderr=True)
REPO_ROOT = Path(__file__).resolve().parents[1]  # the source checkout, for `gridmap bench`
BUNDLED = hierarchy.bundled_boundaries()
LIANGSHAN = "5134"

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _settings() -> Settings:
    return Settings()


def _cluster(settings: Settings) -> db.cluster.Cluster:
    return db.cluster.locate(settings.home, settings.pg_port, settings.pg_bin)


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the private cluster's URL (which must be running)."""
    if settings.database_url:
        return settings.database_url
    cluster = _cluster(settings)
    if not db.cluster.is_running(cluster):
        raise DatabaseUnavailableError(
            "the private database is not running: start it with `gridmap db up` "
            "(or set DATABASE_URL to another PostGIS)"
        )
    return cluster.url()


@contextmanager
def transaction(settings: Settings) -> Iterator[Session]:
    """One session, committed once at the end, rolled back on any error."""
    engine = db.session.make_engine(database_url(settings))
    try:
        with db.session.sessionmaker_for(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _emit(data: Any, as_json: bool, render: Any = None) -> None:
    if as_json or render is None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render(data)


@db_app.command("up")
def db_up(as_json: JsonOpt = False) -> None:
    """Start the private PostGIS cluster (initialising it once) and migrate it."""
    settings = _settings()
    url = settings.database_url or db.cluster.up(_cluster(settings))
    migrations.upgrade(url)
    _emit(
        {"url": url, "migrated": True},
        as_json,
        lambda d: console.print(f"database ready: {d['url']}"),
    )


@db_app.command("down")
def db_down() -> None:
    """Stop the private cluster."""
    stopped = db.cluster.down(_cluster(_settings()))
    console.print("stopped" if stopped else "was not running")


@db_app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """Where the private cluster lives and whether it runs."""
    settings = _settings()
    data = db.cluster.status(_cluster(settings))
    data["database_url_override"] = bool(settings.database_url)
    _emit(data, as_json, lambda d: [console.print(f"{k}: {v}") for k, v in d.items()])


@db_app.command("url")
def db_url() -> None:
    """Print the database URL commands use."""
    settings = _settings()
    sys.stdout.write((settings.database_url or _cluster(settings).url()) + "\n")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations."""
    migrations.upgrade(database_url(_settings()))
    console.print("migrated to head")


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
    as_json: JsonOpt = False,
) -> None:
    """Import boundary files as one new generation; any error leaves the database unchanged."""
    settings = _settings()
    with transaction(settings) as session, Progress(console=console, transient=True) as progress:
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
        )
        if report.generation is not None:
            rebuilt = lookup.rebuild_index(
                session, report.counties, resolution=settings.h3_resolution
            )
            report.notes.append(f"lookup index rebuilt: {rebuilt}")
    _emit(report.to_dict(), as_json, _render_import)


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
    with transaction(_settings()) as session:
        report = qa.check_county(session, county, min_area_m2=min_area_m2).to_dict()
    _emit(report, as_json, _render_qa)


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
    settings = _settings()
    with transaction(settings) as session:
        index = lookup.load_index(session, resolution=settings.h3_resolution)
    location = lookup.locate_one(
        index, lon, lat, crs_name=crs, near_boundary_m=settings.near_boundary_m
    )
    _emit(location.to_dict(), as_json, lambda d: console.print(d))


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
    settings = _settings()
    url = settings.database_url or db.cluster.up(_cluster(settings))
    migrations.upgrade(url)
    files = sorted(boundaries.glob(f"{prefix}*.geojson"))
    if not files:
        raise ImportFileError(f"no bundled boundaries matching {prefix}*.geojson in {boundaries}")
    summary: dict[str, Any] = {"url": url}
    with transaction(settings) as session:
        summary["import"] = demo.load_counties(session, files, resolution=settings.h3_resolution)
    if len(county) == 4:  # a prefecture: every loaded county under it, one transaction each
        with transaction(settings) as session:
            targets = [
                c for c in db.units.read(session, level="county")["code"] if c.startswith(county)
            ]
        summary["prefecture"] = [_demo_county(settings, c, seed) for c in targets]
        summary["synthetic"] = {"county_code": county, "seed": seed, "counties": len(targets)}
    else:
        summary.update(_demo_county(settings, county, seed))
    _emit(summary, as_json, _render_demo)


def _demo_county(settings: Settings, county: str, seed: int) -> dict[str, Any]:
    """Synthesize one county, draw its grids and index them, unless this seed is loaded."""
    resolution = settings.h3_resolution
    with transaction(settings) as session:
        if demo.is_loaded(session, county, seed=seed):
            summary: dict[str, Any] = {
                "synthetic": {"county_code": county, "seed": seed, "already_loaded": True}
            }
        else:
            console.print(f"synthesizing {county} (seed {seed}) and drawing its grids…")
            started = time.perf_counter()
            rules = _rules(settings, county)
            summary = demo.load_synthetic_county(
                session, county, seed=seed, rules=rules, resolution=resolution
            )
            summary["synthetic"]["seconds"] = round(time.perf_counter() - started, 1)
    with transaction(settings) as session:
        if not demo.has_people(session, county):
            console.print(f"adding grid workers and sample incidents to {county}…")
            summary.update(demo.load_people(session, county, seed=seed, resolution=resolution))
    return summary


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


def _rules(settings: Settings, county: str) -> dict[str, grids.GridRules]:
    """Grid rules for a county: settings override the national defaults."""
    custom = settings.grid_rules.get(county, {})
    return {
        "urban": grids.GridRules(*custom.get("urban", (300, 500))),
        "rural": grids.GridRules(*custom.get("rural", (100, 300))),
    }


grids_app = typer.Typer(help="Uniform grids (综合网格) inside villages and communities.")
app.add_typer(grids_app, name="grids")


@grids_app.command("generate")
def grids_generate(
    village: Annotated[
        list[str] | None, typer.Option(help="12-digit village code (repeatable)")
    ] = None,
    county: Annotated[str | None, typer.Option(help="6-digit county code: every village")] = None,
    urban_min: Annotated[int | None, typer.Option(help="min households per urban grid")] = None,
    urban_max: Annotated[int | None, typer.Option(help="max households per urban grid")] = None,
    rural_min: Annotated[int | None, typer.Option(help="min households per rural grid")] = None,
    rural_max: Annotated[int | None, typer.Option(help="max households per rural grid")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw grids for a county or some villages as one new generation, then refresh the index."""
    if bool(village) == bool(county):
        raise InvalidCodeError("give either --county CODE or one or more --village CODE")
    county_code = county or village[0][:6]  # type: ignore[index]
    if village and any(v[:6] != county_code for v in village):
        raise InvalidCodeError("all --village codes must belong to one county")
    settings = _settings()
    rules = _rules(settings, county_code)
    rules["urban"] = grids.GridRules(
        urban_min or rules["urban"].min_households, urban_max or rules["urban"].max_households
    )
    rules["rural"] = grids.GridRules(
        rural_min or rules["rural"].min_households, rural_max or rules["rural"].max_households
    )
    with transaction(settings) as session, Progress(console=console, transient=True) as progress:
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
    _emit(report, as_json, lambda d: console.print(d))


incidents_app = typer.Typer(help="Incidents (事件): overdue escalation, listings.")
app.add_typer(incidents_app, name="incidents")


def _when(value: str | None) -> datetime:
    """An ISO 8601 time with an offset, or now."""
    if value is None:
        return incidents.now_utc()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInputError(f"{value!r} is not an ISO 8601 time") from error
    if parsed.tzinfo is None:
        raise InvalidInputError(f"{value!r} needs a timezone, e.g. 2026-11-23T08:00:00+08:00")
    return parsed


@incidents_app.command("escalate")
def incidents_escalate(
    now: Annotated[str | None, typer.Option(help="pretend it is this time (ISO 8601)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Escalate every overdue case one tier (the API also does this every few minutes)."""
    with transaction(_settings()) as session:
        escalated = incidents.escalate_overdue(session, now=_when(now))
    _emit(
        {"escalated": len(escalated), "ids": escalated},
        as_json,
        lambda d: console.print(f"escalated {d['escalated']} overdue cases one tier"),
    )


@incidents_app.command("list")
def incidents_list(
    county: Annotated[str | None, typer.Option(help="county code")] = None,
    code: Annotated[str | None, typer.Option(help="township, village or grid code")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="stage (repeatable)")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only late open cases")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Incidents, newest first."""
    with transaction(_settings()) as session:
        total, found = incidents.search(
            session, county=county, code=code, stages=stage, overdue=overdue, limit=limit
        )

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table(title=f"{len(rows)} of {total} incidents")
        for column in ("id", "grid", "category", "stage", "tier", "due", "overdue"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                str(r["id"]),
                str(r["grid_code"]),
                r["category_code"],
                f"{r['stage']} {r['stage_zh']}",
                r["tier"],
                str(r["stage_due"] or ""),
                "超时" if r["overdue"] else "",
            )
        console.print(table)

    _emit(found, as_json, render)


categories_app = typer.Typer(help="The incident category catalogue (事件分类).")
app.add_typer(categories_app, name="categories")


@categories_app.command("import")
def categories_import(
    path: Annotated[
        Path, typer.Argument(help="JSON file shaped like gridmap/data/categories.json")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Add or replace categories from a file (all or nothing)."""
    rows = categories.read_file(path)
    with transaction(_settings()) as session:
        written = categories.put(session, rows)
    _emit({"written": written}, as_json, lambda d: console.print(f"{d['written']} categories"))


@categories_app.command("list")
def categories_list(as_json: JsonOpt = False) -> None:
    """The catalogue with each category's tier, case type and hours per stage."""
    with transaction(_settings()) as session:
        found = categories.catalogue(session)

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table(title="事件分类 categories")
        for column in ("code", "name", "tier", "type", "hours"):
            table.add_column(column)
        for r in rows:
            indent = "  " if r["parent_code"] else ""
            table.add_row(
                r["code"],
                indent + r["name_zh"],
                r["tier_zh"],
                r["case_type_zh"],
                f"{r['limit_hours']:g}",
            )
        console.print(table)

    _emit(found, as_json, render)


bench_app = typer.Typer(help="Benchmarks: figures with anchors measured in the same run.")
app.add_typer(bench_app, name="bench")


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


@bench_app.command("lookup")
def bench_lookup(
    county: Annotated[str, typer.Option(help="county with generated grids")] = "513401",
    points: Annotated[int, typer.Option(help="points per set (uniform and clustered)")] = 1_000_000,
    maxp_villages: Annotated[int, typer.Option(help="villages compared with spopt max-p")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Batch lookup: H3 index vs STRtree, geopandas, PostGIS and the H3 floor; grid generation."""
    _source_benchmarks()
    from benchmarks import lookup as bench

    settings = _settings()
    with transaction(settings) as session:
        report = bench.run(
            session,
            county_code=county,
            points=points,
            resolution=settings.h3_resolution,
            spopt_villages=maxp_villages,
        )
    _emit(report, as_json, lambda d: console.print(d))


@bench_app.command("locate")
def bench_locate(
    county: Annotated[str, typer.Option(help="county whose points are located")] = "513401",
    seconds: Annotated[int, typer.Option(help="duration of each measurement")] = 10,
    connections: Annotated[int, typer.Option(help="concurrent connections")] = 16,
    as_json: JsonOpt = False,
) -> None:
    """HTTP GET /locate against the same server's /health, one uvicorn worker, via wrk."""
    _source_benchmarks()
    from benchmarks import locate as bench

    settings = _settings()
    url = database_url(settings)
    with transaction(settings) as session:
        geometry = hierarchy.get_unit(session, county, level="county").geometry
    report = bench.run(url, geometry, seconds=seconds, connections=connections)
    _emit(report, as_json, lambda d: console.print(d))


@bench_app.command("intake")
def bench_intake(
    county: Annotated[str, typer.Option(help="county whose households report")] = "513401",
    seconds: Annotated[int, typer.Option(help="duration of each measurement")] = 10,
    connections: Annotated[int, typer.Option(help="concurrent connections")] = 16,
    reports: Annotated[int, typer.Option(help="reports in the retry phase")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """HTTP POST /incidents next to the same server's /health; lost and duplicated under retries."""
    _source_benchmarks()
    from benchmarks import intake as bench

    settings = _settings()
    report = bench.run(
        database_url(settings),
        county=county,
        seconds=seconds,
        connections=connections,
        reports=reports,
    )
    _emit(report, as_json, lambda d: console.print(d))


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

    settings = _settings()
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
    _emit(summary, as_json, lambda s: console.print(f"wrote {s['path']} ({s['bytes']:,} bytes)"))


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
    with transaction(_settings()) as session:
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

    _emit(report, as_json, render)


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
    incidents by stage."""
    from gridmap import exports

    path = out or Path(f"{county}_summary{'_' + level if level else ''}.{fmt.lower()}")
    with transaction(_settings()) as session:
        report = exports.export_summary(session, county, fmt, path, level=level, lang=lang)
    _emit(report, as_json, lambda r: console.print(f"{r['path']}: {r['rows']}"))


@bench_app.command("export")
def bench_export(
    county: Annotated[str, typer.Option(help="county to export")] = "513401",
    repeat: Annotated[int, typer.Option(help="timed runs of each exporter")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """County GeoPackage (all layers, no households) against ogr2ogr from PostGIS, same run."""
    _source_benchmarks()
    from benchmarks import export as bench

    report = bench.run(database_url(_settings()), county, repeat=repeat)
    _emit(report, as_json, lambda d: console.print(d))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API (and its docs at /docs)."""
    import uvicorn

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    database_url(settings)  # fail now, with the fix, rather than on the first request
    console.print(f"API: http://{host}:{port}/api/v1/units  docs: http://{host}:{port}/docs")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, log_level="warning")


@app.command("version")
def version() -> None:
    """Print the gridmap version."""
    sys.stdout.write(__version__ + "\n")


def main() -> None:
    """Entry point: turn gridmap errors into one clear line and exit status 2."""
    try:
        app()
    except GridmapError as error:
        console.print(f"[red]error:[/red] {error}")
        raise SystemExit(2) from error
