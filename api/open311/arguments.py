"""Reading what an Open311 client sends: query arguments (ids, dates, status, bbox,
jurisdiction_id), form fields (the report, api_key). Every refusal is an ``Open311Error``
naming the argument: 400 for bad input, 403 for a bad key, 404 for an unknown jurisdiction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from importlib.util import find_spec
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.exceptions import HTTPException

from api.deps import parse_bbox
from api.open311.errors import Open311Error
from gridmap import crs, incidents
from gridmap.vocabulary import FINISHED_STAGES, OPEN_STAGES

MAX_REQUESTS = 1000  # the spec's default cap on one GET requests answer
WINDOW = timedelta(days=90)  # the spec's default and widest date range
MAX_ID = 2**63 - 1  # incident ids are BIGINT
MAX_ID_DIGITS = len(str(MAX_ID))
MAX_REPORTER = 200
MAX_FORM_FIELDS = 200
_OFFSET_AS_SPACE = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")  # "+08:00" sent unencoded in a query
_CJK = re.compile("[\u3400-\u9fff]")
_MULTIPART = find_spec("python_multipart") is not None  # starlette parses multipart with it


def check_query(request: Request) -> None:
    """400 for a NUL character in the query string: no argument takes one, text columns refuse
    it, and it would otherwise surface as "not found" or worse.
    """
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            raise Open311Error(400, f"query argument {key!r} may not contain NUL characters")


# Values


def _parse_when(name: str, raw: str) -> tuple[datetime, bool]:
    """A w3 datetime or date from the query (without an offset it is China time), and whether
    it is a date alone, which names the whole day.
    """
    text = _OFFSET_AS_SPACE.sub(r"\1+\2", raw.strip()).replace("z", "Z")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise Open311Error(
            400, f"{name} {raw!r} is not an ISO 8601 datetime such as 2026-11-23T08:00:00+08:00"
        ) from error
    try:
        date.fromisoformat(text)
        whole_day = True
    except ValueError:
        whole_day = False
    return (value if value.tzinfo else value.replace(tzinfo=incidents.CHINA_TZ)), whole_day


def _shifted(value: datetime, by: timedelta, name: str, raw: str) -> datetime:
    """``value + by``, or a 400 when that leaves the calendar (years 1 to 9999)."""
    try:
        return value + by
    except OverflowError as error:
        raise Open311Error(
            400, f"{name} {raw!r} is out of range: the dates searched must stay in years 1–9999"
        ) from error


def split(raw: str | None) -> list[str]:
    """A comma-delimited argument as its distinct non-empty items, in order."""
    items = (item.strip() for item in (raw or "").split(","))
    return list(dict.fromkeys(item for item in items if item))


def request_id(raw: str) -> int | None:
    """An incident id from a service_request_id, or None when it cannot name one."""
    value = raw.strip()
    # ASCII digits only ("²".isdigit() is True), and few: int() refuses over 4,300 digits
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def request_ids(raw: str | None) -> list[int] | None:
    """The ids of ``service_request_id`` (comma list), or None when it names none."""
    raw_ids = split(raw)
    if not raw_ids:
        return None
    ids = [request_id(item) for item in raw_ids]
    if None in ids:
        raise Open311Error(400, "service_request_id takes comma-separated request ids")
    if len(ids) > MAX_REQUESTS:
        raise Open311Error(400, f"at most {MAX_REQUESTS} service_request_id per call")
    return [i for i in ids if i is not None]


def jurisdiction(raw: str | None, names: Mapping[str, str]) -> str | None:
    """The optional jurisdiction_id: a loaded county's 6-digit code, a key of the index's
    ``names`` (404 otherwise, per spec).
    """
    if raw is None or not raw.strip():
        return None
    code = raw.strip()
    if not (len(code) == 6 and code.isdigit() and code in names):
        raise Open311Error(404, f"jurisdiction_id {code!r} not found; use a county code")
    return code


# Reporting


async def read_form(request: Request) -> dict[str, str]:
    """POST fields: query arguments overridden by the url-encoded (or multipart) body."""
    fields = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data" and _MULTIPART:
        try:
            form = await request.form(max_fields=MAX_FORM_FIELDS)
        except HTTPException as error:  # starlette's answer to a malformed multipart body
            raise Open311Error(400, f"cannot read the multipart body: {error.detail}") from error
        fields.update((k, v) for k, v in form.items() if isinstance(v, str))
    elif content_type in ("", "application/x-www-form-urlencoded"):
        try:
            text = (await request.body()).decode("utf-8")
            fields.update(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
        except (UnicodeDecodeError, ValueError) as error:
            raise Open311Error(400, f"cannot read the form body: {error}") from error
    else:
        raise Open311Error(
            400, f"send the fields as application/x-www-form-urlencoded, not {content_type}"
        )
    if any("\x00" in key or "\x00" in value for key, value in fields.items()):
        raise Open311Error(400, "fields may not contain NUL characters")  # text columns refuse it
    return fields


def _coordinate(fields: Mapping[str, str], name: str) -> float:
    """A required finite number (400 otherwise): we locate requests by their point."""
    raw = (fields.get(name) or "").strip()
    if not raw:
        raise Open311Error(400, f"{name} is required (requests are located by lat and long)")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Open311Error(400, f"{name} {raw!r} is not a finite number")
    return value


def _reporter(fields: Mapping[str, str]) -> str:
    """Who reported: the name (family name first when Chinese), else the email or device."""
    first = (fields.get("first_name") or "").strip()
    last = (fields.get("last_name") or "").strip()
    name = last + first if _CJK.search(first + last) else " ".join(p for p in (first, last) if p)
    for value in (name, fields.get("email"), fields.get("device_id")):
        if value and value.strip():
            if len(value.strip()) > MAX_REPORTER:
                raise Open311Error(400, f"name, email or device_id over {MAX_REPORTER} characters")
            return value.strip()
    return ""


def report(fields: Mapping[str, str]) -> incidents.Report:
    """The library's report from the POST fields, or a 400 naming the bad field."""
    code = (fields.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if not (len(code) == 4 and code.isascii() and code.isdigit()):
        raise Open311Error(
            400, f"service_code {code!r} is not a service; GET services.json lists them"
        )
    lat, lon = _coordinate(fields, "lat"), _coordinate(fields, "long")
    crs_name = crs.check_crs((fields.get("crs") or "").strip() or "wgs84")  # stored as named
    media_url = (fields.get("media_url") or "").strip()
    if media_url and not re.match(r"https?://\S+$", media_url):
        raise Open311Error(400, f"media_url {media_url!r} must be an http(s) URL")
    description = (fields.get("description") or "").strip()
    address = (fields.get("address_string") or "").strip()
    if address:  # the reporter's own words for the place, kept for the worker who goes there
        description = f"{description}\n地址：{address}".strip()
    return incidents.Report(
        lon=lon,
        lat=lat,
        category=code,
        crs=crs_name,
        description=description,
        reporter=_reporter(fields),
        photo_urls=(media_url,) if media_url else (),
    )


# Searching


def service_codes(raw: str | None, known: Mapping[str, str]) -> list[str]:
    """The ``service_code`` filter (comma list) against the catalogue's codes (``known``)."""
    codes = split(raw)
    unknown = [c for c in codes if len(c) != 4 or c not in known]
    if unknown:
        raise Open311Error(
            400, f"service_code {unknown[0]!r} not found; GET services.json lists them"
        )
    return codes


def statuses(raw: str | None) -> list[str] | None:
    """Stages for ``status=open|closed`` (comma list); None means every stage."""
    wanted = split(raw)
    unknown = [s for s in wanted if s not in ("open", "closed")]
    if unknown:
        raise Open311Error(400, f"status {unknown[0]!r} is not open or closed")
    if not wanted or len(wanted) == 2:
        return None
    if wanted == ["open"]:
        return list(OPEN_STAGES)
    return list(FINISHED_STAGES)


def window(params: Mapping[str, str], at: datetime) -> tuple[datetime | None, datetime | None]:
    """[since, until) from start_date / end_date (inclusive), at most 90 days (spec default:
    the most recent 90 days).
    """
    start_raw, end_raw = params.get("start_date") or "", params.get("end_date") or ""
    start = _parse_when("start_date", start_raw)[0] if start_raw else None
    end, whole_day = _parse_when("end_date", end_raw) if end_raw else (None, False)
    if start is None and end is None:
        return at - WINDOW, None
    if start is None:
        assert end is not None
        start = _shifted(end, -WINDOW, "end_date", end_raw)
    if end is None:
        end = _shifted(start, WINDOW, "start_date", start_raw)
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    # end_date is included: a date alone names the whole day (China time unless an offset is
    # given), a time without a fraction names a whole second (the precision shown)
    if whole_day:
        step = timedelta(days=1)
    else:
        step = timedelta(microseconds=1 if end.microsecond else 1_000_000)
    name, raw = ("end_date", end_raw) if end_raw else ("start_date", start_raw)
    return start, _shifted(end, step, name, raw)


def bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """Extension ``bbox=min_lon,min_lat,max_lon,max_lat`` in WGS84."""
    box = parse_bbox(raw) if raw else None
    if box is not None:
        min_lon, min_lat, max_lon, max_lat = box
        if not (
            all(math.isfinite(v) for v in box)
            and -180 <= min_lon <= max_lon <= 180
            and -90 <= min_lat <= max_lat <= 90
        ):
            raise Open311Error(400, f"bbox {raw!r} is not min_lon,min_lat,max_lon,max_lat")
    return box


def search_filters(
    params: Mapping[str, str], at: datetime, names: Mapping[str, str]
) -> dict[str, Any]:
    """The keyword arguments of ``incidents.search`` from the query: the date window (default
    the 90 days before ``at``), jurisdiction_id, status and bbox, checked in that order.
    """
    since, until = window(params, at)
    return {
        "county": jurisdiction(params.get("jurisdiction_id"), names),
        "stages": statuses(params.get("status")),
        "since": since,
        "until": until,
        "bbox": bbox(params.get("bbox")),
    }
