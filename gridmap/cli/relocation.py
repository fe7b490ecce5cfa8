"""``gridmap sites …`` (relocation sites), ``gridmap relocate`` (a plan and its lists, map and
GeoJSON written to a folder) and ``gridmap roads …`` (the network road distances run on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

import shapely

from gridmap import crs, sites
from gridmap.auth.access import SYSTEM
from gridmap.cli.context import DryRunOpt, JsonOpt, console, emit, load_settings, transaction
from gridmap.errors import InvalidGeometryError, InvalidInputError
from gridmap.vocabulary import DistanceKind, KeepTogether, SiteKind

sites_app = typer.Typer(help="Relocation sites (安置点): add, import, list.")
roads_app = typer.Typer(help="Road networks for relocation distances (道路网).")
app = typer.Typer()


def _site_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(rows)} 安置点 sites")
    for column in ("code", "name", "kind", "households", "persons", "village"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["code"],
            r["name"],
            SiteKind(r["kind"]).zh,
            f"{r['occupied_households']}/{r['capacity_households']}",
            f"{r['occupied_persons']}/{r['capacity_persons']}",
            str(r["village_code"] or ""),
        )
    console.print(table)


def _public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("wkb", "geojson")} for r in rows]


@sites_app.command("add")
def sites_add(
    code: Annotated[str, typer.Option(help="site code, unique in the county")],
    name: Annotated[str, typer.Option(help="名称")],
    kind: Annotated[SiteKind, typer.Option(help="resettlement 集中安置点 | shelter 应急避难场所")],
    lon: Annotated[float, typer.Option(help="longitude")],
    lat: Annotated[float, typer.Option(help="latitude")],
    households: Annotated[int, typer.Option(help="capacity in households 容纳户数")],
    persons: Annotated[int, typer.Option(help="capacity in persons 容纳人数")],
    occupied_households: Annotated[int, typer.Option(help="已入住户数")] = 0,
    occupied_persons: Annotated[int, typer.Option(help="已入住人数")] = 0,
    facilities: Annotated[str, typer.Option(help="comma-separated: school,clinic,…")] = "",
    input_crs: Annotated[str, typer.Option("--crs", help="wgs84 | cgcs2000 | gcj02 | bd09")] = (
        "wgs84"
    ),
    county: Annotated[str | None, typer.Option(help="county code (default: where it lies)")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add one site at a point."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidGeometryError("lon and lat must be finite numbers")
    x, y = crs.point_to_wgs84(lon, lat, input_crs)
    site = sites.SiteIn(
        code=code,
        name=name,
        kind=kind.value,
        capacity_households=households,
        capacity_persons=persons,
        occupied_households=occupied_households,
        occupied_persons=occupied_persons,
        facilities=facilities,
        geom=shapely.Point(x, y),
        county_code=county,
        source="cli",
    )
    with transaction(load_settings(), dry_run=dry_run) as session:
        report = sites.add(session, [site])
        rows = _public(sites.by_codes(session, report.codes, report.counties))
    emit({"sites": rows}, as_json, lambda d: _site_table(d["sites"]), dry_run=dry_run)


@sites_app.command("import")
def sites_import(
    path: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or Shapefile of sites")],
    county: Annotated[str | None, typer.Option(help="county code (default: where each lies)")] = (
        None
    ),
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. gbk")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import sites from a file, all or none (fields in English or Chinese: see gridmap.sites)."""
    given = sites.read_file(path, encoding=encoding)
    with transaction(load_settings(), dry_run=dry_run) as session:
        report = sites.add(session, given, county=county)
        rows = _public(sites.by_codes(session, report.codes, report.counties))
    emit(
        {"imported": len(rows), "sites": rows},
        as_json,
        lambda d: _site_table(d["sites"]),
        dry_run=dry_run,
    )


@sites_app.command("suggest")
def sites_suggest(
    county: Annotated[str, typer.Option(help="county code")],
    radius_m: Annotated[float, typer.Option(help="reach in metres")] = 2_000,
    count: Annotated[int | None, typer.Option(help="new sites (default: fewest covering all)")] = (
        None
    ),
    kind: Annotated[SiteKind, typer.Option(help="shelter | resettlement")] = SiteKind.SHELTER,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="GeoJSON to write")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where new sites would put households within reach (spopt); `sites import` the file
    written with -o to accept them.
    """
    from gridmap.relocation import siting

    with transaction(load_settings()) as session:
        found = siting.suggest(session, county, radius_m=radius_m, count=count, kind=kind)
    body = found.as_json()
    if output is not None:
        output.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")

    def render(d: dict[str, Any]) -> None:
        console.print(
            f"{len(d['features'])} new {kind.value} sites ({d['model']}, {d['status']}, "
            f"{d['solve_s']} s): households within {radius_m:,.0f} m "
            f"{d['covered_before_share']:.1%} → {d['covered_after_share']:.1%}; "
            f"{d['unreachable']} beyond every candidate"
        )

    emit(body, as_json, render)


@sites_app.command("to-community")
def sites_to_community(
    county: Annotated[str, typer.Option(help="county code")],
    code: Annotated[str, typer.Option(help="the resettlement site's code")],
    name: Annotated[str | None, typer.Option(help="the community's name")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a resettlement site a community (集中安置点社区): a code in its township's
    community block, carved out of the villages it overlaps, its own grids, a new generation.
    """
    settings = load_settings()
    with transaction(settings, dry_run=dry_run) as session:
        made = sites.to_community(
            session, county, code, name=name, resolution=settings.h3_resolution
        )
    emit(
        made,
        as_json,
        lambda d: console.print(
            f"site {d['site']} is community {d['community_code']} (generation "
            f"{d['generation']}): {d['households']} households, {d['grids']} grids; "
            f"redrawn {', '.join(d['villages_redrawn'])}"
        ),
        dry_run=dry_run,
    )


@sites_app.command("list")
def sites_list(
    county: Annotated[str | None, typer.Option(help="county code")] = None,
    kind: Annotated[SiteKind | None, typer.Option(help="resettlement | shelter")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sites with their capacity and occupancy."""
    with transaction(load_settings()) as session:
        rows, _ = sites.listing(
            session,
            counties=[county] if county else None,
            kind=kind.value if kind else None,
            limit=100_000,
        )
    emit(_public(rows), as_json, _site_table)


def _hazard(path: Path | None, input_crs: str) -> shapely.Geometry | None:
    """The union of the polygons in a GeoJSON/GPKG/SHP file (or a bare GeoJSON geometry)."""
    if path is None:
        return None
    if path.suffix.lower() in (".json", ".geojson") and path.exists():
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("type") in ("Polygon", "MultiPolygon"):
            shape = shapely.geometry.shape(body)
            return crs.geometries_to_wgs84(np.array([shape], dtype=object), input_crs)[0]
    from gridmap import hierarchy

    frame = hierarchy.to_lonlat(hierarchy.read_boundary_file(path), [])
    shapes = np.asarray(frame.geometry.values, dtype=object)
    if input_crs != "wgs84":
        shapes = crs.geometries_to_wgs84(shapes, input_crs)
    return shapely.union_all(shapes)


@app.command("relocate")
def relocate(
    county: Annotated[str, typer.Option(help="county code")],
    hazard: Annotated[
        Path | None, typer.Option(help="hazard area: GeoJSON/GPKG/SHP polygons (风险区)")
    ] = None,
    village: Annotated[list[str] | None, typer.Option(help="village code (repeatable)")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="grid code (repeatable)")] = None,
    site: Annotated[list[str] | None, typer.Option(help="site code (repeatable); default all")] = (
        None
    ),
    kind: Annotated[SiteKind | None, typer.Option(help="only sites of this kind")] = None,
    max_distance_m: Annotated[float | None, typer.Option(help="farthest a household goes")] = None,
    keep_together: Annotated[
        KeepTogether | None, typer.Option(help="grid | village: keep its households together")
    ] = None,
    distance: Annotated[DistanceKind, typer.Option(help="straight | road")] = (
        DistanceKind.STRAIGHT
    ),
    no_priority: Annotated[
        bool, typer.Option("--no-priority", help="do not put 重点人群 first")
    ] = False,
    input_crs: Annotated[str, typer.Option("--crs", help="the hazard file's CRS")] = "wgs84",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="folder for lists, map and GeoJSON")
    ] = None,
    lang: Annotated[str, typer.Option(help="zh | en")] = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Make an optimal relocation plan, store it, and (with -o) write its evacuation lists
    per grid worker (XLSX, one CSV each), per-site lists, the GeoJSON and the map.
    """
    from gridmap import maps
    from gridmap.relocation import lists, plans

    request = plans.PlanRequest(
        county=county,
        hazard=_hazard(hazard, input_crs),
        villages=tuple(village or ()),
        grids=tuple(grid or ()),
        site_codes=tuple(site or ()),
        kind=kind,
        max_distance_m=max_distance_m,
        keep_together=keep_together,
        distance=distance,
        priority_first=not no_priority,
    )
    if output is not None and output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output} exists and is not a folder")
    written: list[str] = []
    with transaction(load_settings()) as session:
        result = plans.make(session, request, actor=SYSTEM.username)
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            by_worker = lists.worker_lists(session, result, lang=lang)
            sheets = {f"{wid} {name}": frame for wid, (name, frame) in by_worker.items()}
            book = output / f"plan-{result.id}-workers.xlsx"
            book.write_bytes(lists.to_xlsx(sheets, lang=lang, summary=result.summary))
            written.append(str(book))
            for wid, (_, frame) in by_worker.items():
                path = output / f"plan-{result.id}-worker-{wid}.csv"
                path.write_bytes(lists.to_csv(frame, lang=lang))
                written.append(str(path))
            per_site = output / f"plan-{result.id}-sites.xlsx"
            per_site.write_bytes(lists.to_xlsx(lists.site_lists(result, lang=lang), lang=lang))
            written.append(str(per_site))
            geo = output / f"plan-{result.id}.geojson"
            geo.write_text(json.dumps(lists.geojson(result), ensure_ascii=False, default=str))
            written.append(str(geo))
            page = output / f"plan-{result.id}-map.html"
            page.write_text(
                maps.inline_assets(maps.render(maps.plan_map(session, result, lang=lang))),
                encoding="utf-8",
            )
            written.append(str(page))

    def render(d: dict[str, Any]) -> None:
        s = d["summary"]
        proof = "optimal" if s["optimal"] else f"gap {s['gap']:.2%}"
        console.print(
            f"plan {d['id']}: {s['assigned']} of {s['households']} households placed at "
            f"{s['sites_used']} sites, {s['objective_m'] / 1000:,.1f} km in all "
            f"({proof}, {s['method']}, "
            f"{s['solve_s']:.2f} s); unassigned: {s['unassigned_by_reason'] or 0}"
        )
        for note in s["notes"]:
            console.print(f"  note: {note}")
        for path in d["written"]:
            console.print(f"  wrote {path}")

    emit({"id": result.id, "summary": result.summary, "written": written}, as_json, render)


@roads_app.command("synthetic")
def roads_synthetic(
    county: Annotated[str, typer.Option(help="county code")],
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Draw a plausible synthetic road network joining the county's villages and sites
    (flagged synthetic; replaces the county's network).
    """
    from gridmap.relocation import roads

    with transaction(load_settings()) as session:
        rows, _ = sites.listing(session, counties=[county], limit=100_000)
        lon, lat = sites.anchors(rows) if rows else (np.zeros(0), np.zeros(0))
        made = roads.build_synthetic(session, county, seed=seed, extra=np.column_stack((lon, lat)))
    emit(made, as_json, lambda d: console.print(f"{d['edges']} synthetic road edges"))
