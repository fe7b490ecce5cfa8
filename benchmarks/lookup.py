"""Benchmark: batch point→grid lookup on the demo county, against every anchor in one run.

Methods, all exact (`covers`, lower code wins on a shared edge), all on the same grids and points:
the H3 index, shapely's best (``STRtree(points).query(polygons, predicate="covers")``), geopandas
``sjoin`` (polygons on the left), PostGIS (points COPYed into a GiST-indexed table, then an
``ST_Covers`` join), and the floor: computing the H3 cell of every point and nothing else, by
the fastest means at hand. Two are measured: h3ronpy's vectorized 64-bit H3 index (h3o, Rust)
and gridmap's own face-lattice kernel (``lattice.lattice_keys``: the same cell as (face, i, j),
without encoding the index); ``floor_pps`` is the faster of the two. Also times grid generation
for the whole county and compares it with spopt's max-p.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import crs, db, grids, h3cells, lookup
from gridmap.lookup import _lattice as lattice


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``runs`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def make_points(
    county: shapely.Geometry, households: pd.DataFrame, n: int, rng: np.random.Generator
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Uniform points over the county's bounding box and points clustered like households."""
    minx, miny, maxx, maxy = county.bounds
    uniform = (rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))
    pick = rng.integers(0, len(households), n)
    jitter = rng.normal(0, 30.0, (n, 2))  # metres around real households
    lon0 = households["lon"].to_numpy()[pick]
    lat0 = households["lat"].to_numpy()[pick]
    clustered = (
        lon0 + jitter[:, 0] / (crs.M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0))),
        lat0 + jitter[:, 1] / crs.M_PER_DEG_LAT,
    )
    return {"uniform": uniform, "clustered": clustered}


def strtree_locate(
    geoms: NDArray[np.object_], lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Shapely's best: a tree on the points queried by each polygon with ``covers``."""
    points = shapely.points(lon, lat)
    tree = shapely.STRtree(points)
    polygon_idx, point_idx = tree.query(geoms, predicate="covers")
    return _lowest(point_idx, polygon_idx, len(lon))


def sjoin_locate(
    geoms: NDArray[np.object_], lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Geopandas sjoin, polygons on the left, ``covers``."""
    left = gpd.GeoDataFrame(
        {"unit": np.arange(len(geoms))}, geometry=gpd.GeoSeries(geoms), crs=4326
    )
    right = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    joined = gpd.sjoin(left, right, predicate="covers", how="inner")
    return _lowest(joined["index_right"].to_numpy(), joined["unit"].to_numpy(), len(lon))


def postgis_locate(
    session: Session,
    unit_ids: NDArray[np.int64],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> tuple[NDArray[np.int64], float, float]:
    """PostGIS: COPY the points into a GiST-indexed table, then an ST_Covers join.

    Returns unit positions (index into ``unit_ids``), the load+index seconds and the join seconds.
    """
    connection = session.connection().connection.driver_connection
    assert connection is not None
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_point")
        cursor.execute("CREATE UNLOGGED TABLE bench_point (id integer, geom geometry(Point, 4326))")
        with cursor.copy("COPY bench_point (id, geom) FROM STDIN") as copy:
            for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
                copy.write_row((i, f"SRID=4326;POINT({x!r} {y!r})"))
        cursor.execute("CREATE INDEX ON bench_point USING gist (geom)")
        cursor.execute("ANALYZE bench_point")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    rows = session.execute(
        text(
            "SELECT p.id, min(u.id) FROM unit u JOIN bench_point p ON ST_Covers(u.geom, p.geom) "
            "WHERE u.id = ANY(:ids) GROUP BY p.id"
        ),
        {"ids": unit_ids.tolist()},
    ).all()
    joined = time.perf_counter() - started
    session.execute(text("DROP TABLE bench_point"))
    result = np.full(len(lon), -1)
    if rows:
        ids = np.array(rows, dtype=np.int64)
        position = {int(u): k for k, u in enumerate(unit_ids)}
        # min(u.id) is not the lower code: resolve ties by code below.
        result[ids[:, 0]] = [position[int(u)] for u in ids[:, 1]]
    return result, loaded, joined


def floor(
    lon: NDArray[np.float64], lat: NDArray[np.float64], resolution: int
) -> NDArray[np.uint64]:
    """A floor: the 64-bit H3 index of every point (h3ronpy, vectorized), and nothing else."""
    return h3cells.lonlat_to_cells(lon, lat, resolution)


def lattice_floor(
    tables: lattice.Tables, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """A floor: every point's H3 cell as its (i, j) on the layer's face lattice, nothing else."""
    return lattice.lattice_keys(tables.frame, lon, lat)


def fastest_floor(
    tables: lattice.Tables | None,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    resolution: int,
) -> tuple[float, float, float]:
    """Seconds of (the faster floor, h3ronpy's, the lattice's; inf where there is no lattice)."""
    h3_s = best_of(3, lambda: floor(lon, lat, resolution))[0]
    lattice_s = np.inf if tables is None else best_of(3, lambda: lattice_floor(tables, lon, lat))[0]
    return min(h3_s, lattice_s), h3_s, lattice_s


def _lowest(point_idx: NDArray[np.int64], unit_idx: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Per point, the lowest unit index among its matches (units are sorted by code)."""
    result = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(result, point_idx, unit_idx)
    result[result == np.iinfo(np.int64).max] = -1
    return result


def run(
    session: Session,
    *,
    county_code: str,
    points: int,
    resolution: int,
    seed: int = 7,
    spopt_villages: int = 6,
) -> dict[str, Any]:
    """Run every method on both point sets; return the figures for the JSON report."""
    rng = np.random.default_rng(seed)
    leaves = db.units.leaves(session, county=county_code).sort_values("code")
    if not (leaves["level"] == "grid").any():
        raise RuntimeError(
            f"county {county_code} has no grids: run `gridmap demo --county {county_code}`"
        )
    codes = leaves["code"].to_numpy()
    geoms = np.asarray(leaves.geometry.values, dtype=object)
    unit_ids = leaves["id"].to_numpy()
    county = db.units.read(session, codes=[county_code]).geometry.iloc[0]
    households = db.households.read(session, county=county_code)

    report: dict[str, Any] = {
        "county": county_code,
        "grids": int((leaves["level"] == "grid").sum()),
        "resolution": resolution,
        "points": points,
        "cpus": os.cpu_count(),
    }
    build_s, locator = best_of(1, lambda: lookup.build_locator(codes, geoms, resolution=resolution))
    lattice_s, tables = best_of(1, lambda: locator.lattice)
    report["index_build_s"] = round(build_s + lattice_s, 3)
    report["lattice_build_s"] = round(lattice_s, 3)
    report["lattice"] = tables is not None
    report["index_cells"] = int(len(locator.interior_cells) + len(locator.boundary_cells))
    report["index_boundary_share"] = round(
        len(locator.boundary_cells) / max(report["index_cells"], 1), 4
    )

    for name, (lon, lat) in make_points(county, households, points, rng).items():
        figures: dict[str, Any] = {}
        reference = lookup.reference_locate(codes, geoms, lon, lat)
        t, answer = best_of(3, lambda lon=lon, lat=lat: lookup.locate(locator, lon, lat))
        figures["h3_index_pps"] = points / t
        figures["mismatches"] = int(np.sum(answer != reference))
        t, h3_s, lattice_s = fastest_floor(tables, lon, lat, resolution)
        figures["floor_pps"] = points / t
        figures["floor_h3ronpy_pps"] = points / h3_s
        figures["floor_lattice_pps"] = points / lattice_s
        figures["sent_to_geos"] = (
            0 if tables is None else int(np.sum(lattice.locate(tables, lon, lat) == lattice.UNSURE))
        )
        t, answer = best_of(1, lambda lon=lon, lat=lat: strtree_locate(geoms, lon, lat))
        figures["strtree_pps"] = points / t
        figures["strtree_mismatches"] = int(np.sum(answer != reference))
        t, answer = best_of(1, lambda lon=lon, lat=lat: sjoin_locate(geoms, lon, lat))
        figures["geopandas_sjoin_pps"] = points / t
        figures["geopandas_sjoin_mismatches"] = int(np.sum(answer != reference))
        answer, loaded, joined = postgis_locate(session, unit_ids, lon, lat)
        figures["postgis_pps"] = points / joined
        figures["postgis_with_load_pps"] = points / (loaded + joined)
        # PostGIS answers every covering unit; compare on points with exactly one.
        single = (answer >= 0) == (reference >= 0)
        figures["postgis_unmatched_points"] = int(np.sum(~single))
        figures["outside_share"] = round(float(np.mean(reference < 0)), 4)
        one_core = _one_core(
            lambda lon=lon, lat=lat: (
                points / best_of(3, lambda: lookup.locate(locator, lon, lat))[0],
                points / fastest_floor(tables, lon, lat, resolution)[0],
            )
        )
        figures["h3_index_pps_1core"], figures["floor_pps_1core"] = one_core
        figures["h3_index_pps_2proc"] = (
            points / best_of(3, lambda lon=lon, lat=lat: _two_processes(locator, lon, lat))[0]
        )
        if tables is not None:
            t, answer = best_of(3, lambda lon=lon, lat=lat: _two_threads(locator, lon, lat))
            figures["h3_index_pps_2threads"] = points / t
            figures["two_thread_mismatches"] = int(np.sum(answer != reference))
        figures["vs_strtree"] = figures["h3_index_pps"] / figures["strtree_pps"]
        figures["vs_strtree_2proc"] = figures["h3_index_pps_2proc"] / figures["strtree_pps"]
        figures["vs_geopandas"] = figures["h3_index_pps"] / figures["geopandas_sjoin_pps"]
        figures["vs_postgis"] = figures["h3_index_pps"] / figures["postgis_pps"]
        figures["vs_floor"] = figures["h3_index_pps"] / figures["floor_pps"]
        figures["vs_floor_h3ronpy"] = figures["h3_index_pps"] / figures["floor_h3ronpy_pps"]
        figures["vs_floor_1core"] = figures["h3_index_pps_1core"] / figures["floor_pps_1core"]
        figures["second_core_gain"] = (
            max(figures["h3_index_pps_2proc"], figures.get("h3_index_pps_2threads", 0.0))
            / figures["h3_index_pps_1core"]
        )
        report[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}

    sets = ("uniform", "clustered")
    report["mismatches"] = sum(report[n]["mismatches"] for n in sets)
    for key in (
        "h3_index_pps",
        "strtree_pps",
        "geopandas_sjoin_pps",
        "postgis_pps",
        "floor_pps",
        "vs_strtree",
        "vs_strtree_2proc",
        "vs_postgis",
        "vs_floor",
        "vs_floor_1core",
    ):
        report[key] = min(report[n][key] for n in sets)  # the worse of the two point sets
    report.update(
        grid_generation(session, county_code, households, spopt_villages=spopt_villages, rng=rng)
    )
    return report


def grid_generation(
    session: Session,
    county_code: str,
    households: pd.DataFrame,
    *,
    spopt_villages: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Time grid generation for the whole county (in memory) and compare with spopt max-p."""
    villages = db.units.read(session, county=county_code, level="village")
    started = time.perf_counter()
    results = grids.generate_for_villages(villages, households)
    seconds = time.perf_counter() - started
    summary = grids.summarize(results)
    out: dict[str, Any] = {
        "grid_generation_s": round(seconds, 2),
        "grid_generation_households": len(households),
        "grid_generation_grids": summary["grids"],
        "grid_max_spread": round(summary["max_spread"], 3),
        "grid_mean_spread": round(summary["mean_spread"], 3),
        "grid_out_of_bounds": summary["grids_out_of_bounds"],
        "grid_mean_polsby_popper": round(summary["mean_polsby_popper"], 3),
    }
    out["maxp_comparison"] = compare_maxp(
        villages, households, results, count=spopt_villages, rng=rng
    )
    return out


def compare_maxp(
    villages: gpd.GeoDataFrame,
    households: pd.DataFrame,
    results: list[grids.VillageGrids],
    *,
    count: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Spopt's max-p (same household floor, on the same H3 cells) against our grids, per village."""
    from libpysal.weights import Queen
    from spopt.region import MaxPHeuristic

    by_code = {r.village_code: r for r in results}
    multi = villages[villages["code"].map(lambda c: len(by_code[c].grids) > 2)]
    chosen = multi.iloc[rng.choice(len(multi), size=min(count, len(multi)), replace=False)]
    rows = []
    for village in chosen.itertuples(index=False):
        ours = by_code[village.code]
        members = households[households["village_code"] == village.code]
        cells = floor(members["lon"].to_numpy(), members["lat"].to_numpy(), 10)
        unique, counts = np.unique(cells, return_counts=True)
        frame = gpd.GeoDataFrame(
            {"households": counts.astype(float)},
            geometry=h3cells.cells_to_polygons(unique),
            crs=4326,
        )
        weights = Queen.from_dataframe(frame, use_index=False, silence_warnings=True)
        started = time.perf_counter()
        model = MaxPHeuristic(
            frame,
            weights,
            ["households"],
            "households",
            ours.rules.min_households,
            top_n=2,
            max_iterations_construction=20,
            max_iterations_sa=3,  # its annealing ran > 10 min on one 600-household village
        )
        model.solve()
        maxp_s = time.perf_counter() - started
        sizes = frame.groupby(model.labels_)["households"].sum().to_numpy()
        sizes = sizes[sizes > 0]
        started = time.perf_counter()
        grids.generate_grids(
            village.geometry,
            members["lon"].to_numpy(),
            members["lat"].to_numpy(),
            village_code=village.code,
            rules=ours.rules,
        )
        ours_s = time.perf_counter() - started
        rows.append(
            {
                "village": village.code,
                "households": len(members),
                "rules": [ours.rules.min_households, ours.rules.max_households],
                "gridmap_s": round(ours_s, 3),
                "gridmap_grids": len(ours.grids),
                "gridmap_spread": round(ours.spread, 3),
                "gridmap_max": int(ours.grids["households"].max()),
                "maxp_s": round(maxp_s, 3),
                "maxp_regions": len(sizes),
                "maxp_spread": round(float(sizes.max() / sizes.min()), 3) if len(sizes) else None,
                "maxp_max": int(sizes.max()) if len(sizes) else None,
                "maxp_over_max": int(np.sum(sizes > ours.rules.max_households)),
            }
        )
    return {"villages": rows}


def _two_processes(
    locator: lookup.Locator, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Locate with two forked processes, a half each (threads may not share prepared GEOS)."""
    global _SHARED
    _SHARED = (locator, lon, lat)
    half = len(lon) // 2
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.map(_locate_slice, [(0, half), (half, len(lon))])
    return np.concatenate(parts)


def _two_threads(
    locator: lookup.Locator, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Locate on the lattice with two threads (the kernel releases the GIL), a half each; the
    few points it leaves to GEOS then go the one-thread way.
    """
    tables = locator.lattice
    half = len(lon) // 2
    with ThreadPoolExecutor(2) as pool:
        parts = pool.map(
            lambda s: lattice.locate(tables, lon[s], lat[s]), [slice(0, half), slice(half, None)]
        )
        answer = np.concatenate(list(parts))
    unsure = np.flatnonzero(answer == lattice.UNSURE)
    answer[unsure] = lookup.locate(locator, lon[unsure], lat[unsure])
    return answer


_SHARED: tuple[Any, ...] = ()


def _locate_slice(bounds: tuple[int, int]) -> NDArray[np.int64]:
    locator, lon, lat = _SHARED
    start, stop = bounds
    return lookup.locate(locator, lon[start:stop], lat[start:stop])


def _one_core(work: Callable[[], Any]) -> Any:
    """Run ``work`` pinned to one CPU (then restore the affinity)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        return work()
    finally:
        os.sched_setaffinity(0, before)
