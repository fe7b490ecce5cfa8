"""Validation and repair of input geometry (几何校验): clear errors naming feature and problem.

Every polygon that reaches PostGIS passes through here: NaN/inf, out-of-range and swapped lat/lon,
empty and non-polygonal shapes are refused; self-intersections are repaired with make_valid and
the area the repair changed is reported; Z is dropped; everything becomes a MultiPolygon.

Also the one point-in-polygon rule of gridmap, ``covering_index``: the polygon that covers a
point (edges and vertices included), the lowest index on a shared edge or vertex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

import shapely

from gridmap import crs
from gridmap.errors import CoordinateOutOfRangeError, InvalidGeometryError

# gridmap serves China: a feature outside this box (with a margin) is in the wrong CRS or swapped.
CHINA_LON = (72.0, 136.0)
CHINA_LAT = (3.0, 54.5)
POLYGONAL = ("Polygon", "MultiPolygon")
# Stored coordinates snap to 1e-9° (0.1 mm): far below survey precision, and it makes the edges
# that neighbouring units (and grids built from H3 cells) share bit-identical.
PRECISION_DEG = 1e-9
# A village boundary has hundreds to a few thousand vertices; a county's tens of thousands.
# More is a mis-digitised or densified file that would slow every map and lookup build.
MAX_VERTICES = 100_000
# make_valid may add at most this share of a polygon's outline as area outside it, or drop as
# much of what its rings enclose; more (a hole drawn outside its shell becomes a second polygon
# elsewhere, a doubly wound ring loses its inner part) is refused with the figures.
MAX_REPAIR_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Repair:
    """A geometry make_valid changed, and by how much."""

    index: int
    label: str
    reason: str
    area_before_m2: float
    area_after_m2: float

    @property
    def area_change_m2(self) -> float:
        """Absolute change in area caused by the repair."""
        return abs(self.area_after_m2 - self.area_before_m2)


def describe(index: int, label: str | None) -> str:
    """Name a feature in messages: its position and, when known, its code."""
    return f"feature {index}" + (f" ({label})" if label else "")


def check_polygon_coordinates(geoms: NDArray[np.object_], labels: list[str]) -> None:
    """Refuse NaN/inf and coordinates outside lon/lat ranges or outside China, naming swaps."""
    for index, geom in enumerate(geoms):
        coords = shapely.get_coordinates(geom)
        if coords.size == 0:
            continue
        name = describe(index, labels[index])
        if not np.isfinite(coords).all():
            raise CoordinateOutOfRangeError(
                f"{name} has NaN or infinite coordinates; fix the vertices in GIS",
                feature=index,
                code=labels[index],
            )
        lon, lat = coords[:, 0], coords[:, 1]
        in_box = _in_china_box(lon, lat)
        if in_box.all():
            continue
        if _in_china_box(lat, lon).all():
            raise CoordinateOutOfRangeError(
                f"{name} has lon/lat swapped: its first vertex reads lon={lon[0]:.6f}, "
                f"lat={lat[0]:.6f}, which makes sense only as lon={lat[0]:.6f}, lat={lon[0]:.6f}. "
                "Swap the axes (EPSG:4490 files list latitude first) and import again",
                feature=index,
                code=labels[index],
            )
        if (np.abs(lon) > 1000).all() and (np.abs(lat) > 1000).all():
            raise CoordinateOutOfRangeError(
                f"{name} has coordinates like ({lon[0]:.1f}, {lat[0]:.1f}) that are not degrees: "
                "the file is probably projected (metres) without a CRS. Reproject it to "
                "EPSG:4490 or EPSG:4326, or add its .prj",
                feature=index,
                code=labels[index],
            )
        bad = int(np.argmin(in_box))
        if abs(lat[bad]) > 90 or abs(lon[bad]) > 180:
            raise CoordinateOutOfRangeError(
                f"{name} has a vertex at lon={lon[bad]}, lat={lat[bad]}: longitude must lie in "
                "[-180, 180] and latitude in [-90, 90]",
                feature=index,
                code=labels[index],
            )
        raise CoordinateOutOfRangeError(
            f"{name} has a vertex at lon={lon[bad]:.6f}, lat={lat[bad]:.6f}, outside China "
            f"(lon {CHINA_LON[0]}–{CHINA_LON[1]}, lat {CHINA_LAT[0]}–{CHINA_LAT[1]}); check the "
            "file's CRS",
            feature=index,
            code=labels[index],
        )


def check_polygons(geoms: NDArray[np.object_], labels: list[str]) -> NDArray[np.object_]:
    """Refuse empty, non-polygonal, NaN and out-of-range input; return the shapes without Z."""
    geoms = np.asarray(geoms, dtype=object)
    for index, geom in enumerate(geoms):
        name = describe(index, labels[index])
        if geom is None or shapely.is_empty(geom):
            raise InvalidGeometryError(
                f"{name} has no geometry: it is empty, or of a type or with coordinates GDAL "
                "cannot read (e.g. 'Hexagon', or numbers written as strings); draw its boundary "
                "as a Polygon or MultiPolygon, or delete it",
                feature=index,
                code=labels[index],
            )
        if shapely.get_type_id(geom) not in (3, 6):
            raise InvalidGeometryError(
                f"{name} is a {geom.geom_type}, not a polygon: boundaries must be Polygon or "
                "MultiPolygon",
                feature=index,
                code=labels[index],
            )
    vertices = shapely.get_num_coordinates(geoms)
    dense = np.flatnonzero(vertices > MAX_VERTICES)
    if dense.size:
        first = int(dense[0])
        raise InvalidGeometryError(
            f"{describe(first, labels[first])} has {int(vertices[first]):,} vertices; the "
            f"limit is {MAX_VERTICES:,}: simplify it (e.g. ogr2ogr -simplify 0.5 in metres)",
            feature=first,
            code=labels[first],
        )
    geoms = shapely.force_2d(geoms)
    check_polygon_coordinates(geoms, labels)
    return geoms


def repair_polygons(
    geoms: NDArray[np.object_], labels: list[str]
) -> tuple[NDArray[np.object_], list[Repair]]:
    """Repair invalid polygons with make_valid; return MultiPolygons and each repair made."""
    geoms = np.array(geoms, dtype=object)
    repairs: list[Repair] = []
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if invalid.size:
        reasons = shapely.is_valid_reason(geoms[invalid])
        fixed = shapely.make_valid(geoms[invalid])
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        before = crs.areas_m2(geoms[invalid])  # shoelace area of the drawn rings
        for k, index in enumerate(invalid):
            if fixed[k] is None or shapely.is_empty(fixed[k]):
                raise InvalidGeometryError(
                    f"{describe(int(index), labels[index])} is invalid ({reasons[k]}) and has no "
                    "area left after repair; redraw it",
                    feature=int(index),
                    code=labels[index],
                )
        after = crs.areas_m2(fixed)
        outlines = _outlines(geoms[invalid])
        drawn = crs.areas_m2(outlines)  # what the outer rings enclose, holes left out
        outside = crs.areas_m2(shapely.difference(fixed, outlines))
        for k, index in enumerate(invalid):
            share = outside[k] / max(drawn[k], 1.0)
            if share > MAX_REPAIR_SHARE:
                raise InvalidGeometryError(
                    f"{describe(int(index), labels[index])} is invalid ({reasons[k]}); repairing "
                    f"it would add {outside[k] / 1e6:,.3f} km² outside its outline of "
                    f"{drawn[k] / 1e6:,.3f} km² ({share:.1%}; the limit is "
                    f"{MAX_REPAIR_SHARE:.0%}), e.g. a hole drawn outside its shell: redraw it",
                    feature=int(index),
                    code=labels[index],
                )
        # What the rings draw, shells filled and holes cut ("structure"): the linework repair
        # must not drop area from it either (a ring that winds twice loses its inner part).
        intended = shapely.make_valid(geoms[invalid], method="structure")
        lost = crs.areas_m2(shapely.difference(intended, fixed))
        enclosed = crs.areas_m2(intended)
        for k, index in enumerate(invalid):
            share = lost[k] / max(enclosed[k], 1.0)
            if share > MAX_REPAIR_SHARE:
                raise InvalidGeometryError(
                    f"{describe(int(index), labels[index])} is invalid ({reasons[k]}); repairing "
                    f"it would drop {lost[k] / 1e6:,.3f} km² of the {enclosed[k] / 1e6:,.3f} km² "
                    f"its rings enclose ({share:.1%}; the limit is {MAX_REPAIR_SHARE:.0%}), e.g. a "
                    "ring that winds round twice: redraw it",
                    feature=int(index),
                    code=labels[index],
                )
        for k, index in enumerate(invalid):
            repairs.append(
                Repair(
                    int(index), labels[index], str(reasons[k]), float(before[k]), float(after[k])
                )
            )
        geoms[invalid] = fixed
    return to_multipolygons(snap(geoms)), repairs


def snap(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Round coordinates to PRECISION_DEG, keeping polygons valid."""
    snapped = shapely.set_precision(np.asarray(geoms, dtype=object), PRECISION_DEG)
    return np.array([_polygonal_part(g) for g in snapped], dtype=object)


def validate_polygons(
    geoms: NDArray[np.object_], labels: list[str]
) -> tuple[NDArray[np.object_], list[Repair]]:
    """Check then repair WGS84 polygons: 2-D valid MultiPolygons and the repairs made."""
    return repair_polygons(check_polygons(geoms, labels), labels)


def to_multipolygons(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Wrap Polygons as single-part MultiPolygons (the storage type)."""
    geoms = np.asarray(geoms, dtype=object)
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single].reshape(-1, 1))
    return geoms


def covering_index(lon: ArrayLike, lat: ArrayLike, polygons: ArrayLike) -> NDArray[np.int64]:
    """Index of the polygon covering each point, the lowest on a shared edge or vertex; -1 if none.

    Exact on edges and vertices: for a point, ``intersects`` is ``covers`` (``contains`` and
    ``within`` would drop points on an edge). One STRtree over the polygons, queried by all the
    points at once; callers order the polygons so that the lowest index is the one that should
    win (the lower code, the first region).

    >>> west, east = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    >>> covering_index([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5], [west, east]).tolist()
    [0, 0, 1, -1]
    """
    lon_arr = np.asarray(lon, dtype=np.float64).ravel()
    lat_arr = np.asarray(lat, dtype=np.float64).ravel()
    polygons_arr = np.asarray(polygons, dtype=object).ravel()
    tree = shapely.STRtree(polygons_arr)
    point_idx, polygon_idx = tree.query(shapely.points(lon_arr, lat_arr), predicate="intersects")
    none = len(polygons_arr)
    answer = np.full(lon_arr.size, none, dtype=np.int64)
    np.minimum.at(answer, point_idx, polygon_idx)
    answer[answer == none] = -1
    return answer


def _outlines(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """What each geometry's outer rings enclose (holes left out, self-intersections resolved).

    The area a repair must keep to: a hole drawn outside its shell is not part of it.
    """
    out = []
    for geom in geoms:
        shells = shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(geom)))
        valid = _polygonal_part(shapely.make_valid(shapely.multipolygons(shells)))
        out.append(valid if valid is not None else shapely.Polygon())
    return np.array(out, dtype=object)


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Keep the polygons make_valid produced, dropping collapsed lines and points."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    polygons = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polygons:
        return None
    return shapely.union_all(polygons)


def _in_china_box(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (
        (lon >= CHINA_LON[0])
        & (lon <= CHINA_LON[1])
        & (lat >= CHINA_LAT[0])
        & (lat <= CHINA_LAT[1])
    )


def absorb_fragments(regions: NDArray[np.object_]) -> NDArray[np.object_]:
    """Give each detached piece of a multi-part region to the neighbour it shares most border with.

    Clipping a tessellation to a concave boundary can split a region; moving the stray pieces
    keeps every region one polygon, and the union of all regions unchanged. A piece touching no
    other region (an island of the area itself) stays where it is.
    """
    regions = np.array([_polygonal_part(g) or shapely.Polygon() for g in regions], dtype=object)
    for _ in range(3):  # a moved piece can, rarely, make another region multi-part
        parts_count = shapely.get_num_geometries(regions)
        multi = np.flatnonzero(parts_count > 1)
        if not multi.size:
            break
        tree = shapely.STRtree(regions)
        for i in multi:
            parts = sorted(shapely.get_parts(regions[i]), key=shapely.area, reverse=True)
            keep = [parts[0]]
            for piece in parts[1:]:
                neighbours = tree.query(piece, predicate="intersects")
                neighbours = neighbours[neighbours != i]
                shared = (
                    shapely.length(shapely.intersection(piece.boundary, regions[neighbours]))
                    if neighbours.size
                    else np.zeros(0)
                )
                if not shared.size or shared.max() <= 0:
                    keep.append(piece)
                    continue
                best = neighbours[int(np.argmax(shared))]
                regions[best] = _polygonal_part(shapely.union(regions[best], piece))
            regions[i] = shapely.union_all(keep)
    return regions
