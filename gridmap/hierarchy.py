"""Administrative hierarchy (行政区划层级): import boundaries as a new generation.

county (县/区) > township (乡/镇/街道) > village (行政村/社区) > grid (网格). A file holds one
level; every feature is checked (geometry, CRS, code block, parent) before anything is written,
and the whole import is one transaction that writes one generation: unchanged units keep their
rows, changed ones are retired (never deleted) and replaced, with a lineage row old → new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import geopandas as gpd
import pyogrio
import shapely
import shapely.errors

from gridmap import codes, crs, db, geometry
from gridmap.errors import (
    GridmapError,
    HierarchyError,
    ImportFileError,
    InvalidCodeError,
    InvalidGeometryError,
    UnknownCodeError,
)
from gridmap.vocabulary import Level

# Overlapping an already-loaded neighbour by more than this share of a unit's area stops an
# import: digitising slivers along a shared edge pass, a misplaced unit does not.
MAX_OVERLAP_SHARE = 0.01

FIELD_CANDIDATES: dict[str, tuple[str, ...]] = {
    "code": ("code", "adcode", "区划代码", "xzqdm", "qhdm", "dm", "gb", "grid_code", "网格编码"),
    "name": ("name", "名称", "xzqmc", "qhmc", "mc", "grid_name", "网格名称"),
    "parent": ("parent_code", "parent", "上级代码", "sjdm"),
    "households": ("households", "户数", "hs"),
    "persons": ("persons", "population", "人口", "rk"),
    "urban_rural": ("urban_rural", "城乡分类代码", "cxfldm"),
}
PARENT_LEVEL = {level: level.parent for level in Level if level.parent is not None}


@dataclass(slots=True)
class ImportReport:
    """What an import did: counts, the generation it wrote, repairs and CRS handling."""

    level: str
    source: str
    crs: str
    features: int = 0
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    generation: int | None = None
    counties: list[str] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def bundled_boundaries() -> Path:
    """The folder of county boundaries shipped inside gridmap (``gridmap/data/boundaries``).

    Found through importlib.resources, so the demo, notebooks and tests read the same files in
    a source checkout, an installed wheel and the Docker image. gridmap installs as plain files,
    so this is a real folder that ``glob`` and GDAL can open.
    """
    folder = resources.files("gridmap") / "data" / "boundaries"
    if not isinstance(folder, Path) or not folder.is_dir():
        raise ImportFileError(f"gridmap's bundled boundaries are not a folder on disk: {folder}")
    return folder


def _unreadable_feature(
    path: Path, encoding: str | None, layer: str | int | None, error: Exception
) -> InvalidGeometryError:
    """Name the first feature whose geometry GEOS cannot even build, and why."""
    frame = pyogrio.read_dataframe(path, encoding=encoding, layer=layer, on_invalid="ignore")
    bad = next((i for i, geom in enumerate(frame.geometry) if geom is None), None)
    code = ""
    if bad is not None and "code" in frame.columns:
        code = str(frame["code"].iloc[bad])
    where = geometry.describe(bad, code) if bad is not None else "a feature"
    reason = str(error).split(":", 1)[-1].strip()
    return InvalidGeometryError(
        f"{path}: {where} cannot be read as a geometry ({reason}); close its rings or redraw it",
        path=str(path),
        feature=bad,
        code=code,
    )


def read_boundary_file(
    path: str | Path, *, encoding: str | None = None, layer: str | int | None = None
) -> gpd.GeoDataFrame:
    """Read GeoJSON, GeoPackage or Shapefile through pyogrio, detecting GBK shapefile attributes."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file", path=str(path))
    if encoding is None and path.suffix.lower() == ".shp" and not path.with_suffix(".cpg").exists():
        # Chinese shapefiles without a .cpg are usually GBK; UTF-8 decodes GBK bytes as garbage.
        encoding = _guess_dbf_encoding(path.with_suffix(".dbf"))
    try:
        frame = pyogrio.read_dataframe(path, encoding=encoding, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise ImportFileError(
            f"{path}: cannot read as GIS data: {error}", path=str(path)
        ) from error
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"{path}: attributes are not {encoding or 'UTF-8'}; pass --encoding gbk or utf-8",
            path=str(path),
        ) from error
    except shapely.errors.GEOSException as error:  # e.g. a ring that is not closed
        raise _unreadable_feature(path, encoding, layer, error) from error
    if frame.empty:
        raise ImportFileError(f"{path}: the file has no features", path=str(path))
    return frame


def prepare_units(
    frame: gpd.GeoDataFrame,
    *,
    level: str,
    crs_name: str = "wgs84",
    code_field: str | None = None,
    name_field: str | None = None,
    parent_field: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[geometry.Repair], list[str]]:
    """Turn raw features into checked units in WGS84 (pure: no database).

    Returns the units (columns as ``db.units.COLUMNS`` minus ids and generations), the repairs
    made and notes about CRS handling.
    """
    level = codes.check_level(level)
    crs_name = crs.check_crs(crs_name)
    notes: list[str] = []
    code_column = _pick_field(frame, code_field, "code", required=level != "grid")
    name_column = _pick_field(frame, name_field, "name", required=False)
    parent_column = _pick_field(frame, parent_field, "parent", required=False)

    frame = to_lonlat(frame, notes)
    labels = [str(v) for v in frame[code_column]] if code_column else [""] * len(frame)
    geoms = geometry.check_polygons(np.asarray(frame.geometry.values, dtype=object), labels)
    if crs_name in ("gcj02", "bd09"):
        geoms = crs.geometries_to_wgs84(geoms, crs_name)
        notes.append(f"converted {crs_name} to WGS84 inside mainland China")
    geoms, repairs = geometry.repair_polygons(geoms, labels)

    units = pd.DataFrame(
        {
            "code": [_clean_code(v) for v in frame[code_column]] if code_column else None,
            "name": [str(v).strip() for v in frame[name_column]] if name_column else "",
            "level": level,
        },
        index=pd.RangeIndex(len(frame)),
    )
    for key in ("households", "persons", "urban_rural"):
        column = _pick_field(frame, None, key, required=False)
        if column:
            units[key] = frame[column].to_numpy()
    units["parent_code"] = [_clean_code(v) for v in frame[parent_column]] if parent_column else None
    if code_column is not None:
        units["code"], stripped = _strip_national_prefix(units["code"], level)
        if parent_column:
            parent_level = codes.LEVEL_BY_LENGTH.get(level.code_length - 3)
            if parent_level is not None:
                units["parent_code"], more = _strip_national_prefix(
                    units["parent_code"], parent_level
                )
                stripped += more
        if stripped:
            notes.append(
                f"stripped the national prefix 156 (GB/T 2659, as Tianditu-derived files carry) "
                f"from {stripped} codes"
            )
    units = gpd.GeoDataFrame(units, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))
    if code_column is None:
        notes.append("no code field: grids are numbered inside the village that contains them")
    else:
        _check_codes(units, level)
    return units, repairs, notes


def import_units(
    session: Session,
    units: gpd.GeoDataFrame,
    *,
    level: str,
    source: str,
    crs_name: str,
    repairs: list[geometry.Repair] | None = None,
    notes: list[str] | None = None,
    allow_overlaps: bool = False,
) -> ImportReport:
    """Write prepared units as one new generation (flushes; the caller commits once).

    A unit overlapping a current unit of the same level (another code) by more than
    :data:`MAX_OVERLAP_SHARE` of its area stops the import, naming both, unless
    ``allow_overlaps``: then the overlaps are listed in the notes.
    """
    report = ImportReport(level=level, source=source, crs=crs_name, features=len(units))
    report.notes = list(notes or [])
    report.repairs = [
        {**asdict(r), "area_change_m2": round(r.area_change_m2, 2)} for r in (repairs or [])
    ]
    units = _attach_parents(session, units, level)
    _check_overlaps(session, units, level, report.notes, allow=allow_overlaps)
    units["kind"] = [codes.kind_of(c) for c in units["code"]]
    units["county_code"] = units["code"].str[:6]
    if "source" not in units:
        units["source"] = source
    units["name"] = [n or c for n, c in zip(units["name"], units["code"], strict=True)]

    existing = db.units.read(session, codes=list(units["code"]))
    by_code = existing.set_index("code") if not existing.empty else None
    new_rows, retired, pairs_codes = [], [], []
    for position, row in enumerate(units.itertuples(index=False)):
        old = None if by_code is None or row.code not in by_code.index else by_code.loc[row.code]
        if old is not None and _same_unit(old, row):
            report.unchanged += 1
            continue
        new_rows.append(position)
        if old is not None:
            if old["level"] != level:
                raise HierarchyError(f"code {row.code} already exists at level {old['level']}")
            retired.append(int(old["id"]))
            pairs_codes.append((int(old["id"]), row.code))
    if not new_rows:
        return report

    county = units["county_code"].iloc[0] if units["county_code"].nunique() == 1 else None
    generation = db.generations.open_generation(
        session, kind="import", description=f"import {level} from {source}", county_code=county
    )
    db.units.retire(session, retired, generation=generation.id)
    ids = db.units.insert_frame(session, units.iloc[new_rows], generation=generation.id)
    id_by_code = dict(zip(units["code"].iloc[new_rows], ids, strict=True))
    for old_id, code in pairs_codes:
        db.units.record_lineage(
            session,
            [(old_id, id_by_code[code])],
            op="redraw",
            generation=generation.id,
            county_code=code[:6],
        )
    session.flush()
    report.generation = generation.id
    report.counties = sorted(set(units["county_code"].iloc[new_rows]))
    report.replaced = len(retired)
    report.inserted = len(new_rows) - len(retired)
    return report


def import_files(
    session: Session,
    paths: Sequence[str | Path],
    *,
    level: str,
    crs_name: str = "wgs84",
    code_field: str | None = None,
    name_field: str | None = None,
    parent_field: str | None = None,
    encoding: str | None = None,
    layer: str | int | None = None,
    allow_overlaps: bool = False,
) -> ImportReport:
    """Read, check and import boundary files of one level as ONE new generation."""
    crs_name = crs.check_crs(crs_name)
    prepared, all_repairs, all_notes = [], [], []
    for path in paths:
        try:
            frame = read_boundary_file(path, encoding=encoding, layer=layer)
            units, repairs, notes = prepare_units(
                frame,
                level=level,
                crs_name=crs_name,
                code_field=code_field,
                name_field=name_field,
                parent_field=parent_field,
            )
        except GridmapError as error:
            name = Path(path).name
            message = str(error) if str(error).startswith(str(path)) else f"{name}: {error}"
            raise type(error)(message, **{**error.context, "file": name}) from error
        prepared.append(units.assign(source=Path(path).name))  # each row names its own file
        all_repairs += repairs
        all_notes += [f"{Path(path).name}: {n}" for n in notes]
    units = gpd.GeoDataFrame(pd.concat(prepared, ignore_index=True), crs="EPSG:4326")
    if level != "grid" or units["code"].notna().all():
        _check_codes(units, level)  # duplicates across files too
    return import_units(
        session,
        units,
        level=level,
        source=", ".join(Path(p).name for p in paths),
        crs_name=crs_name,
        repairs=all_repairs,
        notes=all_notes,
        allow_overlaps=allow_overlaps,
    )


def _check_overlaps(
    session: Session, units: gpd.GeoDataFrame, level: str, notes: list[str], *, allow: bool
) -> None:
    """Refuse (or, allowed, note) overlaps with already-loaded units of the same level."""
    if units["code"].isna().any():
        return  # uncoded grids are numbered inside their village: no identity to compare yet
    found = db.units.overlaps(
        session, list(units["code"]), list(shapely.to_wkb(units.geometry.values)), level
    )
    if not found:
        return
    areas = dict(zip(units["code"], crs.areas_m2(units.geometry.values), strict=True))
    large = [(a, b, m2) for a, b, m2 in found if m2 > MAX_OVERLAP_SHARE * max(areas[a], 1.0)]
    if not large:
        return
    listed = "; ".join(f"{a} overlaps {b} by {m2 / 1e6:,.3f} km²" for a, b, m2 in large[:5])
    if not allow:
        raise HierarchyError(
            f"{len(large)} unit(s) overlap units already loaded: {listed}. Fix the boundaries, "
            "or import with --allow-overlaps (the overlaps then show in `gridmap qa`)",
            overlaps=[{"code": a, "other": b, "m2": round(m2, 1)} for a, b, m2 in large[:100]],
        )
    notes.append(f"imported with {len(large)} overlap(s) allowed: {listed}")


def import_file(session: Session, path: str | Path, **options: Any) -> ImportReport:
    """Read, check and import one boundary file as a new generation."""
    return import_files(session, [path], **options)


def _attach_parents(session: Session, units: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    """Fill parent_code from codes (or the parent field), else by containment for uncoded grids."""
    units = units.copy()
    if level == "county":
        units["parent_code"] = None
        return units
    parent_level = PARENT_LEVEL[Level(level)]
    if units["code"].isna().any():
        units = _number_by_containment(session, units, parent_level)
    derived = units["code"].str[: Level(parent_level).code_length]
    given = units["parent_code"]
    if given.notna().any():
        mismatch = given.notna() & (given != derived)
        if mismatch.any():
            i = int(np.flatnonzero(mismatch.to_numpy())[0])
            raise HierarchyError(
                f"feature {i} ({units['code'].iloc[i]}): parent field says {given.iloc[i]} but the "
                f"code belongs to {derived.iloc[i]}; fix the code or the parent field",
                code=units["code"].iloc[i],
            )
    units["parent_code"] = derived
    wanted = sorted(set(derived))
    found = set(db.units.read(session, codes=wanted, level=parent_level)["code"])
    missing = [c for c in wanted if c not in found]
    if missing:
        raise HierarchyError(
            f"{len(missing)} parent {parent_level} unit(s) are not loaded: {', '.join(missing[:5])}"
            f"{'…' if len(missing) > 5 else ''}; import the {parent_level} level first",
            missing=missing[:50],
        )
    return units


def _number_by_containment(
    session: Session, units: gpd.GeoDataFrame, parent_level: str
) -> gpd.GeoDataFrame:
    """Give uncoded grids the village that holds most of their area and a reading-order code."""
    minx, miny, maxx, maxy = units.total_bounds
    parents = db.units.read(session, level=parent_level, bbox=(minx, miny, maxx, maxy))
    if parents.empty:
        raise HierarchyError(
            f"no {parent_level} covers these features: import the {parent_level} level first"
        )
    tree = shapely.STRtree(parents.geometry.values)
    left, right = tree.query(units.geometry.values, predicate="intersects")
    overlap = shapely.area(
        shapely.intersection(units.geometry.values[left], parents.geometry.values[right])
    )
    best = pd.DataFrame({"unit": left, "parent": right, "area": overlap})
    best = best.sort_values("area").drop_duplicates("unit", keep="last").set_index("unit")
    orphans = sorted(set(range(len(units))) - set(best.index))
    if orphans:
        raise HierarchyError(
            f"feature {orphans[0]} lies outside every loaded {parent_level}: "
            "check its position and CRS",
            feature=orphans[0],
        )
    units = units.copy()
    units["parent_code"] = parents["code"].to_numpy()[
        best["parent"].reindex(pd.RangeIndex(len(units))).to_numpy()
    ]
    points = shapely.point_on_surface(units.geometry.values)
    units["_lon"], units["_lat"] = shapely.get_x(points), shapely.get_y(points)
    codes_out = []
    for _, group in units.groupby("parent_code", sort=False):
        order = codes.reading_order(group["_lon"].to_numpy(), group["_lat"].to_numpy())
        for sequence, position in enumerate(order, start=1):
            codes_out.append(
                (group.index[position], codes.grid_code(group["parent_code"].iloc[0], sequence))
            )
    for index, code in codes_out:
        units.loc[index, "code"] = code
    return units.drop(columns=["_lon", "_lat"])


def _check_codes(units: gpd.GeoDataFrame, level: str) -> None:
    for index, code in enumerate(units["code"]):
        try:
            codes.check_code(code, level)
        except InvalidCodeError as error:
            raise InvalidCodeError(f"feature {index}: {error}", feature=index, code=code) from error
    duplicated = units["code"][units["code"].duplicated()]
    if not duplicated.empty:
        raise InvalidCodeError(
            f"code {duplicated.iloc[0]} appears more than once in the file; codes must be unique",
            code=duplicated.iloc[0],
        )


def _pick_field(
    frame: gpd.GeoDataFrame, explicit: str | None, key: str, *, required: bool
) -> str | None:
    if explicit:
        if explicit not in frame.columns:
            raise ImportFileError(
                f"field {explicit!r} is not in the file; its fields are: "
                f"{', '.join(c for c in frame.columns if c != 'geometry')}",
                field=explicit,
            )
        return explicit
    lowered = {str(c).lower(): c for c in frame.columns if c != "geometry"}
    for candidate in FIELD_CANDIDATES[key]:
        if candidate in lowered:
            return str(lowered[candidate])
    if required:
        raise ImportFileError(
            f"no {key} field found (looked for {', '.join(FIELD_CANDIDATES[key][:4])}…); pass "
            f"--{key}-field; the file's fields are: "
            f"{', '.join(str(c) for c in frame.columns if c != 'geometry') or '(none)'}",
            field=key,
        )
    return None


def to_lonlat(frame: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    """Reproject files whose declared CRS is not WGS84/CGCS2000 longitude/latitude."""
    if frame.crs is None:
        return frame
    epsg = frame.crs.to_epsg()
    if epsg in (4326, 4490) or frame.crs.equals("OGC:CRS84"):
        return frame
    notes.append(f"reprojected from {frame.crs.name} to EPSG:4326")
    return frame.to_crs("EPSG:4326")


def _strip_national_prefix(values: pd.Series, level: Level) -> tuple[pd.Series, int]:
    """Codes with China's country code 156 in front (``156513401`` for county 513401): the
    division code without it, and how many were stripped. Only a code exactly three digits
    longer than its level's is touched, so no real code is ever shortened.
    """
    length = level.code_length + 3

    def strip(code: str | None) -> str | None:
        if code is not None and len(code) == length and code.startswith("156") and code.isdigit():
            return code[3:]
        return code

    cleaned = [strip(code) for code in values]
    changed = sum(1 for new, old in zip(cleaned, values, strict=True) if new != old)
    return pd.Series(cleaned, index=values.index, dtype=object), changed


def _clean_code(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # numeric columns read as float
        text = text[:-2]
    return text or None


def _same_unit(old: pd.Series, new: Any) -> bool:
    return (
        old["name"] == new.name
        and old["parent_code"] == new.parent_code
        and bool(shapely.equals_exact(old["geometry"], new.geometry, tolerance=1e-9))
    )


def _guess_dbf_encoding(dbf: Path) -> str | None:
    if not dbf.exists():
        return None
    raw = dbf.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "GBK"
    return None


def get_unit(
    session: Session, code: str, *, level: str | None = None, generation: int | None = None
) -> pd.Series:
    """Return one unit (a row with its geometry) or raise UnknownCodeError naming close codes."""
    unit_level = codes.level_of(code)
    if level is not None and unit_level != level:
        raise InvalidCodeError(
            f"{code} is a {unit_level} code, but a {level} code was expected", code=code
        )
    db.generations.check_exists(session, generation)
    found = db.units.read(session, codes=[code], generation=generation)
    if found.empty:
        county = None if unit_level == "county" else code[:6]
        prefix = code[:4] if unit_level == "county" else code[:-3]
        same_level = db.units.read(session, level=unit_level, county=county, generation=generation)
        siblings = [c for c in same_level["code"] if c.startswith(prefix)]
        nearest = sorted(siblings, key=lambda c: abs(int(c) - int(code)))[:5]
        hint = f"; nearby codes: {', '.join(nearest)}" if nearest else ""
        raise UnknownCodeError(
            f"no {unit_level} with code {code} in the "
            f"{'current generation' if generation is None else f'generation {generation}'}{hint}",
            code=code,
            nearest=nearest,
        )
    unit: pd.Series[Any] = found.iloc[0]
    return unit


def list_units(
    session: Session,
    *,
    limit: int,
    offset: int = 0,
    level: str | None = None,
    parent: str | None = None,
    county: str | None = None,
    code: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    generation: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Units as GeoJSON-ready dicts (geometry kept as GeoJSON text) plus the total match count."""
    if level is not None:
        codes.check_level(level)
    if parent is not None:
        codes.level_of(parent)
    if bbox is not None:
        _check_bbox(bbox)
    db.generations.check_exists(session, generation)
    filters: dict[str, Any] = {
        "level": level,
        "parent": parent,
        "county": county,
        "codes": [code] if code else None,
        "bbox": bbox,
        "generation": generation,
    }
    rows = db.units.features(session, limit=limit, offset=offset, **filters)
    total = db.units.count(session, **filters)
    return [row._asdict() for row in rows], total


def _check_bbox(bbox: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = bbox
    crs.check_lonlat(np.array([minx, maxx]), np.array([miny, maxy]))
    if minx > maxx or miny > maxy:
        raise InvalidCodeError(
            f"bbox {bbox} is not min_lon,min_lat,max_lon,max_lat (min must not exceed max)",
            bbox=list(bbox),
        )
