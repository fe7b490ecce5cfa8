"""Summary tables (汇总表) per township and per village, as CSV or XLSX."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from gridmap import db, hierarchy
from gridmap.errors import InvalidInputError
from gridmap.exports.writers import write_csv_frame
from gridmap.vocabulary import Language, Level, Stage, UnitKind

SUMMARY_LEVELS = (Level.TOWNSHIP, Level.VILLAGE)
SUMMARY_FORMATS = ("csv", "xlsx")
SUMMARY_HEADERS: dict[str, tuple[str, str]] = {
    "code": ("编码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型代码", "Kind"),
    "kind_zh": ("类型", "Kind"),
    "township_code": ("乡镇(街道)编码", "Township code"),
    "township_name": ("乡镇(街道)", "Township"),
    "villages": ("村(社区)数", "Villages"),
    "grids": ("网格数", "Grids"),
    "households": ("户数", "Households"),
    "persons": ("人口", "Persons"),
    "workers": ("网格工作人员(人)", "Workers"),
    **{
        f"incidents_{stage}": (f"事件({zh})", f"Incidents ({stage})")
        for stage, zh in Stage.labels().items()
    },
    "incidents_total": ("事件合计", "Incidents (total)"),
}
SHEET_NAMES = {"township": ("乡镇(街道)", "townships"), "village": ("村(社区)", "villages")}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def check_level(level: str) -> str:
    """``township`` or ``village``, else a clear error."""
    if level not in SUMMARY_LEVELS:
        raise InvalidInputError(
            f"unknown summary level {level!r}; valid choices: {', '.join(SUMMARY_LEVELS)}",
            level=str(level),
            valid=list(SUMMARY_LEVELS),
        )
    return level


def check_lang(lang: str) -> Language:
    """``zh`` (Chinese headers) or ``en``."""
    return Language.parse(lang)


def summary_table(session: Session, county: str, level: str) -> pd.DataFrame:
    """One row per current township or village: counts of units, households, persons, workers
    and incidents per stage (``incidents_<stage>``, ``incidents_total``); English column names,
    see :data:`SUMMARY_HEADERS` for the Chinese ones.
    """
    check_level(level)
    hierarchy.get_unit(session, county, level="county")
    return _summary(session, county, level)


def summary_totals(session: Session, county: str) -> dict[str, int]:
    """County-wide figures for a totals row. Workers are counted once each, so the total is not
    the sum of the rows when someone serves grids in two townships.
    """
    hierarchy.get_unit(session, county, level="county")
    row = _summary(session, county, "county").iloc[0]
    return {name: int(row[name]) for name in row.index[row.index.get_loc("villages") :]}


def _summary(session: Session, county: str, level: str) -> pd.DataFrame:
    table = db.exports.summary(session, county, level)
    table["kind_zh"] = table["kind"].map(UnitKind.labels())
    stages = db.exports.incident_stages(session, county, level)
    counts = (
        stages.pivot_table(index="code", columns="stage", values="incidents", aggfunc="sum")
        .reindex(columns=list(Stage))
        .reindex(table["code"])
        .fillna(0)
        .astype("int64")
    )
    for stage in Stage:
        table[f"incidents_{stage}"] = counts[stage].to_numpy()
    table["incidents_total"] = counts.sum(axis=1).to_numpy()
    if level in ("county", "township"):
        columns = ["code", "name", "kind", "kind_zh", "villages"]
    else:
        table = table.rename(
            columns={"parent_code": "township_code", "parent_name": "township_name"}
        )
        columns = ["code", "name", "kind", "kind_zh", "township_code", "township_name"]
    columns += ["grids", "households", "persons", "workers"]
    columns += [f"incidents_{s}" for s in Stage] + ["incidents_total"]
    numeric = columns[columns.index("grids") :]
    table[numeric] = table[numeric].astype("int64")
    return table[columns].reset_index(drop=True)


def summary_tables(session: Session, county: str) -> dict[str, pd.DataFrame]:
    """The township and the village summary tables of a county, by level."""
    return {level: summary_table(session, county, level) for level in SUMMARY_LEVELS}


def labelled(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """A summary table with Chinese (``zh``) or English (``en``) headers, one kind column."""
    check_lang(lang)
    table = table.drop(columns="kind" if lang == "zh" else "kind_zh")
    position = 0 if lang == "zh" else 1
    return table.rename(columns={c: SUMMARY_HEADERS[c][position] for c in table.columns})


def write_summary_csv(
    table: pd.DataFrame, path: str | os.PathLike[str], *, lang: str = "zh"
) -> Path:
    """One summary table as CSV (UTF-8 with BOM, for Excel), written atomically."""
    target = Path(path)
    with _atomic(target) as scratch:
        write_csv_frame(labelled(table, lang), scratch)
    return target


def write_summary_xlsx(
    tables: dict[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    lang: str = "zh",
    totals: dict[str, int] | None = None,
) -> Path:
    """Summary tables as one workbook, a sheet per level, with a bold header, frozen header row
    and fitted column widths, written atomically. A totals row (合计) ends each sheet: the
    county-wide ``totals`` (:func:`summary_totals`) where given, else column sums.
    """
    from openpyxl.styles import Font

    target = Path(path)
    with _atomic(target) as scratch, pd.ExcelWriter(scratch, engine="openpyxl") as writer:
        for level, table in tables.items():
            check_level(level)
            sums = {**table.select_dtypes("number").sum(), **(totals or {})}
            total = labelled(
                pd.DataFrame([{c: sums.get(c) for c in table.columns}], columns=table.columns),
                lang,
            ).iloc[0]
            total.iloc[0] = "合计" if lang == "zh" else "Total"
            frame = labelled(table, lang)
            sheet_name = SHEET_NAMES[level][0 if lang == "zh" else 1]
            frame.to_excel(writer, sheet_name=sheet_name, index=False)
            sheet = writer.sheets[sheet_name]
            sheet.append([None if pd.isna(v) else v for v in total.tolist()])
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
            sheet.freeze_panes = "C2"
            for index, column in enumerate(frame.columns, start=1):
                width = max(
                    [_display_width(str(column))] + [_display_width(str(v)) for v in frame[column]]
                )
                sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(
                    width + 2, 40
                )
    return target


def _display_width(text: str) -> int:
    """Columns a string takes in a spreadsheet: CJK characters count double."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """Yield a scratch path next to ``target``; rename it over ``target`` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


def export_summary(
    session: Session,
    county: str,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    level: str | None = None,
    lang: str = "zh",
) -> dict[str, Any]:
    """Write summary tables: CSV holds one level (default township), XLSX every level asked for
    (default both, a sheet each). Returns a report with the row counts.
    """
    key = str(fmt).strip().lower().lstrip(".")
    if key not in SUMMARY_FORMATS:
        raise InvalidInputError(
            f"unknown summary format {fmt!r}; valid choices: {', '.join(SUMMARY_FORMATS)}",
            format=str(fmt),
            valid=list(SUMMARY_FORMATS),
        )
    check_lang(lang)
    levels = (
        [check_level(level)] if level else (["township"] if key == "csv" else list(SUMMARY_LEVELS))
    )
    tables = {lvl: summary_table(session, county, lvl) for lvl in levels}
    if key == "csv":
        write_summary_csv(tables[levels[0]], path, lang=lang)
    else:
        write_summary_xlsx(tables, path, lang=lang, totals=summary_totals(session, county))
    return {
        "county_code": county,
        "format": key,
        "path": str(path),
        "lang": lang,
        "rows": {lvl: len(t) for lvl, t in tables.items()},
    }
