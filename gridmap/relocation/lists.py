"""What a relocation plan hands out (安置清单): per-site lists, one evacuation list per grid
worker (CSV and XLSX), the summary, and GeoJSON.

Each household's grid worker is its grid's primary worker (主责网格员); households of grids
without one are listed under "未配备网格员" so nobody falls off the lists. Columns carry
Chinese headers by default (English with ``lang="en"``). Persons and flags are sensitive:
callers pass ``hidden`` (the fields the reader's role may not see, from
``gridmap.auth.access``) and those columns are left out of every output.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Collection
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
from sqlalchemy.orm import Session

from gridmap import db
from gridmap.relocation.plans import PlanResult
from gridmap.vocabulary import HouseholdFlag, Language, SiteKind, Unassigned

NO_WORKER = 0  # the list of households whose grid has no primary worker

HEADERS: dict[str, dict[str, str]] = {
    "zh": {
        "worker": "网格员",
        "grid_code": "网格编码",
        "village_code": "村（社区）编码",
        "household_id": "户编号",
        "persons": "人数",
        "flags": "重点人群",
        "site_code": "安置点编码",
        "site_name": "安置点",
        "site_kind": "安置点类型",
        "distance_m": "直线距离（米）",
        "route_m": "道路距离（米）",
        "reason": "未安置原因",
        "no_worker": "未配备网格员",
    },
    "en": {
        "worker": "Grid worker",
        "grid_code": "Grid code",
        "village_code": "Village code",
        "household_id": "Household",
        "persons": "Persons",
        "flags": "Priority flags",
        "site_code": "Site code",
        "site_name": "Site",
        "site_kind": "Site kind",
        "distance_m": "Straight-line distance (m)",
        "route_m": "Road distance (m)",
        "reason": "Why unassigned",
        "no_worker": "No grid worker",
    },
}
LIST_COLUMNS = (
    "grid_code",
    "village_code",
    "household_id",
    "persons",
    "flags",
    "site_code",
    "site_name",
    "site_kind",
    "distance_m",
    "route_m",
    "reason",
)
SENSITIVE_COLUMNS = {"persons": "persons", "flags": "flags"}  # household fields (access.FIELDS)


def _flag_text(flags: dict[str, Any] | None, lang: str) -> str:
    if not flags:
        return ""
    return "、".join(f.label(lang) for f in HouseholdFlag if flags.get(f.value))


def table(result: PlanResult, *, lang: str = "zh") -> pd.DataFrame:
    """Every household of the plan with its site's code, name and kind (identifiers, not
    labels, except flags, site kinds and reasons, which are labelled in ``lang``).
    """
    Language.parse(lang)
    by_id = {s["id"]: s for s in result.sites}
    frame = result.households.copy()
    site = [by_id.get(int(i)) if not pd.isna(i) else None for i in frame["site_id"]]
    frame["site_code"] = [s["code"] if s else "" for s in site]
    frame["site_name"] = [s["name"] if s else "" for s in site]
    frame["site_kind"] = [SiteKind(s["kind"]).label(lang) if s else "" for s in site]
    frame["flags"] = [_flag_text(f, lang) for f in frame["flags"]]
    frame["reason"] = [
        Unassigned(r).label(lang) if isinstance(r, str) else "" for r in frame["reason"]
    ]
    for column in ("distance_m", "route_m"):
        frame[column] = frame[column].round(0)
    return frame


def worker_lists(
    session: Session,
    result: PlanResult,
    *,
    lang: str = "zh",
    workers: Collection[int] | None = None,
) -> dict[int, tuple[str, pd.DataFrame]]:
    """Worker id → (their name, their households' rows); :data:`NO_WORKER` for grids without
    a primary worker. ``workers`` keeps only those lists (a grid worker sees their own).
    """
    frame = table(result, lang=lang)
    grids = sorted({g for g in frame["grid_code"] if isinstance(g, str)})
    staff = db.workers.grid_workers(session, grids)
    primary = {g: rows[0] for g, rows in staff.items() if rows and rows[0].duty == "primary"}
    owner = [
        primary[g].id if isinstance(g, str) and g in primary else NO_WORKER
        for g in frame["grid_code"]
    ]
    frame["worker_id"] = owner
    names = {row.id: row.name for row in primary.values()}
    names[NO_WORKER] = HEADERS[lang]["no_worker"]
    lists: dict[int, tuple[str, pd.DataFrame]] = {}
    for worker_id, rows in frame.groupby("worker_id", sort=True):
        wid = int(str(worker_id))
        if workers is not None and wid not in workers:
            continue
        lists[wid] = (names[wid], rows.drop(columns=["worker_id"]).reset_index(drop=True))
    return lists


def site_lists(result: PlanResult, *, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """Site code → its households (per-site lists, 安置点名单)."""
    frame = table(result, lang=lang)
    served = frame[frame["site_code"] != ""]
    return {str(code): rows.reset_index(drop=True) for code, rows in served.groupby("site_code")}


def labelled(frame: pd.DataFrame, *, lang: str, hidden: Collection[str] = ()) -> pd.DataFrame:
    """The list's columns in order, headers in ``lang``, hidden fields left out."""
    columns = [c for c in LIST_COLUMNS if c not in hidden and c in frame]
    return frame[columns].rename(columns=HEADERS[lang])


def to_csv(frame: pd.DataFrame, *, lang: str = "zh", hidden: Collection[str] = ()) -> bytes:
    """One list as CSV, UTF-8 with a BOM so Excel on Windows opens the Chinese headers."""
    buffer = io.StringIO()
    labelled(frame, lang=lang, hidden=hidden).to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(
    sheets: dict[str, pd.DataFrame],
    *,
    lang: str = "zh",
    hidden: Collection[str] = (),
    summary: dict[str, Any] | None = None,
) -> bytes:
    """Lists as one workbook, a sheet each (names cut to Excel's 31 characters), summary first."""
    from openpyxl.styles import Font  # openpyxl is imported only when a workbook is written

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        if summary is not None:
            rows = [(k, _cell(v)) for k, v in summary.items()]
            title = "汇总" if lang == "zh" else "Summary"
            pd.DataFrame(rows, columns=["项目" if lang == "zh" else "Item", ""]).to_excel(
                writer, sheet_name=title, index=False
            )
        used: set[str] = set()
        for name, frame in sheets.items():
            sheet = _sheet_name(name, used)
            labelled(frame, lang=lang, hidden=hidden).to_excel(
                writer, sheet_name=sheet, index=False
            )
            for cell in writer.sheets[sheet][1]:
                cell.font = Font(bold=True)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if c in "[]:*?/\\" else c for c in name)[:31] or "sheet"
    candidate, n = clean, 2
    while candidate in used:
        suffix = f" ({n})"
        candidate, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def geojson(result: PlanResult, *, hidden: Collection[str] = ()) -> dict[str, Any]:
    """The plan as a FeatureCollection: sites (with their loads) and households (points with
    their site and distances); flow lines are the map's business.
    """
    features: list[dict[str, Any]] = []
    for site in result.sites:
        props = {k: v for k, v in site.items() if k not in ("wkb", "geojson")}
        props["feature"] = "site"
        features.append(
            {"type": "Feature", "geometry": json.loads(site["geojson"]), "properties": props}
        )
    show_position = "geometry" not in hidden
    records = cast(list[dict[str, Any]], result.households.to_dict("records"))
    for record in records:
        row = SimpleNamespace(**record)
        props = {
            "feature": "household",
            "household_id": int(row.household_id),
            "village_code": row.village_code,
            "grid_code": row.grid_code,
            "site_id": None if pd.isna(row.site_id) else int(row.site_id),
            "distance_m": None if pd.isna(row.distance_m) else round(float(row.distance_m), 1),
            "route_m": None if pd.isna(row.route_m) else round(float(row.route_m), 1),
            "reason": row.reason if isinstance(row.reason, str) else None,
        }
        if "persons" not in hidden:
            props["persons"] = int(row.persons)
        if "flags" not in hidden:
            props["flags"] = [f.value for f in HouseholdFlag if (row.flags or {}).get(f.value)]
        geometry = (
            {"type": "Point", "coordinates": [round(row.lon, 6), round(row.lat, 6)]}
            if show_position
            else None
        )
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {
        "type": "FeatureCollection",
        "features": features,
        "plan": {"id": result.id, "county_code": result.county, "summary": result.summary},
    }
