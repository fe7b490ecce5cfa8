"""``gridmap incidents …`` (overdue escalation, listings) and ``gridmap categories …`` (the
catalogue they are filed under).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gridmap import categories, incidents
from gridmap.cli.context import JsonOpt, console, emit, load_settings, transaction
from gridmap.errors import InvalidInputError

incidents_app = typer.Typer(help="Incidents (事件): overdue escalation, listings.")
categories_app = typer.Typer(help="The incident category catalogue (事件分类).")


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
    with transaction(load_settings()) as session:
        escalated = incidents.escalate_overdue(session, now=_when(now))
    emit(
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
    with transaction(load_settings()) as session:
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

    emit(found, as_json, render)


@categories_app.command("import")
def categories_import(
    path: Annotated[
        Path, typer.Argument(help="JSON file shaped like gridmap/data/categories.json")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Add or replace categories from a file (all or nothing)."""
    rows = categories.read_file(path)
    with transaction(load_settings()) as session:
        written = categories.put(session, rows)
    emit({"written": written}, as_json, lambda d: console.print(f"{d['written']} categories"))


@categories_app.command("list")
def categories_list(as_json: JsonOpt = False) -> None:
    """The catalogue with each category's tier, case type and hours per stage."""
    with transaction(load_settings()) as session:
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

    emit(found, as_json, render)
