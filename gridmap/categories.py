"""The incident category catalogue (事件分类): defaults, validation, import and reading.

Two levels: a 大类 has a two-digit code, its 小类 four digits starting with it. Each category
carries a default tier, a case type and time limits (whole and per stage). The defaults ship in
``gridmap/data/categories.json`` and are seeded by the migrations; counties change them with
``gridmap categories import FILE`` or ``PUT /api/v1/categories/{code}``.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, with_config
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from 3.12

from gridmap import db, workflow
from gridmap.errors import InvalidInputError, NotFoundError
from gridmap.vocabulary import OPEN_STAGES, CaseType, Tier

# Time limits: a quarter hour at least (shorter makes every case overdue on arrival), a year
# at most. Names: printable text of at most MAX_NAME characters.
MIN_HOURS = 0.25
MAX_HOURS = 24 * 365
MAX_NAME = 100


def defaults() -> list[dict[str, Any]]:
    """The shipped default catalogue."""
    text = resources.files("gridmap").joinpath("data/categories.json").read_text("utf-8")
    return list(json.loads(text)["categories"])


def read_file(path: str | Path) -> list[dict[str, Any]]:
    """Categories from a JSON file shaped like the defaults (``{"categories": [...]}``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"cannot read categories from {path}: {error}") from error
    rows = data.get("categories") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise InvalidInputError(f"{path} must hold a list under 'categories'")
    return rows


def check(rows: Sequence[dict[str, Any]], known: set[str]) -> None:
    """Refuse a category row with a bad code, parent, tier, case type or limit, naming it."""
    codes = known | {str(r.get("code")) for r in rows}
    for row in rows:
        code = str(row.get("code", ""))
        parent = row.get("parent_code") or None
        row["parent_code"] = parent  # "" means none
        where = f"category {code!r}"
        if not (code.isascii() and code.isdigit() and len(code) in (2, 4)):
            raise InvalidInputError(f"{where}: codes are 2 digits (大类) or 4 digits (小类)")
        if len(code) == 4 and parent != code[:2]:
            raise InvalidInputError(f"{where}: a 小类's parent_code must be {code[:2]!r}")
        if len(code) == 2 and parent:
            raise InvalidInputError(f"{where}: a 大类 has no parent_code")
        if parent and parent not in codes:
            raise InvalidInputError(f"{where}: parent {parent!r} does not exist")
        if row.get("tier") not in Tier.values():
            raise InvalidInputError(f"{where}: tier must be one of {', '.join(Tier)}")
        if row.get("case_type") not in CaseType.values():
            raise InvalidInputError(f"{where}: case_type must be one of {', '.join(CaseType)}")
        if not _hours(row.get("limit_hours")):
            raise InvalidInputError(
                f"{where}: limit_hours must be between {MIN_HOURS} and {MAX_HOURS} hours"
            )
        for stage, value in (row.get("stage_hours") or {}).items():
            if stage not in OPEN_STAGES or not _hours(value):
                raise InvalidInputError(
                    f"{where}: stage_hours takes hours ({MIN_HOURS} to {MAX_HOURS}) for "
                    f"{', '.join(OPEN_STAGES)}"
                )
        for name in ("name_zh", "name_en"):
            text = str(row.get(name, "")).strip()
            if not text:
                raise InvalidInputError(f"{where}: {name} is required")
            control = next((c for c in text if unicodedata.category(c).startswith("C")), None)
            if control is not None:
                raise InvalidInputError(
                    f"{where}: {name} contains the control character U+{ord(control):04X}"
                )
            if len(text) > MAX_NAME:
                raise InvalidInputError(f"{where}: {name} is longer than {MAX_NAME} characters")
            row[name] = text


def _hours(value: object) -> bool:
    """A usable time limit: a finite number of hours from a quarter hour to a year."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and MIN_HOURS <= value <= MAX_HOURS
    )


def put(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Validate and upsert categories (the caller commits); return how many were written."""
    known = {c.code for c in db.categories.read(session)}
    check(rows, known)
    return db.categories.upsert(session, rows)


@with_config(ConfigDict(extra="forbid"))
class CategoryView(TypedDict):
    """A category (大类 or 小类) with its rules, effective hours per open stage and labels."""

    code: str
    parent_code: str | None
    name_zh: str
    name_en: str
    tier: Tier
    tier_zh: str
    case_type: CaseType
    case_type_zh: str
    limit_hours: float
    stage_hours: dict[str, float]  # hours allowed in each open stage (a Stage value)
    active: bool


def _as_view(category: Any) -> CategoryView:
    limits = workflow.Limits(category.limit_hours, dict(category.stage_hours or {}))
    return CategoryView(
        code=category.code,
        parent_code=category.parent_code,
        name_zh=category.name_zh,
        name_en=category.name_en,
        tier=Tier(category.tier),
        tier_zh=Tier(category.tier).zh,
        case_type=CaseType(category.case_type),
        case_type_zh=CaseType(category.case_type).zh,
        limit_hours=category.limit_hours,
        stage_hours={s.value: round(limits.hours(s) or 0.0, 3) for s in OPEN_STAGES},
        active=category.active,
    )


def catalogue(session: Session) -> list[CategoryView]:
    """Every category with its effective hours per stage."""
    return [_as_view(c) for c in db.categories.read(session)]


def get(session: Session, code: str) -> CategoryView:
    """One category; NotFoundError naming the code."""
    found = db.categories.get(session, code)
    if found is None:
        raise NotFoundError(f"no category {code!r}", category=code)
    return _as_view(found)


def find(session: Session, code: str) -> CategoryView | None:
    """One category, or None when there is none with ``code``."""
    found = db.categories.get(session, code)
    return None if found is None else _as_view(found)
