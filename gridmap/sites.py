"""Relocation sites (安置点): resettlement sites (集中安置点) and emergency shelters (应急避难场所).

A site is a point or a polygon with a capacity in households and in persons, what is already
occupied, and its facilities. Sites come from the API, the CLI (one at a time) or a GeoJSON,
GeoPackage or Shapefile, through the boundary files' reader and coordinate checks; a batch is
written in one transaction or not at all, and every refusal names the feature and the problem.

Files may name their fields in English or in Chinese:

======================  ==================
field                   also accepted
======================  ==================
code                    编码, 编号
name                    名称
kind                    类型 (集中安置点 | 应急避难场所 or resettlement | shelter)
capacity_households     容纳户数
capacity_persons        容纳人数
occupied_households     已入住户数
occupied_persons        已入住人数
facilities              配套设施 (comma-separated; 学校, 卫生室 … or school, clinic …)
======================  ==================
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import db, geometry, grids, hierarchy, lookup
from gridmap.errors import (
    DuplicateCodeError,
    HierarchyError,
    InvalidCodeError,
    InvalidGeometryError,
    InvalidInputError,
    OutsideCoverageError,
    PayloadTooLargeError,
    UnknownCodeError,
)
from gridmap.vocabulary import Facility, SiteKind

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_SITES = 5_000  # per import: a county has tens to hundreds
MAX_CAPACITY = 1_000_000  # persons at one site: more is a typing error
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "编号"),
    "name": ("name", "名称"),
    "kind": ("kind", "类型"),
    "capacity_households": ("capacity_households", "容纳户数"),
    "capacity_persons": ("capacity_persons", "容纳人数"),
    "occupied_households": ("occupied_households", "已入住户数"),
    "occupied_persons": ("occupied_persons", "已入住人数"),
    "facilities": ("facilities", "配套设施"),
}
_KIND_BY_LABEL = {**{k.zh: k for k in SiteKind}, **{k.value: k for k in SiteKind}}
_FACILITY_BY_LABEL = {**{f.zh: f for f in Facility}, **{f.value: f for f in Facility}}


@dataclass(frozen=True)
class SiteIn:
    """One site as given, before it is checked (``geom`` in WGS84 unless ``input_crs`` says)."""

    code: str
    name: str
    kind: str
    capacity_households: Any
    capacity_persons: Any
    geom: shapely.Geometry | None
    occupied_households: Any = 0
    occupied_persons: Any = 0
    facilities: Iterable[str] | str = ()
    county_code: str | None = None
    source: str = ""
    synthetic: bool = False


@dataclass
class SiteReport:
    """What an import wrote: the sites' codes, their counties, and repairs made on the way."""

    codes: list[str] = field(default_factory=list)
    counties: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)


def read_file(path: str | Path, *, encoding: str | None = None) -> list[SiteIn]:
    """Sites from a GeoJSON, GeoPackage or Shapefile (fields in English or Chinese, see above)."""
    frame = hierarchy.read_boundary_file(path, encoding=encoding)
    frame = hierarchy.to_lonlat(frame, [])
    columns = {c.strip().lower() if c.isascii() else c.strip(): c for c in frame.columns}
    picked: dict[str, str | None] = {}
    for name, aliases in ALIASES.items():
        picked[name] = next((columns[a] for a in aliases if a in columns), None)
    missing = [n for n in ("code", "name", "kind") if picked[n] is None]
    if missing:
        raise InvalidInputError(
            f"{path}: no {', '.join(missing)} field; name them "
            + ", ".join(f"{n} ({'/'.join(ALIASES[n][1:])})" for n in missing),
            path=str(path),
        )

    def value(row: Mapping[str, Any], name: str, default: Any = None) -> Any:
        column = picked[name]
        raw = row[column] if column is not None else default
        return default if raw is None or (isinstance(raw, float) and math.isnan(raw)) else raw

    sites = []
    for row in frame.to_dict("records"):
        sites.append(
            SiteIn(
                code=str(value(row, "code", "")).strip(),
                name=str(value(row, "name", "")).strip(),
                kind=str(value(row, "kind", "")).strip(),
                capacity_households=value(row, "capacity_households"),
                capacity_persons=value(row, "capacity_persons"),
                occupied_households=value(row, "occupied_households", 0),
                occupied_persons=value(row, "occupied_persons", 0),
                facilities=value(row, "facilities", ()) or (),
                geom=row["geometry"],
                source=Path(path).name,
            )
        )
    return sites


def _count(value: Any, what: str, where: str, *, positive: bool) -> int:
    """A whole number of households or persons, or an error naming the site and field."""
    if isinstance(value, bool):
        value = None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise InvalidInputError(f"{where}: {what} must be a whole number, not {value!r}")
    if positive and number <= 0:
        raise InvalidInputError(
            f"{where}: {what} must be more than 0 (a site with no room is not a site)"
        )
    if number < 0:
        raise InvalidInputError(f"{where}: {what} cannot be negative")
    if number > MAX_CAPACITY:
        raise InvalidInputError(f"{where}: {what} {int(number):,} is more than {MAX_CAPACITY:,}")
    return int(number)


def _facilities(value: Iterable[str] | str, where: str) -> list[str]:
    items = re.split(r"[,，、;；]", value) if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        facility = _FACILITY_BY_LABEL.get(item)
        if facility is None:
            raise InvalidInputError(
                f"{where}: unknown facility {item!r}; valid choices: "
                + ", ".join(f"{f.value} ({f.zh})" for f in Facility),
                valid=list(Facility.values()),
            )
        if facility.value not in out:
            out.append(facility.value)
    return out


def _geometry(geom: shapely.Geometry | None, where: str, label: str) -> shapely.Geometry:
    """A valid Point or (Multi)Polygon in lon/lat inside China, repaired like boundaries."""
    if geom is None or shapely.is_empty(geom):
        raise InvalidGeometryError(f"{where} has no geometry: give a Point or a Polygon")
    if geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InvalidGeometryError(
            f"{where} is a {geom.geom_type}: a site is a Point or a Polygon (MultiPolygon)"
        )
    geom = shapely.force_2d(geom)
    geometry.check_polygon_coordinates(np.array([geom], dtype=object), [label])
    if geom.geom_type == "Point":
        return geom
    repaired, _ = geometry.repair_polygons(np.array([geom], dtype=object), [label])
    return repaired[0]


def check(site: SiteIn, index: int = 0) -> dict[str, Any]:
    """The site as a row for the table, or an error naming what is wrong (no database)."""
    where = geometry.describe(index, site.code or None)
    code = str(site.code).strip()
    if not CODE.match(code):
        raise InvalidCodeError(
            f"{where}: site code {code!r} must be 1–32 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit",
            code=code,
        )
    name = str(site.name).strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise InvalidInputError(f"{where}: a site needs a name of 1–200 characters")
    kind = _KIND_BY_LABEL.get(str(site.kind).strip())
    if kind is None:
        raise InvalidInputError(
            f"{where}: unknown site kind {site.kind!r}; valid choices: "
            + ", ".join(f"{k.value} ({k.zh})" for k in SiteKind),
            valid=list(SiteKind.values()),
        )
    households = _count(site.capacity_households, "capacity_households", where, positive=True)
    persons = _count(site.capacity_persons, "capacity_persons", where, positive=True)
    if persons < households:
        raise InvalidInputError(
            f"{where}: capacity_persons {persons} is less than capacity_households "
            f"{households}: every household is at least one person"
        )
    occupied_h = _count(site.occupied_households, "occupied_households", where, positive=False)
    occupied_p = _count(site.occupied_persons, "occupied_persons", where, positive=False)
    if occupied_h > households or occupied_p > persons:
        raise InvalidInputError(
            f"{where}: occupancy ({occupied_h} households, {occupied_p} persons) is more than "
            f"the capacity ({households} households, {persons} persons)"
        )
    return {
        "code": code,
        "name": name,
        "kind": kind.value,
        "capacity_households": households,
        "capacity_persons": persons,
        "occupied_households": occupied_h,
        "occupied_persons": occupied_p,
        "facilities": _facilities(site.facilities, where),
        "geom": _geometry(site.geom, where, code),
        "county_code": site.county_code,
        "source": site.source,
        "synthetic": site.synthetic,
    }


def add(session: Session, sites: list[SiteIn], *, county: str | None = None) -> SiteReport:
    """Check and insert ``sites`` in the caller's transaction: all of them or none.

    Each site must lie inside its county (``county``, the site's own ``county_code``, or the
    county its position falls in) and have a code not yet used in that county.
    """
    if not sites:
        raise InvalidInputError("no sites given")
    if len(sites) > MAX_SITES:
        raise PayloadTooLargeError(
            f"{len(sites):,} sites in one import; the limit is {MAX_SITES:,}: split the file",
            limit=MAX_SITES,
        )
    rows = [check(site, index) for index, site in enumerate(sites)]
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        where = geometry.describe(index, row["code"])
        row["county_code"] = _county_of(session, row, county, where)
        row["village_code"] = db.sites.village_at(session, row["geom"])
        key = (row["county_code"], row["code"])
        if key in seen:
            raise DuplicateCodeError(
                f"{where}: site code {row['code']} appears twice in this import "
                f"(also feature {seen[key]})",
                code=row["code"],
            )
        seen[key] = index
    taken = db.sites.existing_codes(session, list(seen))
    if taken:
        county_code, code = taken[0]
        raise DuplicateCodeError(
            f"site code {code} is already used in county {county_code}: pick another code, "
            "or edit that site",
            code=code,
        )
    db.sites.insert_rows(session, rows)
    return SiteReport(
        codes=[r["code"] for r in rows], counties=sorted({r["county_code"] for r in rows})
    )


def _county_of(session: Session, row: dict[str, Any], county: str | None, where: str) -> str:
    """The county the site belongs to, checked to contain it."""
    wanted = county or row["county_code"]
    if wanted is not None and not re.fullmatch(r"\d{6}", str(wanted)):
        raise InvalidCodeError(f"{where}: county code {wanted!r} must be 6 digits", code=wanted)
    anchor = row["geom"].representative_point()
    found = db.sites.county_at(session, anchor.x, anchor.y)
    if wanted is None:
        if found is None:
            raise OutsideCoverageError(
                f"{where} at lon={anchor.x:.6f}, lat={anchor.y:.6f} lies in no loaded county; "
                "import the county's boundary first, or check the coordinates",
                lon=anchor.x,
                lat=anchor.y,
            )
        return found
    if not db.sites.county_exists(session, str(wanted)):
        raise UnknownCodeError(f"{where}: no county {wanted} is loaded", code=str(wanted))
    if not db.sites.county_covers(session, str(wanted), row["geom"]):
        raise HierarchyError(
            f"{where} lies outside county {wanted}"
            + (f" (it is in {found})" if found and found != wanted else "")
            + ": a site must stand inside the county it serves",
            code=row["code"],
            county=str(wanted),
        )
    return str(wanted)


def free_capacity(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Households and persons each site can still take (capacity minus occupancy)."""
    households = np.array(
        [r["capacity_households"] - r["occupied_households"] for r in rows], dtype=np.int64
    )
    persons = np.array(
        [r["capacity_persons"] - r["occupied_persons"] for r in rows], dtype=np.int64
    )
    return households, persons


def anchors(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Each site's lon/lat for distances: the point, or a point inside the polygon."""
    points = [shapely.from_wkb(r["wkb"]).representative_point() for r in rows]
    return np.array([p.x for p in points]), np.array([p.y for p in points])


def as_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Sites as a GeoDataFrame in WGS84 (for maps and exports)."""
    geoms = [shapely.from_wkb(r["wkb"]) for r in rows]
    data = [{k: v for k, v in r.items() if k != "wkb"} for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def listing(
    session: Session,
    *,
    counties: list[str] | None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of sites of the counties under these codes (a county, a prefecture ``5134``, a
    province; None: all) and how many there are in all.
    """
    under = None if counties is None else [c[:6] for c in counties]
    rows = db.sites.read(session, under=under, kind=kind, limit=limit, offset=offset)
    return rows, db.sites.count(session, under=under, kind=kind)


def get(session: Session, site_id: int) -> dict[str, Any] | None:
    """One site's row, or None."""
    found = db.sites.read(session, ids=[site_id])
    return found[0] if found else None


def by_codes(session: Session, codes: list[str], counties: list[str]) -> list[dict[str, Any]]:
    """Sites of ``counties`` with these codes (what an import just wrote)."""
    return db.sites.read(session, codes=codes, counties=counties)


COMMUNITY_BLOCK = (1, 199)  # 居委会 codes of a township (GB/T 10114 practice): 001–199


def to_community(
    session: Session, county: str, code: str, *, name: str | None = None, resolution: int = 10
) -> dict[str, Any]:
    """Make a resettlement site a community (集中安置点社区), in the caller's transaction: a
    village-level unit with the next code of its township's community block (never one used
    before), its outline carved out of the villages it overlaps (redrawn, with lineage
    ``split`` to the new community), the households inside re-coded to it, its own grids and
    theirs regenerated, and the lookup index rebuilt. Returns what was made.
    """
    found = db.sites.read(session, county=county, codes=[code])
    if not found:
        raise UnknownCodeError(f"no site {code} in county {county}", code=code)
    site = found[0]
    if site["kind"] != SiteKind.RESETTLEMENT.value:
        raise InvalidInputError(
            f"site {code} is a shelter: only resettlement sites become communities"
        )
    if site["community_code"]:
        raise InvalidInputError(f"site {code} is community {site['community_code']} already")
    shape = shapely.from_wkb(site["wkb"])
    if shape.geom_type == "Point":
        raise InvalidGeometryError(
            f"site {code} is a point: draw its outline (a Polygon) before it becomes a community"
        )
    villages = db.units.read(session, county=county, level="village")
    overlap = shapely.area(shapely.intersection(villages.geometry.values, shape))
    hit = villages[overlap > 0.01 * shape.area]
    if hit.empty or not site["village_code"]:
        raise HierarchyError(f"site {code} lies in no current village of {county}")
    township = str(site["village_code"])[:9]
    new_code = db.units.next_code(session, township, *COMMUNITY_BLOCK)
    carved = shapely.difference(np.asarray(hit.geometry.values, dtype=object), shape)
    emptied = [c for c, g in zip(hit["code"], carved, strict=True) if shapely.area(g) <= 0]
    if emptied:
        raise HierarchyError(f"site {code} covers village {emptied[0]} entirely: redraw it instead")
    main = hit[hit["code"] == site["village_code"]].iloc[0]
    households, persons = db.sites.households_inside(session, county, shape)
    frame = gpd.GeoDataFrame(
        {
            "code": [*hit["code"], new_code],
            "name": [*hit["name"], name or f"{site['name']}社区"],
            "level": "village",
            "urban_rural": [*hit["urban_rural"], main["urban_rural"]],
            "households": [*hit["households"], households],
            "persons": [*hit["persons"], persons],
            "parent_code": [*hit["parent_code"], township],
            "source": f"site {code} to community",
        },
        geometry=[
            *geometry.to_multipolygons(geometry.snap(carved)),
            *geometry.to_multipolygons(np.array([shape], dtype=object)),
        ],
        crs="EPSG:4326",
    )
    old_ids = [int(i) for i in hit["id"]]
    report = hierarchy.import_units(
        session,
        frame,
        level="village",
        source=f"site {code}",
        crs_name="wgs84",
        allow_overlaps=True,
    )
    assert report.generation is not None
    new_id = int(db.units.read(session, codes=[new_code])["id"].iloc[0])
    db.units.record_lineage(
        session,
        [(old, new_id) for old in old_ids],
        op="split",
        generation=report.generation,
        county_code=county,
    )
    moved = db.sites.recode_households(
        session, county, shape, site["id"], list(hit["code"]), new_code
    )
    drawn = grids.generate_for_county(
        session, county, villages=[*hit["code"], new_code], resolution=resolution
    )
    db.sites.set_community(session, site["id"], new_code)
    lookup.rebuild_index(session, county, resolution=resolution)
    return {
        "site": code,
        "community_code": new_code,
        "generation": report.generation,
        "grids_generation": drawn["generation"],
        "villages_redrawn": list(hit["code"]),
        "households": moved,
        "grids": drawn["grids"],
    }
