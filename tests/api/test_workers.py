"""HTTP tests for /api/v1/workers on the demo database.

Tests that add or change workers use ``tx_client`` (their own transaction, rolled back); the rest
share ``client``, whose database refuses writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from h3.api import basic_int as h3i
from pyproj import Geod

from gridmap import crs

BASE = "/api/v1/workers"
COUNTY = "513401"
PROBLEM = "application/problem+json"
CST = timezone(timedelta(hours=8))
GEOD = Geod(ellps="WGS84")


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    assert body["title"]
    return body


@pytest.fixture(scope="module")
def grids(client) -> list[dict]:
    """The demo's grids of 西昌市 as GeoJSON features, by code."""
    features: list[dict] = []
    offset = 0
    while True:
        params = {"level": "grid", "limit": 1000, "offset": offset}
        body = client.get("/api/v1/units", params=params).json()
        features += body["features"]
        offset += len(body["features"])
        if not body["links"]:
            break
    features = [f for f in features if f["properties"]["code"].startswith(COUNTY)]
    assert len(features) > 100
    return sorted(features, key=lambda f: f["properties"]["code"])


def grid_code(grids: list[dict], position: int) -> str:
    return grids[position]["properties"]["code"]


def create(client, **fields) -> dict:
    body = {"county_code": COUNTY, "name": "接口测试网格员", **fields}
    response = client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_worker_201_with_location(tx_client, grids) -> None:
    primary, supporting = grid_code(grids, 20), grid_code(grids, 21)
    before = tx_client.get(BASE, params={"code": primary}).json()["items"]
    (old,) = [w for w in before if _duty(w, primary).get("duty") == "primary"]
    response = tx_client.post(
        BASE,
        json={
            "county_code": COUNTY,
            "name": "王五",
            "role": "fulltime",
            "phone": "13900000000",
            "primary_grids": [primary],
            "supporting_grids": [supporting],
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    created = response.json()
    assert response.headers["location"] == f"{BASE}/{created['id']}"
    assert created["name"] == "王五" and created["role_zh"] == "专职网格员"
    assert created["on_duty"] is True and created["lon"] is None
    assert created["grids"] == [
        {"code": primary, "duty": "primary", "duty_zh": "主责"},
        {"code": supporting, "duty": "supporting", "duty_zh": "协助"},
    ]
    assert tx_client.get(response.headers["location"]).json() == created
    # The old primary was demoted; taking the grid back as primary demotes the new worker.
    demoted = tx_client.get(f"{BASE}/{old['id']}").json()
    assert _duty(demoted, primary)["duty"] == "supporting"
    restored = tx_client.put(f"{BASE}/{old['id']}/grids", json={"grids": [primary]})
    assert restored.status_code == 200, restored.text
    assert _duty(restored.json(), primary)["duty"] == "primary"
    assert _duty(tx_client.get(f"{BASE}/{created['id']}").json(), primary)["duty"] == "supporting"


def _duty(worker: dict, grid: str) -> dict:
    return next((g for g in worker["grids"] if g["code"] == grid), {})


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"role": "boss"}, 422, "RequestValidationError"),
        ({"name": None}, 422, "RequestValidationError"),
        ({"name": ""}, 422, "RequestValidationError"),
        ({"name": "   "}, 422, "InvalidInputError"),
        ({"county_code": "5134"}, 422, "RequestValidationError"),
        ({"primary_grids": [COUNTY + "999999001"]}, 404, "NotFoundError"),
        ({"supporting_grids": ["513424001001001"]}, 422, "InvalidInputError"),
        ({"supporting_grids": [COUNTY + "00100100"]}, 422, "InvalidCodeError"),
    ],
)
def test_create_worker_refuses_bad_input(client, change, status, code) -> None:
    body = {"county_code": COUNTY, "name": "坏数据", **change}
    body = {k: v for k, v in body.items() if v is not None}
    total = client.get(BASE, params={"county": COUNTY, "limit": 1}).json()["total"]
    assert_problem(client.post(BASE, json=body), status, code)
    assert client.get(BASE, params={"county": COUNTY, "limit": 1}).json()["total"] == total


def test_patch_duty_toggles(tx_client) -> None:
    worker = create(tx_client, role="cadre")
    response = tx_client.patch(f"{BASE}/{worker['id']}", json={"on_duty": False})
    assert response.status_code == 200, response.text
    assert response.json()["on_duty"] is False
    assert tx_client.get(f"{BASE}/{worker['id']}").json()["on_duty"] is False
    listed = tx_client.get(BASE, params={"county": COUNTY, "on_duty": False, "limit": 1000}).json()
    assert worker["id"] in {w["id"] for w in listed["items"]}
    assert (
        tx_client.patch(f"{BASE}/{worker['id']}", json={"on_duty": True}).json()["on_duty"] is True
    )
    assert_problem(
        tx_client.patch(f"{BASE}/2000000000", json={"on_duty": False}), 404, "NotFoundError"
    )
    assert_problem(
        tx_client.patch(f"{BASE}/{worker['id']}", json={}), 422, "RequestValidationError"
    )


def test_put_grids_attaches_and_lists_by_code(tx_client, grids) -> None:
    worker = create(tx_client, role="parttime")
    codes = [grid_code(grids, 30), grid_code(grids, 31)]
    response = tx_client.put(
        f"{BASE}/{worker['id']}/grids", json={"grids": codes, "duty": "supporting"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["grids"] == [
        {"code": c, "duty": "supporting", "duty_zh": "协助"} for c in codes
    ]
    for code in (codes[0], codes[1][:12]):
        listed = tx_client.get(BASE, params={"code": code, "limit": 1000}).json()
        assert worker["id"] in {w["id"] for w in listed["items"]}
        assert listed["total"] == len(listed["items"])
    far = grid_code(grids, len(grids) - 1)  # another township
    assert not far.startswith(codes[0][:9])
    listed = tx_client.get(BASE, params={"code": far, "limit": 1000}).json()
    assert worker["id"] not in {w["id"] for w in listed["items"]}

    url = f"{BASE}/{worker['id']}/grids"
    assert_problem(
        tx_client.put(url, json={"grids": codes, "duty": "boss"}), 422, "RequestValidationError"
    )
    assert_problem(tx_client.put(url, json={"grids": []}), 422, "RequestValidationError")
    assert_problem(tx_client.put(url, json={"grids": [COUNTY + "999999001"]}), 404, "NotFoundError")
    assert_problem(
        tx_client.put(f"{BASE}/2000000000/grids", json={"grids": codes}), 404, "NotFoundError"
    )
    assert len(tx_client.get(f"{BASE}/{worker['id']}").json()["grids"]) == 2


def test_gcj02_track_shows_in_coverage(tx_client, grids) -> None:
    feature = grids[50]
    code = feature["properties"]["code"]
    worker = create(tx_client, role="parttime", supporting_grids=[code])
    # A short walk east from a vertex of the grid's ring towards its inside.
    ring = np.array(feature["geometry"]["coordinates"][0][0])
    centre = ring[:-1].mean(axis=0)
    fraction = np.linspace(0.2, 0.8, 12)
    lon = ring[0, 0] + (centre[0] - ring[0, 0]) * fraction
    lat = ring[0, 1] + (centre[1] - ring[0, 1]) * fraction
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    t0 = datetime(2025, 3, 4, 9, 0, tzinfo=CST)
    fixes = [
        {"lon": float(x), "lat": float(y), "t": (t0 + timedelta(seconds=20 * i)).isoformat()}
        for i, (x, y) in enumerate(zip(glon, glat, strict=True))
    ]
    url = f"{BASE}/{worker['id']}/positions"
    response = tx_client.post(url, json={"crs": "gcj02", "fixes": fixes})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": len(fixes), "added": len(fixes)}
    again = tx_client.post(url, json={"crs": "gcj02", "fixes": fixes})
    assert again.json() == {"received": len(fixes), "added": 0}

    shown = tx_client.get(f"{BASE}/{worker['id']}").json()
    wlon, wlat = crs.gcj02_to_wgs84(glon[-1], glat[-1])
    assert abs(shown["lon"] - float(wlon)) < 1e-6 and abs(shown["lat"] - float(wlat)) < 1e-6
    assert datetime.fromisoformat(shown["last_seen"]) == t0 + timedelta(seconds=20 * 11)

    params = {
        "county": COUNTY,
        "code": code,
        "since": t0.isoformat(),
        "until": (t0 + timedelta(hours=1)).isoformat(),
        "worker_id": worker["id"],
    }
    body = tx_client.get(f"{BASE}/coverage", params=params).json()
    (row,) = body["grids"]
    assert row["grid"] == code and body["resolution"] == 11
    inside = set(h3i.geo_to_cells(feature["geometry"], 11))
    fix_cells = {h3i.latlng_to_cell(y, x, 11) for x, y in zip(lon, lat, strict=True)}
    assert row["cells"] == len(inside)
    assert row["visited"] >= len(fix_cells & inside) > 0
    assert isinstance(row["coverage"], float) and row["coverage"] > 0
    assert row["coverage"] == pytest.approx(row["visited"] / row["cells"], abs=1e-4)
    assert body["coverage"] == row["coverage"]
    # The same period a year later: nothing walked.
    params |= {"since": "2026-03-04T09:00:00+08:00", "until": "2026-03-04T10:00:00+08:00"}
    assert tx_client.get(f"{BASE}/coverage", params=params).json()["grids"][0]["visited"] == 0


def test_coverage_refuses_bad_periods(client) -> None:
    url = f"{BASE}/coverage"
    period = {"county": COUNTY, "since": "2025-03-04T10:00:00+08:00"}
    assert_problem(
        client.get(url, params=period | {"until": "2025-03-04T10:00:00+08:00"}),
        422,
        "InvalidInputError",
    )
    assert_problem(
        client.get(url, params=period | {"until": "2025-03-04T11:00:00"}),
        422,
        "RequestValidationError",
    )
    assert_problem(
        client.get(url, params={"county": COUNTY, "since": "x", "until": "y"}),
        422,
        "RequestValidationError",
    )
    assert_problem(
        client.get(
            url, params={**period, "until": "2025-03-05T00:00:00+08:00", "county": "513424"}
        ),
        404,
        "NotFoundError",
    )


def test_staffing_reports_an_unstaffed_count(client) -> None:
    response = client.get(f"{BASE}/staffing", params={"county": COUNTY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["county"] == COUNTY
    assert isinstance(body["unstaffed"], int) and body["unstaffed"] == len(body["grids"])
    assert all(g["code"].startswith(COUNTY) and len(g["code"]) == 15 for g in body["grids"])
    assert_problem(client.get(f"{BASE}/staffing"), 422, "RequestValidationError")
    assert_problem(
        client.get(f"{BASE}/staffing", params={"county": "51"}), 422, "RequestValidationError"
    )


def test_unknown_worker_is_404_problem(client) -> None:
    body = assert_problem(client.get(f"{BASE}/2000000000"), 404, "NotFoundError")
    assert body["title"] == "对象不存在" and body["context"] == {"worker": 2000000000}


@pytest.mark.parametrize("worker_id", ["0", "-3", "x", "9999999999", "2147483648"])
def test_impossible_worker_ids_are_422_problems(client, worker_id) -> None:
    """Ids outside PostgreSQL's integer range are refused, not a 500 from the database."""
    assert_problem(client.get(f"{BASE}/{worker_id}"), 422, "RequestValidationError")
    patch = client.patch(f"{BASE}/{worker_id}", json={"on_duty": True})
    assert_problem(patch, 422, "RequestValidationError")
    params = {
        "county": COUNTY,
        "since": "2025-03-04T09:00:00+08:00",
        "until": "2025-03-04T10:00:00+08:00",
        "worker_id": worker_id,
    }
    coverage = client.get(f"{BASE}/coverage", params=params)
    assert_problem(coverage, 422, "RequestValidationError")


def test_positions_refuse_bad_fixes(tx_client) -> None:
    worker = create(tx_client)
    url = f"{BASE}/{worker['id']}/positions"
    fix = {"lon": 102.26, "lat": 27.89, "t": "2025-03-04T09:00:00+08:00"}
    naive = tx_client.post(url, json={"fixes": [fix | {"t": "2025-03-04T09:00:00"}]})
    assert_problem(naive, 422, "RequestValidationError")
    cases = [
        ({"fixes": [fix | {"lat": 930}]}, "CoordinateOutOfRangeError"),
        ({"fixes": []}, "RequestValidationError"),
        ({"crs": "mercator", "fixes": [fix]}, "RequestValidationError"),
        ({"fixes": [fix | {"accuracy_m": -1}]}, "RequestValidationError"),
    ]
    for body, code in cases:
        assert_problem(tx_client.post(url, json=body), 422, code)
    assert tx_client.get(f"{BASE}/{worker['id']}").json()["last_seen"] is None
    missing = tx_client.post(f"{BASE}/2000000000/positions", json={"fixes": [fix]})
    assert_problem(missing, 404, "NotFoundError")


@pytest.mark.parametrize(
    ("t", "why"),
    [
        ("9999-12-31T23:59:59-05:00", "after"),  # year 10000 in UTC: reads used to answer 500
        ("0001-01-01T00:00:00+00:00", "before"),
        ("1999-12-31T23:59:59+00:00", "before"),
        ("2099-01-01T00:00:00+08:00", "after"),
    ],
)
def test_positions_outside_the_time_window_are_refused(tx_client, t, why) -> None:
    worker = create(tx_client)
    url = f"{BASE}/{worker['id']}/positions"
    fixes = [
        {"lon": 102.26, "lat": 27.89, "t": "2025-03-04T09:00:00+08:00"},
        {"lon": 102.26, "lat": 27.89, "t": t},
    ]
    problem = assert_problem(tx_client.post(url, json={"fixes": fixes}), 422, "InvalidInputError")
    assert "recorded_at[1]" in problem["detail"] and why in problem["detail"]
    shown = tx_client.get(f"{BASE}/{worker['id']}")
    assert shown.status_code == 200 and shown.json()["last_seen"] is None  # nothing stored
    assert tx_client.get(BASE, params={"limit": 5}).status_code == 200


def test_position_offsets_beyond_postgresql_are_stored_in_utc(tx_client) -> None:
    """RFC 3339 allows +15:59, PostgreSQL's timestamptz input does not: stored as UTC."""
    worker = create(tx_client)
    url = f"{BASE}/{worker['id']}/positions"
    fix = {"lon": 102.26, "lat": 27.89, "t": "2025-12-02T10:00:00+15:59"}
    answer = tx_client.post(url, json={"fixes": [fix]})
    assert answer.status_code == 200, answer.text
    seen = datetime.fromisoformat(tx_client.get(f"{BASE}/{worker['id']}").json()["last_seen"])
    assert seen == datetime(2025, 12, 1, 18, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(0.0, 0.0), (-74.006, 40.7128), (116.397, 39.909)],  # null island, New York, Beijing
    ids=["null-island", "new-york", "another-county"],
)
def test_positions_outside_the_workers_county_are_refused(tx_client, lon, lat) -> None:
    worker = create(tx_client)
    url = f"{BASE}/{worker['id']}/positions"
    fixes = [
        {"lon": 102.26, "lat": 27.89, "t": "2025-03-04T09:00:00+08:00"},
        {"lon": lon, "lat": lat, "t": "2025-03-04T09:01:00+08:00"},
    ]
    answer = tx_client.post(url, json={"fixes": fixes})
    problem = assert_problem(answer, 422, "InvalidInputError")
    assert "fix 1" in problem["detail"] and problem["context"]["fix"] == 1
    assert tx_client.get(f"{BASE}/{worker['id']}").json()["last_seen"] is None
