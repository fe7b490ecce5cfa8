"""Uniform comprehensive grids (综合网格): 全覆盖、无缝隙、不交叉、不跨村.

Inside each village or community we split the households into grids whose counts fall between a
minimum and a maximum (communities 300–500, villages 100–300 by default; 城乡分类代码 picks the
rule). Grids are unions of H3 cells clipped to the village: the cells are split by recursive
bisection along the longer axis at the household-weighted cut, which keeps grids compact and
balanced; each side is kept connected; the last grid is the village minus the others, so the
grids tile the village exactly. Codes are village + 3 digits in reading order (west→east,
north→south). The same checks validate imported, hand-drawn grids.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import codes, crs, db, geometry, h3cells
from gridmap.errors import HierarchyError, UnknownCodeError

GRID_SIZE_DEG = geometry.PRECISION_DEG


@dataclass(frozen=True, slots=True)
class GridRules:
    """Household bounds for one grid."""

    min_households: int
    max_households: int

    def __post_init__(self) -> None:
        if not 0 < self.min_households <= self.max_households:
            raise ValueError(
                f"grid rules need 0 < min ({self.min_households}) <= max ({self.max_households})"
            )


URBAN_RULES = GridRules(300, 500)
# Balance goal: the largest grid of a village holds at most this many times the smallest.
MAX_SPREAD = 1.5
# A bisection whose halves miss their household target by more than this share tries another axis.
BALANCE_TOLERANCE = 0.1
# Finer cells split dense hamlets better but cost time: stop refining past this many cells.
MAX_CELLS = 60_000
RURAL_RULES = GridRules(100, 300)


def rules_for(
    urban_rural: str | None,
    kind: str,
    *,
    urban: GridRules = URBAN_RULES,
    rural: GridRules = RURAL_RULES,
) -> GridRules:
    """Urban rules for 城乡分类代码 1xx (城镇) or, lacking a code, for communities; else rural."""
    if urban_rural:
        return urban if str(urban_rural).startswith("1") else rural
    return urban if kind == "community" else rural


@dataclass(slots=True)
class VillageGrids:
    """Grids of one village and how well they meet the rules."""

    village_code: str
    grids: gpd.GeoDataFrame  # code, households, persons, geometry
    rules: GridRules
    notes: list[str] = field(default_factory=list)

    @property
    def spread(self) -> float:
        """Max/min household count among the village's grids (1.0 for a single grid)."""
        counts = self.grids["households"].to_numpy()
        if len(counts) <= 1:
            return 1.0
        return float(counts.max() / max(counts.min(), 1))


def grid_count(households: int, rules: GridRules) -> int:
    """How many grids a village gets: within both bounds if possible, near the middle of them."""
    if households < rules.min_households:
        return 1
    low = math.ceil(households / rules.max_households)
    high = max(1, households // rules.min_households)
    target = households / ((rules.min_households + rules.max_households) / 2)
    return int(min(max(round(target), low), high)) if low <= high else low


def generate_grids(
    village: shapely.Geometry,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    *,
    village_code: str,
    rules: GridRules,
    persons: NDArray[np.int64] | None = None,
    resolution: int = 10,
) -> VillageGrids:
    """Split ``village`` into contiguous grids holding between min and max households each."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    persons = np.ones(len(lon), dtype=np.int64) if persons is None else np.asarray(persons)
    k = grid_count(len(lon), rules)
    notes: list[str] = []
    if k == 1:
        pieces = np.array([village], dtype=object)
    else:
        pieces = None
        best_spread = np.inf
        for res in _finer_resolutions(village, resolution):
            labels, cells = _partition_cells(village, lon, lat, k, res)
            candidate = _clip_regions(village, cells, labels, k)
            counts = np.bincount(
                geometry.covering_index(lon, lat, candidate), minlength=len(candidate)
            )
            spread = counts.max() / max(counts.min(), 1)
            in_bounds = (
                counts.min() >= rules.min_households and counts.max() <= rules.max_households
            )
            if pieces is None or (in_bounds and spread < best_spread):
                pieces, best_spread = candidate, spread
            if in_bounds and spread <= MAX_SPREAD:
                break
            notes.append(f"resolution {res}: spread {spread:.2f}, trying finer cells")
    assert pieces is not None
    owner = geometry.covering_index(lon, lat, pieces)
    households = np.bincount(owner[owner >= 0], minlength=len(pieces))
    people = np.bincount(owner[owner >= 0], weights=persons[owner >= 0], minlength=len(pieces))
    points = shapely.point_on_surface(pieces)
    order = codes.reading_order(shapely.get_x(points), shapely.get_y(points))
    frame = gpd.GeoDataFrame(
        {
            "code": [codes.grid_code(village_code, i + 1) for i in range(len(order))],
            "households": households[order],
            "persons": people[order].astype(np.int64),
        },
        geometry=gpd.GeoSeries(geometry.to_multipolygons(pieces[order]), crs="EPSG:4326"),
    )
    return VillageGrids(village_code, frame, rules, notes)


def polsby_popper(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    """Compactness 4πA/P² (1 for a circle), measured in local metres."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.empty(len(geoms))
    for i, geom in enumerate(geoms):
        origin = (geom.centroid.x, geom.centroid.y)
        metric = shapely.transform(geom, lambda xy, o=origin: crs.to_metres(xy[:, 0], xy[:, 1], o))
        out[i] = 4 * math.pi * metric.area / max(metric.length, 1e-9) ** 2
    return out


def check_grids(
    village: shapely.Geometry, grids: gpd.GeoDataFrame, rules: GridRules | None = None
) -> dict[str, Any]:
    """Validate a village's grids (generated or hand-drawn): coverage, contiguity, counts."""
    geoms = np.asarray(grids.geometry.values, dtype=object)
    union = shapely.union_all(geoms)
    sym = shapely.symmetric_difference(union, village)
    gap_or_spill_m2 = (
        float(crs.areas_m2(np.array([sym], dtype=object))[0]) if not sym.is_empty else 0.0
    )
    overlap_m2 = 0.0
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    if keep.any():
        overlap_m2 = float(
            crs.areas_m2(shapely.intersection(geoms[left[keep]], geoms[right[keep]])).sum()
        )
    parts = shapely.get_num_geometries(geoms)
    village_parts = shapely.get_num_geometries(village)
    report: dict[str, Any] = {
        "grids": len(geoms),
        "coverage_valid": bool(shapely.coverage_is_valid(geoms)),
        "invalid_edges": int(np.sum(~shapely.is_empty(shapely.coverage_invalid_edges(geoms)))),
        "gap_or_spill_m2": gap_or_spill_m2,
        "overlap_m2": overlap_m2,
        "multipart_grids": int(np.sum(parts > 1)) if village_parts == 1 else 0,
    }
    if rules is not None and "households" in grids:
        counts = grids["households"].to_numpy()
        report["below_min"] = int(np.sum(counts < rules.min_households)) if len(counts) > 1 else 0
        report["above_max"] = int(np.sum(counts > rules.max_households))
    return report


def generate_for_villages(
    villages: gpd.GeoDataFrame,
    households: pd.DataFrame,
    *,
    urban: GridRules = URBAN_RULES,
    rural: GridRules = RURAL_RULES,
    resolution: int = 10,
) -> list[VillageGrids]:
    """Grids for every village of a frame (code, kind, urban_rural, geometry) and its households."""
    grouped = dict(households.groupby("village_code").indices)
    lon_all, lat_all = households["lon"].to_numpy(), households["lat"].to_numpy()
    persons_all = households["persons"].to_numpy() if "persons" in households else None
    results = []
    for village in villages.itertuples(index=False):
        idx = grouped.get(village.code, np.zeros(0, dtype=np.int64))
        rules = rules_for(
            getattr(village, "urban_rural", None), village.kind, urban=urban, rural=rural
        )
        results.append(
            generate_grids(
                village.geometry,
                lon_all[idx],
                lat_all[idx],
                village_code=village.code,
                rules=rules,
                persons=None if persons_all is None else persons_all[idx],
                resolution=resolution,
            )
        )
    return results


def _finer_resolutions(village: shapely.Geometry, resolution: int) -> list[int]:
    """The starting resolution, then up to two finer ones while the village stays affordable."""
    area_m2 = float(crs.areas_m2(np.array([village], dtype=object))[0])
    cell_m2 = 15_047.5  # mean area of an H3 resolution-10 cell
    return [
        res
        for res in range(resolution, resolution + 3)
        if res == resolution or area_m2 / (cell_m2 * 7.0 ** (res - 10)) <= MAX_CELLS
    ]


def _partition_cells(
    village: shapely.Geometry, lon: NDArray[np.float64], lat: NDArray[np.float64], k: int, res: int
) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """Label the village's H3 cells 0..k-1 into connected, household-balanced groups."""
    _, cells = h3cells.polygons_to_cells([village], res, "intersects")
    point_cells = h3cells.lonlat_to_cells(lon, lat, res)
    cells = np.unique(np.concatenate((cells, point_cells)))
    weights = np.bincount(np.searchsorted(cells, point_cells), minlength=len(cells)).astype(float)
    clng, clat = h3cells.cells_to_lonlat(cells)
    xy = crs.to_metres(clng, clat, (float(clng.mean()), float(clat.mean())))
    adjacency = _adjacency(cells)
    labels = np.zeros(len(cells), dtype=np.int64)
    _bisect(np.arange(len(cells)), k, 0, weights, xy, adjacency, labels)
    return labels, cells


def _adjacency(cells: NDArray[np.uint64]) -> csr_matrix:
    """Cell adjacency restricted to ``cells`` (sorted), as a sparse matrix."""
    offsets, flat = h3cells.cells_to_disks(cells, 1)
    rows = np.repeat(np.arange(len(cells)), np.diff(offsets))
    pos = np.searchsorted(cells, flat)
    pos = np.clip(pos, 0, len(cells) - 1)
    hit = cells[pos] == flat
    rows, cols = rows[hit], pos[hit]
    keep = rows != cols
    data = np.ones(int(keep.sum()), dtype=np.int8)
    return csr_matrix((data, (rows[keep], cols[keep])), shape=(len(cells), len(cells)))


def _bisect(
    members: NDArray[np.int64],
    k: int,
    first_label: int,
    weights: NDArray[np.float64],
    xy: NDArray[np.float64],
    adjacency: csr_matrix,
    labels: NDArray[np.int64],
) -> None:
    """Split ``members`` into ``k`` groups labelled from ``first_label`` (recursive bisection)."""
    if k == 1 or len(members) <= 1:
        labels[members] = first_label
        return
    k_left = k // 2
    w = weights[members]
    total = w.sum()
    target = total * k_left / k
    local = xy[members] - xy[members].mean(axis=0)
    # Cut across the longer axis (principal component of the cells, not weighted by households
    # so empty mountains still count toward shape). Keeping both sides connected can move a big
    # piece of a concave village across the cut; if that unbalances the halves, the shorter
    # axis gets a try and the better-balanced split wins.
    _, _, vt = np.linalg.svd(local, full_matrices=False)
    best_split: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
    best_error = np.inf
    for axis in vt[: min(2, len(vt))]:
        left, right = _cut(members, local @ axis, w, target)
        left, right = _keep_connected(left, right, weights, adjacency)
        error = abs(weights[left].sum() - target)
        if error < best_error:
            best_split, best_error = (left, right), error
        if error <= BALANCE_TOLERANCE * target:
            break
    assert best_split is not None
    left, right = best_split
    _bisect(left, k_left, first_label, weights, xy, adjacency, labels)
    _bisect(right, k - k_left, first_label + k_left, weights, xy, adjacency, labels)


def _cut(
    members: NDArray[np.int64],
    projection: NDArray[np.float64],
    w: NDArray[np.float64],
    target: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split ``members`` along ``projection`` where the running household sum meets ``target``."""
    order = np.argsort(projection, kind="stable")
    cumulative = np.cumsum(w[order])
    error = np.abs(cumulative - target)
    best = np.flatnonzero(error <= error.min() + 1e-9)
    cut = int(best[len(best) // 2]) + 1  # middle of a flat (empty) stretch keeps shapes compact
    cut = min(max(cut, 1), len(members) - 1)
    return members[order[:cut]], members[order[cut:]]


def _keep_connected(
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    weights: NDArray[np.float64],
    adjacency: csr_matrix,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Move stray components of each side to the other side, so both are connected."""
    for _ in range(4):
        moved = False
        for side, other in ((0, 1), (1, 0)):
            groups = [left, right]
            members = groups[side]
            if len(members) <= 1:
                continue
            sub = adjacency[members][:, members]
            n, comp = connected_components(sub, directed=False)
            if n <= 1:
                continue
            size = np.bincount(comp, weights=weights[members] + 1e-6)
            main = int(np.argmax(size))
            stray = members[comp != main]
            groups[side] = members[comp == main]
            groups[other] = np.concatenate((groups[other], stray))
            left, right = groups
            moved = True
        if not moved:
            break
    return left, right


def _clip_regions(
    village: shapely.Geometry, cells: NDArray[np.uint64], labels: NDArray[np.int64], k: int
) -> NDArray[np.object_]:
    """Grid polygons: each label's cells clipped to the village (one snap grid, so edges match)."""
    polygons = shapely.set_precision(h3cells.cells_to_polygons(cells), GRID_SIZE_DEG)
    village = shapely.set_precision(village, GRID_SIZE_DEG)
    pieces = np.empty(k, dtype=object)
    for label in range(k):
        region = shapely.union_all(polygons[labels == label], grid_size=GRID_SIZE_DEG)
        pieces[label] = shapely.intersection(village, region, grid_size=GRID_SIZE_DEG)
    pieces = geometry.absorb_fragments(pieces)
    kept: NDArray[np.object_] = pieces[~shapely.is_empty(pieces)]
    return kept


def generate_for_county(
    session: Session,
    county_code: str,
    *,
    villages: list[str] | None = None,
    urban: GridRules = URBAN_RULES,
    rural: GridRules = RURAL_RULES,
    resolution: int = 10,
) -> dict[str, Any]:
    """Draw grids for a county's villages (or some of them) as one new generation."""
    started = time.perf_counter()
    layer = db.units.read(session, county=county_code, level="village")
    if villages is not None:
        missing = sorted(set(villages) - set(layer["code"]))
        if missing:
            raise UnknownCodeError(
                f"no current village {', '.join(missing[:5])} in {county_code}", codes=missing
            )
        layer = layer[layer["code"].isin(villages)]
    if layer.empty:
        raise HierarchyError(
            f"county {county_code} has no villages: import them or run "
            f"`gridmap demo --county {county_code}`"
        )
    households = db.households.read(session, county=county_code, villages=list(layer["code"]))
    results = generate_for_villages(
        layer, households, urban=urban, rural=rural, resolution=resolution
    )
    elapsed = time.perf_counter() - started

    generation = db.generations.open_generation(
        session,
        kind="grids",
        county_code=county_code,
        description=f"grids for {len(layer)} villages of {county_code}",
    )
    old = db.units.read(session, county=county_code, level="grid")
    old = old[old["parent_code"].isin(layer["code"])]
    db.units.retire(session, list(old["id"]), generation=generation.id)
    by_code = layer.set_index("code")
    frames = []
    for result in results:
        village = by_code.loc[result.village_code]
        frames.append(
            result.grids.assign(
                name=[f"{village['name']}第{i + 1}网格" for i in range(len(result.grids))],
                level="grid",
                kind="grid",
                parent_code=result.village_code,
                county_code=county_code,
                urban_rural=village["urban_rural"],
                synthetic=bool(village["synthetic"]),
                source="gridmap.grids",
                properties=[{"rules": [result.rules.min_households, result.rules.max_households]}]
                * len(result.grids),
            )
        )
    grids = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    db.units.insert_frame(session, grids, generation=generation.id)
    owner = _owner_by_village(results, households)
    db.households.set_grids(session, households["id"].to_numpy(), owner)
    session.flush()
    return summarize(results, county_code=county_code, generation=generation.id, seconds=elapsed)


def summarize(results: list[VillageGrids], **extra: Any) -> dict[str, Any]:
    """Counts, bounds and balance of generated grids: what the grid-generation target checks."""
    spreads = np.array([r.spread for r in results])
    counts = np.concatenate([r.grids["households"].to_numpy() for r in results])
    multi = [r for r in results if len(r.grids) > 1]
    out_of_bounds = sum(
        int(
            (
                (r.grids["households"] < r.rules.min_households)
                | (r.grids["households"] > r.rules.max_households)
            ).sum()
        )
        for r in multi
    )
    geoms = np.concatenate([np.asarray(r.grids.geometry.values, dtype=object) for r in results])
    return {
        **extra,
        "villages": len(results),
        "grids": len(counts),
        "households": int(counts.sum()),
        "single_grid_villages": len(results) - len(multi),
        "grids_out_of_bounds": out_of_bounds,
        "max_spread": float(spreads.max()) if len(spreads) else 1.0,
        "mean_spread": float(spreads.mean()) if len(spreads) else 1.0,
        "villages_spread_over_1_5": int((spreads > 1.5).sum()),
        "mean_polsby_popper": float(polsby_popper(geoms).mean()) if len(geoms) else 0.0,
    }


def _owner_by_village(results: list[VillageGrids], households: pd.DataFrame) -> list[str | None]:
    """Grid code of each household row (in the frame's order)."""
    codes_out = np.full(len(households), None, dtype=object)
    index = dict(households.groupby("village_code").indices)
    lon, lat = households["lon"].to_numpy(), households["lat"].to_numpy()
    for result in results:
        rows = index.get(result.village_code)
        if rows is None:
            continue
        owner = geometry.covering_index(lon[rows], lat[rows], result.grids.geometry.values)
        grid_codes = result.grids["code"].to_numpy()
        codes_out[rows] = np.where(owner >= 0, grid_codes[np.maximum(owner, 0)], None)
    return codes_out.tolist()
