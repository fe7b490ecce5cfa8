"""What the GeoReport v2 documents hold: discovery, services (the active 小类 of the category
catalogue), service definitions and service requests (incidents, their seven stages mapped onto
the spec's open/closed status, stage and codes in ``extended_attributes``). Plain values in,
plain values out: ``formats`` renders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from api.open311.errors import Open311Error
from api.open311.formats import MEDIA_TYPES
from gridmap import incidents
from gridmap.categories import CategoryView

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-23T00:00:00+08:00"  # when this document last changed (spec: sortable)
CONTACT = "gridmap 网格化管理中心 — the county's grid management centre (see /docs)"
KEY_SERVICE = "API keys are issued by the county's grid management centre (网格化管理中心)"


def when(value: datetime | None) -> str | None:
    """ISO 8601 with the offset, in China time (spec: w3 datetime with timezone)."""
    if value is None:
        return None
    return value.astimezone(incidents.CHINA_TZ).isoformat(timespec="seconds")


def _hours(value: float) -> str:
    """Hours without a trailing ".0" (168, 0.5)."""
    return f"{value:g}"


# Discovery


def discovery(url: str) -> dict[str, Any]:
    """Where this endpoint lives (``url``) and which formats it speaks."""
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


# Services


def services(catalogue: Sequence[CategoryView]) -> list[dict[str, Any]]:
    """Active 小类 as services, each in its 大类's group."""
    names: dict[str, Mapping[str, Any]] = {c["code"]: c for c in catalogue}
    found = []
    for category in sorted(catalogue, key=lambda c: c["code"]):
        if len(category["code"]) != 4 or not category["active"]:
            continue
        parent: Mapping[str, Any] = names.get(category["parent_code"] or "", {})
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


def service_definition(service_code: str, catalogue: Sequence[CategoryView]) -> dict[str, Any]:
    """A service's extra attributes: none, every service needs only the standard fields (404
    for a code that is not a service).
    """
    known = {s["service_code"] for s in services(catalogue)}
    if service_code not in known:
        raise Open311Error(
            404, f"service_code {service_code!r} not found; GET services.json lists them"
        )
    return {"service_code": service_code, "attributes": []}


def service_names(catalogue: Sequence[CategoryView]) -> dict[str, str]:
    """service_name (name_zh) by code, inactive and group codes included, for old requests."""
    return {c["code"]: c["name_zh"] for c in catalogue}


# Service requests


def status(incident: Mapping[str, Any]) -> str:
    """The spec's status: ``open`` in the five open stages, ``closed`` once closed or rated."""
    return "open" if incident["open"] else "closed"


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


def notice(incident: Mapping[str, Any]) -> str:
    """What happens next: who handles the case and by when, or that it is finished."""
    if not incident["open"]:
        return f"已{incident['stage_zh']} ({incident['stage']})"
    due = incident["due_at"].astimezone(incidents.CHINA_TZ)
    late = "，已超时" if incident.get("overdue") else ""
    return (
        f"{incident['case_type_zh']}：由{incident['tier_zh']}办理，"
        f"应于 {due:%Y-%m-%d %H:%M} 前办结{late}"
    )


def service_request(
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
        "status": status(incident),
        "status_notes": note or incident["stage_zh"],
        "service_name": service_names.get(code, code),
        "service_code": code,
        "description": incident["description"],
        "agency_responsible": _agency(incident),
        "service_notice": notice(incident),
        "requested_datetime": when(incident["reported_at"]),
        "updated_datetime": when(incident["stage_at"]),
        "expected_datetime": when(incident["due_at"]),
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


def created(incident: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer to a POST: the new request's id and notice (no accounts: ``account_id`` null)."""
    return [
        {
            "service_request_id": str(incident["id"]),
            "service_notice": notice(incident),
            "account_id": None,
        }
    ]
