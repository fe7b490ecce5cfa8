"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): existing 311 clients list the
category catalogue as services, report incidents as service requests and follow their status.

Every resource answers in XML (required by the spec) and JSON, chosen by the path suffix; every
failure is an Open311 ``errors`` document with the matching HTTP status, never a 500.
"""

from __future__ import annotations

import math
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from importlib.util import find_spec
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.deps import json_response, now, parse_bbox
from api.errors import status_for
from gridmap import categories, crs, incidents
from gridmap.errors import GridmapError, InvalidInputError
from gridmap.vocabulary import FINISHED_STAGES, OPEN_STAGES

router = APIRouter(tags=["open311"])

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-23T00:00:00+08:00"  # when this document last changed (spec: sortable)
CONTACT = "gridmap 网格化管理中心 — the county's grid management centre (see /docs)"
KEY_SERVICE = "API keys are issued by the county's grid management centre (网格化管理中心)"
FORMATS = ("xml", "json")
MEDIA_TYPES = ["text/xml", "application/json"]
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
MAX_REQUESTS = 1000  # the spec's default cap on one GET requests answer
WINDOW = timedelta(days=90)  # the spec's default and widest date range
MAX_ID = 2**63 - 1  # incident ids are BIGINT
MAX_ID_DIGITS = len(str(MAX_ID))
MAX_REPORTER = 200
MAX_FORM_FIELDS = 200
# XML element names of list items, by the element holding the list.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_OFFSET_AS_SPACE = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")  # "+08:00" sent unencoded in a query
_CJK = re.compile("[\u3400-\u9fff]")
_MULTIPART = find_spec("python_multipart") is not None  # starlette parses multipart with it


class Open311Error(Exception):
    """A failure rendered as an Open311 ``errors`` document with this HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _translate(error: GridmapError, *, posting: bool) -> Open311Error:
    """A library error as an Open311 error: 400 for bad input (the spec has no 422); on POST
    a missing category or a point outside coverage is bad input too."""
    status = status_for(error)
    if status == 422 or (posting and status == 404):
        status = 400
    return Open311Error(status, str(error))


# Rendering


def _xml_text(value: Any) -> str | None:
    """Element text: booleans as the spec writes them, characters XML 1.0 forbids dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("", str(value))


def _element(name: str, value: Any) -> ET.Element:
    """One element: mappings become children, lists become repeated items named by ITEM_NAMES."""
    element = ET.Element(name)
    if isinstance(value, Mapping):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        element.extend(_element(ITEM_NAMES[name], item) for item in value)
    else:
        element.text = _xml_text(value)
    return element


def _render(kind: str, root: str, body: Any, status: int = 200) -> Response:
    """``body`` as JSON, or as XML under the ``root`` element the spec names."""
    if kind == "json":
        return json_response(body, status)
    document = XML_DECLARATION + ET.tostring(_element(root, body), encoding="utf-8")
    return Response(document, status_code=status, media_type=XML_MEDIA_TYPE)


def _render_error(kind: str, error: Open311Error) -> Response:
    """The spec's error document: ``[{code, description}]`` / ``<errors><error>…``."""
    body = [{"code": error.code, "description": error.description}]
    return _render(kind, "errors", body, error.code)


def _check_query(request: Request) -> None:
    """400 for a NUL character in the query string: no argument takes one, text columns refuse
    it, and it would otherwise surface as "not found" or worse."""
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            raise Open311Error(400, f"query argument {key!r} may not contain NUL characters")


async def _serve(
    request: Request,
    format: str,
    root: str,
    work: Callable[[], Awaitable[Any]],
    *,
    status: int = 200,
    posting: bool = False,
) -> Response:
    """Check the format suffix and the query, run ``work`` and render its answer or failure."""
    kind = format.lower()
    if kind not in FORMATS:
        message = f"unknown format {format!r}; add .xml or .json to the resource"
        return _render_error("xml", Open311Error(404, message))
    try:
        _check_query(request)
        body = await work()
    except Open311Error as error:
        return _render_error(kind, error)
    except GridmapError as error:
        return _render_error(kind, _translate(error, posting=posting))
    return _render(kind, root, body, status)


# Values


def _when(value: datetime | None) -> str | None:
    """ISO 8601 with the offset, in China time (spec: w3 datetime with timezone)."""
    if value is None:
        return None
    return value.astimezone(incidents.CHINA_TZ).isoformat(timespec="seconds")


def _parse_when(name: str, raw: str) -> tuple[datetime, bool]:
    """A w3 datetime or date from the query (without an offset it is China time), and whether
    it is a date alone, which names the whole day."""
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


def _split(raw: str | None) -> list[str]:
    """A comma-delimited argument as its distinct non-empty items, in order."""
    items = (item.strip() for item in (raw or "").split(","))
    return list(dict.fromkeys(item for item in items if item))


def _request_id(raw: str) -> int | None:
    """An incident id from a service_request_id, or None when it cannot name one."""
    value = raw.strip()
    # ASCII digits only ("²".isdigit() is True), and few: int() refuses over 4,300 digits
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def _jurisdiction(request: Request, raw: str | None) -> str | None:
    """The optional jurisdiction_id: a loaded county's 6-digit code (404 otherwise, per spec)."""
    if raw is None or not raw.strip():
        return None
    code = raw.strip()
    if not (len(code) == 6 and code.isdigit() and code in request.app.state.index.names):
        raise Open311Error(404, f"jurisdiction_id {code!r} not found; use a county code")
    return code


def _hours(value: float) -> str:
    """Hours without a trailing ".0" (168, 0.5)."""
    return f"{value:g}"


# Services


def _services(catalogue: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Active 小类 as services, each in its 大类's group."""
    names = {c["code"]: c for c in catalogue}
    found = []
    for category in sorted(catalogue, key=lambda c: c["code"]):
        if len(category["code"]) != 4 or not category["active"]:
            continue
        parent = names.get(category["parent_code"] or "", {})
        keywords = (category["name_en"], parent.get("name_zh"), parent.get("name_en"))
        found.append(
            {
                "service_code": category["code"],
                "service_name": category["name_zh"],
                "description": (
                    f"{category['name_zh']} ({category['name_en']})：{category['case_type_zh']}，"
                    f"由{category['tier_zh']}办理，{_hours(category['limit_hours'])} 小时内办结"
                ),
                "metadata": False,
                "type": "realtime",
                "keywords": ", ".join(k for k in keywords if k),
                "group": parent.get("name_zh", ""),
            }
        )
    return found


# Service requests


def _address(incident: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """Township, village and grid names (their codes where a name is missing)."""
    codes = (incident.get(f"{level}_code") for level in ("township", "village", "grid"))
    return " ".join(names.get(code) or code for code in codes if code)


def _agency(incident: Mapping[str, Any]) -> str:
    """The tier that has the case, with its department or the grid worker when assigned."""
    parts = [incident["tier_zh"]]
    if incident.get("department"):
        parts.append(incident["department"])
    elif incident.get("worker_id") is not None:
        parts.append("网格员")
    return " ".join(parts)


def _notice(incident: Mapping[str, Any]) -> str:
    """What happens next: who handles the case and by when, or that it is finished."""
    if not incident["open"]:
        return f"已{incident['stage_zh']} ({incident['stage']})"
    due = incident["due_at"].astimezone(incidents.CHINA_TZ)
    late = "，已超时" if incident.get("overdue") else ""
    return (
        f"{incident['case_type_zh']}：由{incident['tier_zh']}办理，"
        f"应于 {due:%Y-%m-%d %H:%M} 前办结{late}"
    )


def _service_request(
    incident: Mapping[str, Any],
    *,
    note: str,
    service_names: Mapping[str, str],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """One incident as a GeoReport v2 request, plus ``extended_attributes`` (stage and codes)."""
    photos = incident.get("photo_urls") or []
    code = incident["category_code"]
    return {
        "service_request_id": str(incident["id"]),
        "status": "open" if incident["open"] else "closed",
        "status_notes": note or incident["stage_zh"],
        "service_name": service_names.get(code, code),
        "service_code": code,
        "description": incident["description"],
        "agency_responsible": _agency(incident),
        "service_notice": _notice(incident),
        "requested_datetime": _when(incident["reported_at"]),
        "updated_datetime": _when(incident["stage_at"]),
        "expected_datetime": _when(incident["due_at"]),
        "address": _address(incident, names),
        "address_id": incident["grid_code"],
        "zipcode": None,
        "lat": incident["lat"],
        "long": incident["lon"],
        "media_url": photos[0] if photos else None,
        "extended_attributes": {
            "stage": incident["stage"],
            "stage_zh": incident["stage_zh"],
            "tier": incident["tier"],
            "grid_code": incident["grid_code"],
            "village_code": incident["village_code"],
            "township_code": incident["township_code"],
            "county_code": incident["county_code"],
        },
    }


def _service_names(session: Any) -> dict[str, str]:
    """service_name (name_zh) by code, inactive and group codes included, for old requests."""
    return {c["code"]: c["name_zh"] for c in categories.catalogue(session)}


async def _read_form(request: Request) -> dict[str, str]:
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


def _check_key(request: Request, key: str | None) -> None:
    """403 unless ``api_key`` is one of the configured Open311 keys (constant-time compare)."""
    keys: list[str] = request.app.state.settings.open311_api_keys
    given = (key or "").encode()
    if not given or not any(secrets.compare_digest(given, k.encode()) for k in keys):
        raise Open311Error(403, "api_key is missing or invalid")


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


def _report(fields: Mapping[str, str]) -> incidents.Report:
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


def _statuses(raw: str | None) -> list[str] | None:
    """Stages for ``status=open|closed`` (comma list); None means every stage."""
    wanted = _split(raw)
    unknown = [s for s in wanted if s not in ("open", "closed")]
    if unknown:
        raise Open311Error(400, f"status {unknown[0]!r} is not open or closed")
    if not wanted or len(wanted) == 2:
        return None
    if wanted == ["open"]:
        return list(OPEN_STAGES)
    return list(FINISHED_STAGES)


def _window(params: Mapping[str, str], at: datetime) -> tuple[datetime | None, datetime | None]:
    """[since, until) from start_date / end_date (inclusive), at most 90 days (spec default:
    the most recent 90 days)."""
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


def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
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


# Endpoints


@router.get("/discovery.{format}", summary="Service discovery")
async def discovery(request: Request, format: str) -> Response:
    """Where this GeoReport v2 endpoint lives and which formats it speaks."""
    url = f"{request.base_url}open311/v2"

    async def work() -> dict[str, Any]:
        endpoint = {
            "specification": SPECIFICATION,
            "url": url,
            "changeset": CHANGESET,
            "type": "production",
            "formats": MEDIA_TYPES,
        }
        return {
            "changeset": CHANGESET,
            "contact": CONTACT,
            "key_service": KEY_SERVICE,
            "endpoints": [endpoint],
        }

    return await _serve(request, format, "discovery", work)


@router.get("/services.{format}", summary="Service list / 事件分类")
async def services(request: Request, format: str) -> Response:
    """Every active 小类 as a service, grouped by its 大类."""

    def read() -> list[dict[str, Any]]:
        with request.app.state.sessions() as session:
            return _services(categories.catalogue(session))

    async def work() -> list[dict[str, Any]]:
        _jurisdiction(request, request.query_params.get("jurisdiction_id"))
        return await run_in_threadpool(read)

    return await _serve(request, format, "services", work)


@router.get("/services/{service_code}.{format}", summary="Service definition")
async def service_definition(request: Request, service_code: str, format: str) -> Response:
    """A service's extra attributes: none, every service needs only the standard fields."""

    def read() -> dict[str, Any]:
        with request.app.state.sessions() as session:
            known = {s["service_code"] for s in _services(categories.catalogue(session))}
        if service_code not in known:
            raise Open311Error(
                404, f"service_code {service_code!r} not found; GET services.json lists them"
            )
        return {"service_code": service_code, "attributes": []}

    async def work() -> dict[str, Any]:
        _jurisdiction(request, request.query_params.get("jurisdiction_id"))
        return await run_in_threadpool(read)

    return await _serve(request, format, "service_definition", work)


@router.post("/requests.{format}", summary="Report / 上报 (form-encoded)")
async def create_request(request: Request, format: str) -> Response:
    """Report an incident: located by lat/long (``crs`` extension: wgs84, cgcs2000, gcj02 or
    bd09), assigned to its grid and worker, stored with its first audit row."""
    state = request.app.state

    def store(report: incidents.Report, county: str | None) -> incidents.Intake:
        with state.sessions() as session, session.begin():
            intake = incidents.report_incident(
                session,
                state.index,
                report,
                key=None,
                now=now(request),
                near_boundary_m=state.settings.near_boundary_m,
                source="open311",
            )
            if county is not None and intake.incident["county_code"] != county:
                raise InvalidInputError(  # raised inside the transaction: nothing is stored
                    f"the point lies in county {intake.incident['county_code']}, "
                    f"not in jurisdiction_id {county}"
                )
            return intake

    async def work() -> list[dict[str, Any]]:
        fields = await _read_form(request)
        _check_key(request, fields.get("api_key"))
        county = _jurisdiction(request, fields.get("jurisdiction_id"))
        intake = await run_in_threadpool(store, _report(fields), county)
        incident = intake.incident
        return [
            {
                "service_request_id": str(incident["id"]),
                "service_notice": _notice(incident),
                "account_id": None,
            }
        ]

    return await _serve(request, format, "service_requests", work, status=201, posting=True)


@router.get("/requests.{format}", summary="Service requests / 事件查询")
async def list_requests(request: Request, format: str) -> Response:
    """Requests by ``service_request_id`` (comma list; overrides the rest), or by
    ``service_code``, ``status``, ``start_date``/``end_date`` (default: last 90 days), and the
    extensions ``bbox`` and ``jurisdiction_id`` (county code); newest first, at most 1000."""
    params = request.query_params
    state = request.app.state

    def by_ids(session: Any, ids: list[int]) -> list[dict[str, Any]]:
        return incidents.search(session, now=now(request), ids=ids, limit=MAX_REQUESTS)[1]

    def by_filters(session: Any, codes: list[str], filters: dict[str, Any]) -> list[dict[str, Any]]:
        known = _service_names(session)
        unknown = [c for c in codes if len(c) != 4 or c not in known]
        if unknown:
            raise Open311Error(
                400, f"service_code {unknown[0]!r} not found; GET services.json lists them"
            )
        found: list[dict[str, Any]] = []
        for code in codes or [None]:
            _, items = incidents.search(
                session, now=now(request), category=code, limit=MAX_REQUESTS, **filters
            )
            found.extend(i for i in items if code is None or i["category_code"] == code)
        found.sort(key=lambda i: (i["reported_at"], i["id"]), reverse=True)
        return found[:MAX_REQUESTS]

    def read(ids: list[int] | None, codes: list[str], filters: dict[str, Any]) -> list[Any]:
        with state.sessions() as session:
            found = by_ids(session, ids) if ids is not None else by_filters(session, codes, filters)
            notes = incidents.latest_notes(session, [i["id"] for i in found])
            service_names = _service_names(session)
        return [
            _service_request(
                i, note=notes.get(i["id"], ""), service_names=service_names, names=state.index.names
            )
            for i in found
        ]

    async def work() -> list[Any]:
        raw_ids = _split(params.get("service_request_id"))
        if raw_ids:
            ids = [_request_id(raw) for raw in raw_ids]
            if None in ids:
                raise Open311Error(400, "service_request_id takes comma-separated request ids")
            if len(ids) > MAX_REQUESTS:
                raise Open311Error(400, f"at most {MAX_REQUESTS} service_request_id per call")
            return await run_in_threadpool(read, [i for i in ids if i is not None], [], {})
        since, until = _window(params, now(request))
        filters = {
            "county": _jurisdiction(request, params.get("jurisdiction_id")),
            "stages": _statuses(params.get("status")),
            "since": since,
            "until": until,
            "bbox": _bbox(params.get("bbox")),
        }
        return await run_in_threadpool(read, None, _split(params.get("service_code")), filters)

    return await _serve(request, format, "service_requests", work)


@router.get("/requests/{service_request_id}.{format}", summary="One service request / 事件")
async def get_request(request: Request, service_request_id: str, format: str) -> Response:
    """One request (as a one-item list, per spec) with its latest status note."""
    state = request.app.state

    def read(incident_id: int, county: str | None) -> list[dict[str, Any]]:
        with state.sessions() as session:
            incident = incidents.get(session, incident_id, now=now(request))
            service_names = _service_names(session)
        if county is not None and incident["county_code"] != county:
            raise Open311Error(404, f"no service request {incident_id} in jurisdiction {county}")
        events = incident.get("events") or []
        note = events[-1]["note"] if events else ""
        return [
            _service_request(
                incident, note=note, service_names=service_names, names=state.index.names
            )
        ]

    async def work() -> list[dict[str, Any]]:
        county = _jurisdiction(request, request.query_params.get("jurisdiction_id"))
        incident_id = _request_id(service_request_id)
        if incident_id is None:
            raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
        return await run_in_threadpool(read, incident_id, county)

    return await _serve(request, format, "service_requests", work)
