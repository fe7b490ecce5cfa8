"""Open311 GeoReport v2 over the real app and the demo database (synthetic 西昌市).

Tests that store requests use ``tx_client`` (their own transaction, rolled back); the rest share
``client``, whose database refuses writes."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from shapely.geometry import shape

from gridmap import crs
from tests import identities

BASE = "/open311/v2"
KEY = identities.PASSWORD  # the demo API client client.513401 has it as its key
SERVICE = "0501"  # 垃圾堆放, under 05 环境卫生
CHINA = timedelta(hours=8)
XML_TYPE = "text/xml; charset=utf-8"
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
    "extended_attributes",
]


@pytest.fixture(scope="module")
def grid(client) -> dict:
    """One demo grid: its code and a point inside it (lon, lat, WGS84)."""
    params = {"level": "grid", "limit": 1}
    feature = client.get("/api/v1/units", params=params).json()["features"][0]
    point = shape(feature["geometry"]).representative_point()
    return {"code": feature["properties"]["code"], "lon": point.x, "lat": point.y}


def post(client, fields: dict, fmt: str = "json"):
    """POST a form-encoded request (what Open311 clients send)."""
    return client.post(f"{BASE}/requests.{fmt}", data=fields)


def report(client, grid: dict, **extra: str) -> str:
    """Report one incident in ``grid`` and return its service_request_id."""
    fields = {
        "api_key": KEY,
        "service_code": SERVICE,
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        "description": "路口垃圾堆放三天了",
        "first_name": "三",
        "last_name": "张",
        **extra,
    }
    response = post(client, fields)
    assert response.status_code == 201, response.text
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["service_request_id"].isdigit() and created["account_id"] is None
    return created["service_request_id"]


def get_one(client, request_id: str) -> dict:
    response = client.get(f"{BASE}/requests/{request_id}.json")
    assert response.status_code == 200, response.text
    [found] = response.json()
    return found


def listed(client, **params: str) -> list[str]:
    response = client.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def xml_of(response) -> ET.Element:
    assert response.headers["content-type"] == XML_TYPE
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def assert_error(response, status: int, fmt: str = "json") -> str:
    """The spec's error document with a matching status; returns the description."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        assert root.findtext("error/code") == str(status)
        description = root.findtext("error/description")
    else:
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()
        assert set(error) == {"code", "description"} and error["code"] == status
        description = error["description"]
    assert description
    return description


def act(client, request_id: str, action: str, actor: str, note: str = "") -> None:
    """``action`` as ``actor`` (one of the broad test admins: who acts is the token)."""
    headers = identities.bearer(client.app.state.settings.database_url, actor)
    response = client.post(
        f"/api/v1/incidents/{request_id}/actions/{action}", json={"note": note}, headers=headers
    )
    assert response.status_code == 200, response.text


def close(client, request_id: str, note: str = "") -> None:
    """Take a case through the whole workflow; verification by someone who did not handle it."""
    act(client, request_id, "accept", "admin.test")
    act(client, request_id, "dispatch", "admin.test")
    act(client, request_id, "start", "second.test")
    act(client, request_id, "resolve", "second.test")
    act(client, request_id, "close", "third.test", note)


def test_discovery_json(client):
    response = client.get(f"{BASE}/discovery.json")
    assert response.status_code == 200
    body = response.json()
    assert body["changeset"] and body["contact"] and body["key_service"]
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production" and endpoint["changeset"]
    assert endpoint["formats"] == ["text/xml", "application/json"]


def test_discovery_xml(client):
    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [child.tag for child in root] == ["changeset", "contact", "key_service", "endpoints"]
    [endpoint] = root.findall("endpoints/endpoint")
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == "http://testserver/open311/v2"
    assert endpoint.findtext("type") == "production"
    assert [f.text for f in endpoint.findall("formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_unknown_format_is_an_open311_404(client):
    assert_error(client.get(f"{BASE}/services.html"), 404, "xml")
    assert_error(client.get(f"{BASE}/discovery.yaml"), 404, "xml")


def test_services_json_lists_subcategories_with_their_group(client):
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    services = response.json()
    by_code = {s["service_code"]: s for s in services}
    assert all(len(code) == 4 for code in by_code)  # 大类 are groups, not services
    assert {"0101", "0501", "0903"} <= set(by_code)
    garbage = by_code[SERVICE]
    assert set(garbage) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert garbage["service_name"] == "垃圾堆放" and garbage["group"] == "环境卫生"
    assert garbage["metadata"] is False and garbage["type"] == "realtime"
    assert garbage["description"] and isinstance(garbage["keywords"], str)
    assert by_code["0101"]["group"] == "矛盾纠纷"


def test_services_xml(client):
    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and {child.tag for child in root} == {"service"}
    garbage = next(s for s in root if s.findtext("service_code") == SERVICE)
    assert [child.tag for child in garbage] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert garbage.findtext("service_name") == "垃圾堆放"
    assert garbage.findtext("group") == "环境卫生"
    assert garbage.findtext("metadata") == "false" and garbage.findtext("type") == "realtime"
    assert len(root) == len(client.get(f"{BASE}/services.json").json())


def test_service_definition(client):
    response = client.get(f"{BASE}/services/{SERVICE}.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": SERVICE, "attributes": []}
    root = xml_of(client.get(f"{BASE}/services/{SERVICE}.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == SERVICE
    attributes = root.find("attributes")
    assert attributes is not None and len(attributes) == 0


@pytest.mark.parametrize("code", ["9999", "05", "nope"])
def test_unknown_service_definition_is_404(client, code):
    assert SERVICE not in assert_error(client.get(f"{BASE}/services/{code}.json"), 404)
    assert_error(client.get(f"{BASE}/services/{code}.xml"), 404, "xml")


def test_post_creates_a_request_that_get_returns(tx_client, grid):
    before = datetime.now().astimezone()
    request_id = report(tx_client, grid, address_string="胜利路口", media_url="https://x.cn/1.jpg")
    found = get_one(tx_client, request_id)
    assert list(found) == REQUEST_FIELDS
    assert found["service_request_id"] == request_id
    assert found["status"] == "open"
    assert found["status_notes"] == "受理"  # no note yet: the stage's Chinese name
    assert found["service_code"] == SERVICE and found["service_name"] == "垃圾堆放"
    assert found["description"] == "路口垃圾堆放三天了\n地址：胜利路口"  # address_string kept
    assert found["media_url"] == "https://x.cn/1.jpg"
    assert math.isclose(found["lat"], grid["lat"], abs_tol=1e-6)
    assert math.isclose(found["long"], grid["lon"], abs_tol=1e-6)
    assert found["address_id"] == grid["code"] and found["zipcode"] is None
    assert found["address"] and found["agency_responsible"] and found["service_notice"]
    extended = found["extended_attributes"]
    assert extended["stage"] == "reported" and extended["stage_zh"] == "受理"
    assert extended["grid_code"] == grid["code"] and extended["county_code"] == "513401"
    assert grid["code"].startswith(extended["village_code"])
    assert extended["village_code"].startswith(extended["township_code"])
    requested = datetime.fromisoformat(found["requested_datetime"])
    assert requested.utcoffset() == CHINA and found["requested_datetime"].endswith("+08:00")
    assert abs(requested - before) < timedelta(minutes=5)
    assert datetime.fromisoformat(found["updated_datetime"]) == requested
    assert datetime.fromisoformat(found["expected_datetime"]) > requested
    # the incident itself is a normal one, reported through Open311
    incident = tx_client.get(f"/api/v1/incidents/{request_id}").json()
    assert incident["source"] == "open311" and incident["reporter"] == "张三"
    assert incident["photo_urls"] == ["https://x.cn/1.jpg"]


def test_post_and_get_in_xml(tx_client, grid):
    fields = {
        "api_key": KEY,
        "service_code": SERVICE,
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        "email": "citizen@example.cn",
    }
    response = post(tx_client, fields, "xml")
    assert response.status_code == 201
    root = xml_of(response)
    assert root.tag == "service_requests" and [child.tag for child in root] == ["request"]
    fields_sent = [child.tag for child in root[0]]
    assert fields_sent == ["service_request_id", "service_notice", "account_id"]
    request_id = root.findtext("request/service_request_id")
    assert request_id and request_id.isdigit() and root.findtext("request/account_id") == ""

    found = xml_of(tx_client.get(f"{BASE}/requests/{request_id}.xml"))
    assert found.tag == "service_requests" and [child.tag for child in found] == ["request"]
    item = found[0]
    assert [child.tag for child in item] == REQUEST_FIELDS
    assert item.findtext("service_request_id") == request_id
    assert item.findtext("status") == "open"
    assert item.findtext("extended_attributes/stage") == "reported"
    assert item.findtext("extended_attributes/grid_code") == grid["code"]
    assert math.isclose(float(item.findtext("lat") or "nan"), grid["lat"], abs_tol=1e-6)
    assert math.isclose(float(item.findtext("long") or "nan"), grid["lon"], abs_tol=1e-6)
    requested = datetime.fromisoformat(item.findtext("requested_datetime") or "")
    assert requested.utcoffset() == CHINA
    assert item.findtext("zipcode") == "" and item.findtext("media_url") == ""
    reporter = tx_client.get(f"/api/v1/incidents/{request_id}").json()["reporter"]
    assert reporter == "citizen@example.cn"


def test_post_in_gcj02_is_stored_in_wgs84(tx_client, grid):
    lon, lat = (float(v) for v in crs.from_wgs84(grid["lon"], grid["lat"], "gcj02"))
    request_id = report(tx_client, grid, lat=str(lat), long=str(lon), crs="gcj02")
    found = get_one(tx_client, request_id)
    assert math.isclose(found["lat"], grid["lat"], abs_tol=1e-5)
    assert math.isclose(found["long"], grid["lon"], abs_tol=1e-5)
    assert found["address_id"] == grid["code"]


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_needs_a_valid_api_key(client, grid, key, fmt):
    fields = {"service_code": SERVICE, "lat": str(grid["lat"]), "long": str(grid["lon"])}
    if key is not None:
        fields["api_key"] = key
    nobody = TestClient(client.app)  # no bearer token either
    assert "api_key" in assert_error(post(nobody, fields, fmt), 401, fmt)


def test_post_outside_coverage_is_400(client):
    fields = {"api_key": KEY, "service_code": SERVICE, "lat": "39.9", "long": "116.4"}
    description = assert_error(post(client, fields), 400)
    assert "outside every loaded county" in description  # outside coverage, says which point
    assert_error(post(client, fields, "xml"), 400, "xml")


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"lat": "north"}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"long": "inf"}, "long"),
        ({"long": ""}, "long"),
        ({"lat": "95", "long": "102.2"}, "latitude"),
        ({"service_code": ""}, "service_code"),
        ({"service_code": "05"}, "service_code"),  # a group, not a service
        ({"crs": "utm50n"}, "CRS"),  # ("mars" is an alias of gcj02)
        ({"media_url": "file:///etc/passwd"}, "media_url"),
        ({"description": "长" * 4001}, "description"),
        ({"description": "a\x00b"}, "NUL"),
    ],
)
def test_post_bad_input_is_400(client, grid, changes, mentions):
    fields = {
        "api_key": KEY,
        "service_code": SERVICE,
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        **changes,
    }
    assert mentions in assert_error(post(client, fields), 400)


def test_post_of_an_unknown_service_is_400_and_stores_nothing(tx_client, grid):
    """Unlike the refusals above, an unknown code is found by the statement that inserts."""
    fields = {"api_key": KEY, "lat": str(grid["lat"]), "long": str(grid["lon"])}
    before = tx_client.get("/api/v1/incidents").json()["total"]
    assert "category" in assert_error(post(tx_client, {**fields, "service_code": "9999"}), 400)
    assert tx_client.get("/api/v1/incidents").json()["total"] == before


def test_post_outside_the_given_jurisdiction_stores_nothing(tx_client, grid):
    fields = {
        "api_key": KEY,
        "service_code": SERVICE,
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        "jurisdiction_id": "513422",
        "description": "不该保存的上报",
    }
    before = tx_client.get("/api/v1/incidents").json()["total"]
    assert "513401" in assert_error(post(tx_client, fields), 400)
    assert_error(post(tx_client, {**fields, "jurisdiction_id": "999999"}), 404)
    assert tx_client.get("/api/v1/incidents").json()["total"] == before
    assert report(tx_client, grid)  # the same report without the wrong jurisdiction is stored
    assert tx_client.get("/api/v1/incidents").json()["total"] == before + 1


def test_get_unknown_request_is_404(client):
    assert_error(client.get(f"{BASE}/requests/999999999.json"), 404)
    assert_error(client.get(f"{BASE}/requests/999999999.xml"), 404, "xml")
    assert_error(client.get(f"{BASE}/requests/abc.json"), 404)
    assert_error(client.get(f"{BASE}/requests/99999999999999999999999.json"), 404)


def test_get_requests_by_ids_ignores_other_filters(tx_client, grid):
    first, second = report(tx_client, grid), report(tx_client, grid)
    ids = {first, second}
    assert set(listed(tx_client, service_request_id=f"{first},{second}")) == ids
    # service_request_id overrides every other argument
    params = {"service_request_id": f"{first}, {second}", "status": "closed", "bbox": "1,1,2,2"}
    assert set(listed(tx_client, **params)) == ids
    assert listed(tx_client, service_request_id=first) == [first]
    assert listed(tx_client, service_request_id="999999999") == []
    response = tx_client.get(f"{BASE}/requests.json", params={"service_request_id": "1,x"})
    assert_error(response, 400)


def test_default_listing_is_recent_open_and_closed(tx_client, grid):
    request_id = report(tx_client, grid)
    found = tx_client.get(f"{BASE}/requests.json").json()
    assert request_id in [r["service_request_id"] for r in found]
    assert len(found) <= 1000
    times = [datetime.fromisoformat(r["requested_datetime"]) for r in found]
    assert times == sorted(times, reverse=True)  # newest first
    root = xml_of(tx_client.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests" and len(root) == len(found)


def test_closed_request_shows_closed_and_filters_by_status(tx_client, grid):
    closed_id, open_id = report(tx_client, grid), report(tx_client, grid)
    close(tx_client, closed_id, note="已清运，现场复核合格")
    found = get_one(tx_client, closed_id)
    assert found["status"] == "closed"
    assert found["status_notes"] == "已清运，现场复核合格"
    assert found["extended_attributes"]["stage"] == "closed"
    assert datetime.fromisoformat(found["updated_datetime"]) >= datetime.fromisoformat(
        found["requested_datetime"]
    )

    closed = tx_client.get(f"{BASE}/requests.json", params={"status": "closed"}).json()
    assert closed_id in [r["service_request_id"] for r in closed]
    assert open_id not in [r["service_request_id"] for r in closed]
    assert {r["status"] for r in closed} == {"closed"}

    still_open = listed(tx_client, status="open")
    assert open_id in still_open and closed_id not in still_open
    both = listed(tx_client, status="open,closed")
    assert {open_id, closed_id} <= set(both)
    assert_error(tx_client.get(f"{BASE}/requests.json", params={"status": "pending"}), 400)


def test_accepted_request_notes_are_the_stage_name_without_a_note(tx_client, grid):
    request_id = report(tx_client, grid)
    act(tx_client, request_id, "accept", "admin.test")
    found = get_one(tx_client, request_id)
    assert found["status"] == "open" and found["status_notes"] == "立案"
    assert listed(tx_client, service_request_id=request_id) == [request_id]
    [listed_one] = tx_client.get(
        f"{BASE}/requests.json", params={"service_request_id": request_id}
    ).json()
    assert listed_one == found


def test_filter_by_service_code(tx_client, grid):
    garbage = report(tx_client, grid)
    sewage = report(tx_client, grid, service_code="0502")
    only_garbage = listed(tx_client, service_code=SERVICE)
    assert garbage in only_garbage and sewage not in only_garbage
    both = listed(tx_client, service_code=f"{SERVICE},0502")
    assert {garbage, sewage} <= set(both)
    found = tx_client.get(f"{BASE}/requests.json", params={"service_code": "0502"}).json()
    assert {r["service_code"] for r in found} == {"0502"}
    assert garbage not in listed(tx_client, service_code="0903")
    assert_error(tx_client.get(f"{BASE}/requests.json", params={"service_code": "9999"}), 400)


def test_filter_by_bbox(tx_client, grid):
    request_id = report(tx_client, grid)
    lon, lat = grid["lon"], grid["lat"]
    around = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    away = f"{lon + 1},{lat + 1},{lon + 2},{lat + 2}"
    assert request_id in listed(tx_client, bbox=around)
    assert request_id not in listed(tx_client, bbox=away)
    for bad in ("1,2,3", "a,b,c,d", "102,95,103,96", "103,27,102,28"):
        assert_error(tx_client.get(f"{BASE}/requests.json", params={"bbox": bad}), 400)


def test_filter_by_dates(tx_client, grid):
    request_id = report(tx_client, grid)
    requested = datetime.fromisoformat(get_one(tx_client, request_id)["requested_datetime"])
    day = timedelta(days=1)
    assert request_id in listed(
        tx_client, start_date=(requested - day).isoformat(), end_date=(requested + day).isoformat()
    )
    assert request_id in listed(tx_client, start_date=requested.isoformat())  # end is inclusive
    assert request_id in listed(tx_client, end_date=requested.isoformat())
    assert request_id not in listed(tx_client, start_date=(requested + day).isoformat())
    assert request_id not in listed(tx_client, end_date=(requested - day).isoformat())
    # "+08:00" sent unencoded arrives as a space; dates in UTC work too
    raw = f"{BASE}/requests.json?start_date={(requested - day).isoformat()}"
    assert request_id in [r["service_request_id"] for r in tx_client.get(raw).json()]
    utc = (requested - day).astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert request_id in listed(tx_client, start_date=utc)

    too_long = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert "90 days" in assert_error(tx_client.get(f"{BASE}/requests.json", params=too_long), 400)
    backwards = {"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}
    assert_error(tx_client.get(f"{BASE}/requests.json", params=backwards), 400)
    assert_error(tx_client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}), 400)


def test_a_date_alone_as_end_date_covers_the_whole_day(tx_client, grid):
    request_id = report(tx_client, grid)
    requested = datetime.fromisoformat(get_one(tx_client, request_id)["requested_datetime"])
    day = requested.date()  # requested_datetime is China time, and so is a date alone
    assert request_id in listed(tx_client, start_date=day.isoformat(), end_date=day.isoformat())
    assert request_id in listed(tx_client, end_date=day.isoformat())
    assert request_id in listed(tx_client, start_date=day.isoformat())
    before = (day - timedelta(days=1)).isoformat()
    assert request_id not in listed(tx_client, start_date=before, end_date=before)
    assert request_id not in listed(tx_client, end_date=before)
    after = (day + timedelta(days=1)).isoformat()
    assert request_id not in listed(tx_client, start_date=after, end_date=after)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "9999-12-01"},
        {"end_date": "0001-01-02"},
        {"end_date": "9999-12-31"},
        {"end_date": "9999-12-31T23:59:59"},
        {"start_date": "9999-12-31T00:00:00", "end_date": "9999-12-31T23:59:59.999999"},
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_dates_at_the_ends_of_the_calendar_are_400(client, params, fmt):
    """A 90-day window (or the step past an inclusive end_date) would leave years 1–9999."""
    response = client.get(f"{BASE}/requests.{fmt}", params=params)
    assert "out of range" in assert_error(response, 400, fmt)


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("requests", "service_code"),
        ("requests", "jurisdiction_id"),
        ("requests", "status"),
        ("requests", "start_date"),
        ("requests", "end_date"),
        ("requests", "bbox"),
        ("requests", "service_request_id"),
        ("requests", "anything_else"),
        ("services", "jurisdiction_id"),
        ("services/0501", "jurisdiction_id"),
        ("requests/1", "jurisdiction_id"),
        ("discovery", "jurisdiction_id"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_nul_in_any_query_argument_is_400(client, resource, name, fmt):
    response = client.get(f"{BASE}/{resource}.{fmt}?{name}=a%00b")
    assert "NUL" in assert_error(response, 400, fmt)


def test_huge_request_ids_are_refused_not_converted(client):
    digits = "9" * 5000  # int() refuses strings of over 4,300 digits
    assert_error(client.get(f"{BASE}/requests/{digits}.json"), 404)
    listing = client.get(f"{BASE}/requests.json", params={"service_request_id": digits})
    assert_error(listing, 400)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"garbage"),
        ("multipart/form-data", b"--xyz\r\n"),  # no boundary
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xyz--\r\n",  # no name
        ),
        (
            "multipart/form-data; boundary=xyz",
            b"".join(
                b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
                for i in range(300)
            )
            + b"--xyz--\r\n",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_malformed_multipart_is_an_open311_400(client, content_type, body, fmt):
    response = client.post(
        f"{BASE}/requests.{fmt}", content=body, headers={"content-type": content_type}
    )
    assert "multipart" in assert_error(response, 400, fmt)


def test_nul_in_a_multipart_field_is_400(client, grid):
    fields = {"api_key": KEY, "service_code": SERVICE, "lat": str(grid["lat"])}
    fields |= {"long": str(grid["lon"]), "description": "a\x00b"}
    response = client.post(f"{BASE}/requests.json", files={k: (None, v) for k, v in fields.items()})
    assert "NUL" in assert_error(response, 400)


def test_filter_by_jurisdiction(tx_client, grid):
    request_id = report(tx_client, grid)
    assert request_id in listed(tx_client, jurisdiction_id="513401")
    assert request_id not in listed(tx_client, jurisdiction_id="513422")  # 木里: loaded, no grids
    assert_error(tx_client.get(f"{BASE}/requests.json", params={"jurisdiction_id": "999999"}), 404)
    elsewhere = {"jurisdiction_id": "513422"}
    assert_error(tx_client.get(f"{BASE}/requests/{request_id}.json", params=elsewhere), 404)
