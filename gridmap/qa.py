"""Topology QA (拓扑检查): gaps, overlaps, slivers, orphans and duplicates in the hierarchy.

Checks every parent's children for 无缝隙、不交叉 (no gaps, no overlaps), children that spill over
their parent's line (for grids: 不跨村, no grid across a village line), units without a loaded
parent, duplicate codes and invalid geometry. Areas are in m², measured in the CGCS2000
Gauss–Krüger zone of each feature; each finding carries a location (a point inside it).
The QA reports; it never fixes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import crs, db, grids, hierarchy

CHECK_NAMES_ZH = {
    "invalid_geometry": "无效几何",
    "overlap": "重叠",
    "gap": "缝隙",
    "outside_parent": "超出上级边界",
    "crosses_village": "网格跨村",
    "orphan": "无上级单元",
    "duplicate_code": "重复编码",
    "grid_households": "网格户数超出范围",
    "coverage_edges": "网格边线不吻合",
    "multipart_grid": "网格不连续",
}
# Below this area a difference is floating-point noise from clipping, not a drawing error.
DEFAULT_MIN_AREA_M2 = 1.0


@dataclass(slots=True)
class Finding:
    """One problem: which check, which units, how big and where."""

    check: str
    level: str
    codes: list[str]
    area_m2: float
    lon: float
    lat: float
    message: str

    @property
    def check_zh(self) -> str:
        """Chinese name of the check, for reports."""
        return CHECK_NAMES_ZH[self.check]


@dataclass(slots=True)
class QAReport:
    """All findings for one county and the counts per check."""

    county_code: str
    units: dict[str, int]
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Findings per check."""
        return {name: sum(f.check == name for f in self.findings) for name in CHECK_NAMES_ZH}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "county_code": self.county_code,
            "units": self.units,
            "counts": self.counts,
            "findings": [{**asdict(f), "check_zh": f.check_zh} for f in self.findings],
        }


def sibling_overlaps(
    layer: gpd.GeoDataFrame, *, level: str, min_area_m2: float = DEFAULT_MIN_AREA_M2
) -> list[Finding]:
    """Overlaps between units of one layer (pairs are found through an STRtree, not all pairs)."""
    geoms = np.asarray(layer.geometry.values, dtype=object)
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not left.size:
        return []
    pieces = shapely.intersection(geoms[left], geoms[right])
    pieces = _polygonal(pieces)
    areas = crs.areas_m2(pieces)
    findings = []
    codes = layer["code"].to_numpy()
    for k in np.flatnonzero(areas >= min_area_m2):
        point = shapely.point_on_surface(pieces[k])
        findings.append(
            Finding(
                "overlap",
                level,
                [str(codes[left[k]]), str(codes[right[k]])],
                float(areas[k]),
                point.x,
                point.y,
                f"{codes[left[k]]} 与 {codes[right[k]]} 重叠 {areas[k]:.1f} m² "
                f"({codes[left[k]]} overlaps {codes[right[k]]})",
            )
        )
    return findings


def gaps_inside(
    parent: shapely.Geometry,
    children: gpd.GeoDataFrame,
    *,
    level: str,
    parent_code: str,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
) -> list[Finding]:
    """Parts of ``parent`` that no child covers (缝隙), each with its area and location."""
    union = shapely.union_all(np.asarray(children.geometry.values, dtype=object))
    return _findings_from(
        shapely.difference(parent, union),
        "gap",
        level,
        [parent_code],
        min_area_m2,
        lambda a: f"{parent_code} 内有 {a:.1f} m² 未被下级覆盖 (gap inside {parent_code})",
    )


def outside_parent(
    parent: shapely.Geometry,
    children: gpd.GeoDataFrame,
    *,
    level: str,
    parent_code: str,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
) -> list[Finding]:
    """Children's area that spills beyond their parent's boundary."""
    geoms = np.asarray(children.geometry.values, dtype=object)
    spill = _polygonal(shapely.difference(geoms, parent))
    areas = crs.areas_m2(spill)
    check = "crosses_village" if level == "grid" else "outside_parent"
    findings = []
    for k in np.flatnonzero(areas >= min_area_m2):
        code = str(children["code"].iloc[k])
        point = shapely.point_on_surface(spill[k])
        findings.append(
            Finding(
                check,
                level,
                [code, parent_code],
                float(areas[k]),
                point.x,
                point.y,
                f"{code} 有 {areas[k]:.1f} m² 超出 {parent_code} "
                f"({code} spills {areas[k]:.1f} m² outside {parent_code})",
            )
        )
    return findings


def gaps_between(
    target: shapely.Geometry,
    neighbours: gpd.GeoDataFrame,
    *,
    level: str,
    code: str,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
) -> list[Finding]:
    """Slivers enclosed between ``target`` and its neighbours (holes of their union touching it)."""
    union = shapely.union_all(
        np.append(np.asarray(neighbours.geometry.values, dtype=object), target)
    )
    holes = [
        shapely.Polygon(ring) for polygon in shapely.get_parts(union) for ring in polygon.interiors
    ]
    touching = [h for h in holes if shapely.intersects(h, shapely.buffer(target, 1e-7))]
    if not touching:
        return []
    pieces = np.array(touching, dtype=object)
    areas = crs.areas_m2(pieces)
    findings = []
    for k in np.flatnonzero(areas >= min_area_m2):
        others = neighbours["code"][
            shapely.intersects(neighbours.geometry.values, shapely.buffer(pieces[k], 1e-7))
        ]
        point = shapely.point_on_surface(pieces[k])
        findings.append(
            Finding(
                "gap",
                level,
                [code, *map(str, others)],
                float(areas[k]),
                point.x,
                point.y,
                f"{code} 与相邻单元之间有 {areas[k]:.1f} m² 缝隙 "
                f"(gap between {code} and {', '.join(map(str, others))})",
            )
        )
    return findings


def check_county(
    session: Session,
    county_code: str,
    *,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
    generation: int | None = None,
) -> QAReport:
    """Run every check on one county and its neighbours; raise UnknownCodeError if not loaded."""
    county = hierarchy.get_unit(session, county_code, level="county", generation=generation)
    layer = db.units.read(session, county=county_code, generation=generation)
    box = shapely.bounds(shapely.buffer(county.geometry, 0.05))
    neighbours = db.units.read(session, level="county", bbox=tuple(box), generation=generation)
    neighbours = neighbours[neighbours["code"] != county_code]
    neighbours = neighbours[shapely.dwithin(neighbours.geometry.values, county.geometry, 1e-3)]
    report = QAReport(
        county_code=county_code,
        units={
            lvl: int((layer["level"] == lvl).sum())
            for lvl in ("county", "township", "village", "grid")
        },
    )
    findings = report.findings
    findings += _invalid(layer)
    findings += _duplicates(layer)
    findings += _orphans(layer)
    findings += [
        f
        for f in sibling_overlaps(
            pd.concat([layer[layer["level"] == "county"], neighbours]),
            level="county",
            min_area_m2=min_area_m2,
        )
        if county_code in f.codes  # neighbours' overlaps among themselves are their own report
    ]
    findings += gaps_between(
        county.geometry, neighbours, level="county", code=county_code, min_area_m2=min_area_m2
    )
    for level, parent_level in (
        ("township", "county"),
        ("village", "township"),
        ("grid", "village"),
    ):
        children = layer[layer["level"] == level]
        parents = layer[layer["level"] == parent_level].set_index("code")
        for parent_code, group in children.groupby("parent_code"):
            if parent_code not in parents.index:
                continue
            parent = parents.geometry[parent_code]
            findings += sibling_overlaps(group, level=level, min_area_m2=min_area_m2)
            findings += gaps_inside(
                parent, group, level=level, parent_code=str(parent_code), min_area_m2=min_area_m2
            )
            findings += outside_parent(
                parent, group, level=level, parent_code=str(parent_code), min_area_m2=min_area_m2
            )
            if level == "grid":
                findings += grid_rule_findings(parents.loc[parent_code], group)
    return report


def _invalid(layer: gpd.GeoDataFrame) -> list[Finding]:
    geoms = np.asarray(layer.geometry.values, dtype=object)
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    findings = []
    for k in bad:
        point = shapely.point_on_surface(shapely.make_valid(geoms[k]))
        reason = shapely.is_valid_reason(geoms[k])
        code = str(layer["code"].iloc[k])
        findings.append(
            Finding(
                "invalid_geometry",
                str(layer["level"].iloc[k]),
                [code],
                0.0,
                point.x,
                point.y,
                f"{code} 几何无效: {reason} (invalid geometry)",
            )
        )
    return findings


def _duplicates(layer: gpd.GeoDataFrame) -> list[Finding]:
    dup = layer[layer["code"].duplicated(keep=False)]
    findings = []
    for code, group in dup.groupby("code"):
        point = shapely.point_on_surface(group.geometry.iloc[0])
        findings.append(
            Finding(
                "duplicate_code",
                str(group["level"].iloc[0]),
                [str(code)],
                0.0,
                point.x,
                point.y,
                f"编码 {code} 重复 {len(group)} 次 (duplicate code)",
            )
        )
    return findings


def _orphans(layer: gpd.GeoDataFrame) -> list[Finding]:
    present = set(layer["code"])
    lower = layer[(layer["level"] != "county") & ~layer["parent_code"].isin(present)]
    findings = []
    for row in lower.itertuples(index=False):
        point = shapely.point_on_surface(row.geometry)
        findings.append(
            Finding(
                "orphan",
                row.level,
                [row.code],
                0.0,
                point.x,
                point.y,
                f"{row.code} 的上级 {row.parent_code} 不存在 (parent not loaded)",
            )
        )
    return findings


def _findings_from(
    geom: shapely.Geometry,
    check: str,
    level: str,
    codes: list[str],
    min_area_m2: float,
    message: Any,
) -> list[Finding]:
    parts = _polygonal(shapely.get_parts(geom))
    if not len(parts):
        return []
    areas = crs.areas_m2(parts)
    findings = []
    for k in np.flatnonzero(areas >= min_area_m2):
        point = shapely.point_on_surface(parts[k])
        findings.append(
            Finding(check, level, codes, float(areas[k]), point.x, point.y, message(areas[k]))
        )
    return findings


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the areal part of each geometry (intersections also yield lines and points)."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.empty(len(geoms), dtype=object)
    for k, geom in enumerate(geoms):
        if shapely.get_type_id(geom) in (3, 6):
            out[k] = geom
            continue
        parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
        out[k] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def grid_rule_findings(village: pd.Series, layer: gpd.GeoDataFrame) -> list[Finding]:
    """Grid-specific rules: household bounds, matching edges (a valid coverage), one part each."""
    findings: list[Finding] = []
    geoms = np.asarray(layer.geometry.values, dtype=object)
    rules = grids.rules_for(village.get("urban_rural"), str(village.get("kind")))
    code = str(village.name)
    if len(layer) > 1:
        for row in layer.itertuples(index=False):
            if not rules.min_households <= row.households <= rules.max_households:
                point = shapely.point_on_surface(row.geometry)
                findings.append(
                    Finding(
                        "grid_households",
                        "grid",
                        [row.code],
                        0.0,
                        point.x,
                        point.y,
                        f"{row.code} 有 {row.households} 户, 应在 {rules.min_households}–"
                        f"{rules.max_households} 户之间 (households outside the grid rules)",
                    )
                )
    edges = shapely.coverage_invalid_edges(geoms)
    for k in np.flatnonzero(~shapely.is_empty(edges)):
        point = shapely.point_on_surface(edges[k])
        findings.append(
            Finding(
                "coverage_edges",
                "grid",
                [str(layer["code"].iloc[k]), code],
                0.0,
                point.x,
                point.y,
                f"{layer['code'].iloc[k]} 的边线与相邻网格不吻合 (edges do not match)",
            )
        )
    if shapely.get_num_geometries(village.geometry) == 1:
        for k in np.flatnonzero(shapely.get_num_geometries(geoms) > 1):
            point = shapely.point_on_surface(geoms[k])
            findings.append(
                Finding(
                    "multipart_grid",
                    "grid",
                    [str(layer["code"].iloc[k])],
                    0.0,
                    point.x,
                    point.y,
                    f"{layer['code'].iloc[k]} 由多块组成 (grid is not contiguous)",
                )
            )
    return findings
