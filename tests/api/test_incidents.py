"""Incidents over HTTP: a phone's GCJ-02 report followed to closure, idempotency headers, the
409 list, overdue with a moved clock, categories, and real concurrent requests on a real server.

Tests that report incidents use ``own_client`` (a demo database of their own: intake commits
through its own connection pool); batches and category changes use ``tx_client`` (their own
transaction, rolled back). ``client``'s database refuses writes, so the tests on it also show
that refused requests store nothing."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import shapely
from shapely.geometry import shape

from gridmap import crs
from tests import identities
from tests.servers import serving


@pytest.fixture(scope="module")
def phone_point(client) -> tuple[str, float, float]:
    """A grid code and a point inside it, as GCJ-02 (what a phone's map app reports)."""
    grid = client.get("/api/v1/units", params={"level": "grid", "limit": 1, "offset": 40}).json()
    feature = grid["features"][0]
    inner = shapely.buffer(shape(feature["geometry"]), -0.0003)
    point = inner.representative_point()
    glon, glat = crs.wgs84_to_gcj02(point.x, point.y)
    return feature["properties"]["code"], float(glon), float(glat)


def body(point: tuple[str, float, float], **extra: object) -> dict[str, object]:
    _, lon, lat = point
    return {
        "lon": lon,
        "lat": lat,
        "crs": "gcj02",
        "category": "0501",
        "description": "路边垃圾堆放",
        "reporter": "网格员 李华",
        "device_time": "2026-11-20T09:30:00+08:00",  # before every clock the tests set
        "gps_accuracy_m": 6.5,
        "photo_urls": ["https://files.example.cn/p/1.jpg"],
        **extra,
    }


def test_phone_report_to_closure(own_client, phone_point) -> None:
    created = own_client.post(
        "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert created.headers["Location"] == f"/api/v1/incidents/{case['id']}"
    assert case["grid_code"] == phone_point[0]
    assert case["stage"] == "reported" and case["stage_zh"] == "受理"
    assert case["worker_id"] is not None
    assert case["photo_urls"] == ["https://files.example.cn/p/1.jpg"]
    url = own_client.app.state.settings.database_url
    steps = [  # who acts is the account of the token, never a field of the body
        ("accept", "admin.test", {}),
        ("dispatch", "admin.test", {"department": "环卫所"}),
        ("start", "second.test", {}),
        ("resolve", "second.test", {"note": "已清运"}),
        ("close", "third.test", {"note": "现场核查通过"}),
        ("rate", "admin.test", {"rating": 5}),
    ]
    for action, user, payload in steps:
        moved = own_client.post(
            f"/api/v1/incidents/{case['id']}/actions/{action}",
            json=payload,
            headers=identities.bearer(url, user),
        )
        assert moved.status_code == 200, (action, moved.text)
    final = own_client.get(f"/api/v1/incidents/{case['id']}").json()
    assert final["stage"] == "rated" and final["rating"] == 5 and final["department"] == "环卫所"
    trail = [(e["action"], e["actor"]) for e in final["events"]]
    assert trail == [("report", "admin.test")] + [(a, user) for a, user, _ in steps]
    assert final["events"][4]["note"] == "已清运"


@pytest.mark.parametrize("chunked", [False, True], ids=["hot path", "route"])
def test_the_201_body_is_what_get_returns(own_client, phone_point, chunked) -> None:
    """What intake answers (built from the INSERT's own results, without reading the row back)
    is the stored incident: the first GET returns the same fields and values, plus ``events``
    (the audit trail, part of the detail resource only; it holds the one report). Both answer
    201s: the raw ASGI hot path, and the FastAPI route (a body without a length). Times are UTC
    in both, whatever offset the phone sent.
    """
    # One instant for both requests: ``overdue`` is computed when each answer is made.
    own_client.app.state.clock = lambda: datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    raw = json.dumps(body(phone_point)).encode()
    content = iter([raw]) if chunked else raw  # an iterator is sent chunked, with no length
    created = own_client.post("/api/v1/incidents", content=content, headers=headers)
    assert created.status_code == 201, created.text
    fetched = own_client.get(created.headers["Location"])
    assert fetched.status_code == 200, fetched.text
    detail = fetched.json()
    events = detail.pop("events")
    answered = created.json()
    phone_time = datetime.fromisoformat(str(body(phone_point)["device_time"]))
    assert datetime.fromisoformat(answered["device_time"]) == phone_time
    assert answered == detail
    # The trail names the account that reported, never the reporter field (sensitive).
    assert [(e["action"], e["actor"]) for e in events] == [("report", "admin.test")]


def test_retries_replay_and_other_bodies_are_refused(own_client, phone_point) -> None:
    key = f"phone-x:{uuid.uuid4()}"
    first = own_client.post(
        "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": key}
    )
    again = own_client.post(
        "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": key}
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = own_client.post(
        "/api/v1/incidents",
        json=body(phone_point, description="别的事"),
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 422
    assert other.json()["code"] == "IdempotencyKeyReusedError"


def test_invalid_transition_lists_the_allowed_ones(own_client, phone_point) -> None:
    case = own_client.post("/api/v1/incidents", json=body(phone_point)).json()
    refused = own_client.post(f"/api/v1/incidents/{case['id']}/actions/close", json={})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "InvalidTransitionError"
    assert set(problem["context"]["allowed"]) == {"accept", "reject", "escalate"}
    assert refused.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"lon": 116.39, "lat": 39.91, "category": "0501"}, 404, "OutsideCoverageError"),
        ({"lon": 27.9, "lat": 102.2, "category": "0501"}, 422, "CoordinateOutOfRangeError"),
        ({"lon": 102.2, "lat": 930, "category": "0501"}, 422, "CoordinateOutOfRangeError"),
        ({"lon": "NaN", "lat": 27.9, "category": "0501"}, 422, "RequestValidationError"),
        ({"lon": 102.2, "lat": 27.9, "category": "0501", "crs": "utm"}, 422, None),
        ({"lon": 102.2, "lat": 27.9}, 422, "RequestValidationError"),
    ],
)
def test_bad_reports_get_clear_errors(client, payload, status, code) -> None:
    answer = client.post("/api/v1/incidents", json=payload)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["code"] == code
    assert answer.json()["detail"]


def test_an_unknown_category_is_404_and_stores_nothing(own_client, phone_point) -> None:
    """Unlike the refusals above, an unknown category is found by the statement that inserts."""
    before = own_client.get("/api/v1/incidents").json()["total"]
    answer = own_client.post("/api/v1/incidents", json=body(phone_point, category="7777"))
    assert answer.status_code == 404 and answer.json()["code"] == "NotFoundError", answer.text
    assert own_client.get("/api/v1/incidents").json()["total"] == before
    assert own_client.post("/api/v1/incidents", json=body(phone_point)).status_code == 201
    assert own_client.get("/api/v1/incidents").json()["total"] == before + 1


def test_batch_sync_over_http(tx_client, phone_point) -> None:
    items = [{**body(phone_point), "key": f"sync-{uuid.uuid4()}"} for _ in range(3)]
    first = tx_client.post("/api/v1/incidents/batch", json={"items": items})
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 3
    again = tx_client.post("/api/v1/incidents/batch", json={"items": items})
    assert again.json()["existing"] == 3
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in first.json()["items"]]
    bad = [*items, {**body(phone_point), "lon": 116.39, "lat": 39.91, "crs": "wgs84", "key": "b"}]
    refused = tx_client.post("/api/v1/incidents/batch", json={"items": bad})
    assert refused.status_code == 404 and "item 3" in refused.json()["detail"]


@pytest.fixture
def moved_clock(own_client) -> list[datetime]:
    """The test's app reads its clock from this list, which the test moves."""
    now = [datetime(2026, 11, 20, 2, 0, tzinfo=UTC)]
    own_client.app.state.clock = lambda: now[0]
    return now


def test_overdue_listing_follows_the_clock(own_client, phone_point, moved_clock) -> None:
    report = body(phone_point, category="0503", device_time="2026-11-20T09:59:00+08:00")
    case = own_client.post("/api/v1/incidents", json=report).json()
    assert case["stage_due"].startswith("2026-11-20T02:06")  # 5 % of 2 h
    listed = own_client.get("/api/v1/incidents", params={"overdue": True, "limit": 1000}).json()
    assert case["id"] not in {i["id"] for i in listed["items"]}
    moved_clock[0] += timedelta(minutes=7)
    listed = own_client.get("/api/v1/incidents", params={"overdue": True, "limit": 1000}).json()
    assert case["id"] in {i["id"] for i in listed["items"]}
    assert all(i["overdue"] for i in listed["items"])


def test_listing_filters(own_client, phone_point) -> None:
    case = own_client.post("/api/v1/incidents", json=body(phone_point, category="0603")).json()
    found = own_client.get(
        "/api/v1/incidents", params={"code": phone_point[0], "stage": "reported", "category": "06"}
    ).json()
    assert case["id"] in {i["id"] for i in found["items"]}
    assert all(i["grid_code"] == phone_point[0] for i in found["items"])
    assert own_client.get("/api/v1/incidents", params={"stage": "lost"}).status_code == 422


def test_categories_are_listed_and_configurable(tx_client) -> None:
    listed = tx_client.get("/api/v1/categories").json()
    by_code = {c["code"]: c for c in listed}
    assert by_code["0701"]["limit_hours"] == 24 and by_code["0401"]["limit_hours"] == 2
    assert by_code["05"]["name_zh"] == "环境卫生" and by_code["0501"]["parent_code"] == "05"
    changed = tx_client.put(
        "/api/v1/categories/0599",
        json={
            "parent_code": "05",
            "name_zh": "河道漂浮物",
            "name_en": "River litter",
            "tier": "village",
            "case_type": "promised",
            "limit_hours": 72,
            "stage_hours": {"handling": 48},
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["stage_hours"]["handling"] == 48
    orphan = tx_client.put(
        "/api/v1/categories/1201",
        json={
            "parent_code": "12",
            "name_zh": "x",
            "name_en": "x",
            "tier": "grid",
            "case_type": "promised",
            "limit_hours": 1,
        },
    )
    assert orphan.status_code == 422


@pytest.fixture(scope="module")
def server(demo_copy) -> Iterator[tuple[str, str]]:
    """A real uvicorn server (one worker) on a demo database of its own: starting one takes
    seconds, so the concurrency tests below share it and look only at the cases they make.
    Yields its base URL and its database's URL (to mint tokens for)."""
    with demo_copy() as url, serving(url, env={"GRIDMAP_ESCALATE_EVERY_S": "0"}) as base:
        yield base, url


def test_concurrent_staff_exactly_one_wins(server, phone_point) -> None:
    """Eight staff press 派遣 at once on a real server: one 200, seven 409."""
    base, url = server
    with httpx.Client(base_url=base, headers=identities.bearer(url)) as http:
        case = http.post("/api/v1/incidents", json=body(phone_point)).json()
        assert (
            http.post(f"/api/v1/incidents/{case['id']}/actions/accept", json={}).status_code == 200
        )
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def press(n: int) -> None:
        user = identities.BROAD[n % len(identities.BROAD)]
        with httpx.Client(base_url=base, timeout=30, headers=identities.bearer(url, user)) as http:
            barrier.wait()
            answer = http.post(f"/api/v1/incidents/{case['id']}/actions/dispatch", json={})
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    with httpx.Client(base_url=base, headers=identities.bearer(url)) as http:
        events = http.get(f"/api/v1/incidents/{case['id']}").json()["events"]
    assert [e["action"] for e in events].count("dispatch") == 1


def test_an_in_flight_key_is_409_with_retry_after(server, phone_point) -> None:
    """While another request holds the key (its advisory lock, held here by the test), a retry
    is told to come back: 409 with Retry-After; once it is free the same retry is stored."""
    import psycopg

    from gridmap.db.incidents import key_lock_id

    base, url = server
    key = f"held-{uuid.uuid4()}"
    with httpx.Client(base_url=base, timeout=30, headers=identities.bearer(url)) as http:
        with psycopg.connect(url.replace("+psycopg", "")) as holder, holder.transaction():
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (key_lock_id(key),))
            busy = http.post(
                "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": key}
            )
        assert busy.status_code == 409, busy.text
        assert busy.json()["code"] == "IdempotencyKeyInProgressError"
        assert int(busy.headers["Retry-After"]) >= 1
        again = http.post(
            "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": key}
        )
        assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers


def test_concurrent_retries_of_one_key_make_one_incident(server, phone_point) -> None:
    """Six copies of one report race on a real server: one incident; the rest replay or 409."""
    key = f"race-{uuid.uuid4()}"
    barrier = threading.Barrier(6)
    answers: list[httpx.Response] = []

    base, url = server

    def send() -> None:
        with httpx.Client(base_url=base, timeout=30, headers=identities.bearer(url)) as http:
            barrier.wait()
            answers.append(
                http.post(
                    "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": key}
                )
            )

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} <= {201, 409}
    ids = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(ids) == 1
    replayed = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
    fresh = [a for a in answers if a.status_code == 201 and a not in replayed]
    assert len(fresh) == 1


def test_one_escalation_tick_moves_a_late_case_up_one_tier(own_client, phone_point) -> None:
    """The scheduler's round (``escalate_tick``, what the lifespan runs every
    ``escalate_every_s``): before the deadline it leaves the case, after it lifts it one tier."""
    from api.main import escalate_tick

    app = own_client.app
    now = [datetime(2026, 11, 21, 2, 0, tzinfo=UTC)]
    app.state.clock = lambda: now[0]
    case = own_client.post("/api/v1/incidents", json=body(phone_point, category="0503")).json()
    assert case["tier"] == "grid"
    now[0] += timedelta(minutes=5)  # inside the 6-minute acceptance deadline
    assert escalate_tick(app) == 0
    assert own_client.get(f"/api/v1/incidents/{case['id']}").json()["tier"] == "grid"
    now[0] += timedelta(minutes=2)  # past it
    assert escalate_tick(app) == 1
    assert own_client.get(f"/api/v1/incidents/{case['id']}").json()["tier"] == "village"


def test_the_intake_hot_path_validates_like_the_route(client, phone_point) -> None:
    """Raw-ASGI intake (JSON bodies) and the FastAPI route (other bodies) refuse alike."""
    broken = client.post(
        "/api/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["loc"][0] == "body"
    long_key = client.post(
        "/api/v1/incidents", json=body(phone_point), headers={"Idempotency-Key": "k" * 300}
    )
    assert long_key.status_code == 422
    assert long_key.json()["errors"][0]["loc"] == ["header", "idempotency-key"]
    plain = client.post(
        "/api/v1/incidents", content=b"lon=1", headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 422 and plain.json()["code"] == "RequestValidationError"
    missing = {k: v for k, v in body(phone_point).items() if k != "category"}
    answer = client.post("/api/v1/incidents", json=missing)
    assert answer.status_code == 422
    assert ["body", "category"] in [e["loc"] for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents/99999999999999999999",
        "/api/v1/incidents?worker_id=9999999999",
        "/api/v1/incidents?offset=99999999999999999999",
        "/api/v1/incidents?category=%00",
        "/api/v1/incidents?since=2026-11-22T00:00:00",
        "/api/v1/workers?offset=99999999999999999999",
    ],
)
def test_out_of_range_and_odd_queries_are_422_not_500(client, path) -> None:
    answer = client.get(path)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_nul_and_huge_ids_in_bodies_are_422(own_client, phone_point) -> None:
    case = own_client.post("/api/v1/incidents", json=body(phone_point)).json()
    for payload in ({"note": "a\x00b"}, {"worker_id": 99_999_999_999}):
        action = "dispatch" if "worker_id" in payload else "accept"
        answer = own_client.post(f"/api/v1/incidents/{case['id']}/actions/{action}", json=payload)
        assert answer.status_code == 422, answer.text
    assert (
        own_client.post("/api/v1/incidents", json=body(phone_point, reporter="\x00")).status_code
        == 422
    )
    worker = {"county_code": "513401", "name": "a\x00"}
    assert own_client.post("/api/v1/workers", json=worker).status_code == 422
    unknown = own_client.post("/api/v1/workers", json={"county_code": "999999", "name": "某某"})
    # Outside the caller's area, like any unknown county: 404 naming the code.
    assert unknown.status_code == 404 and "999999" in unknown.json()["detail"]
    assert (
        own_client.get("/api/v1/workers/staffing", params={"county": "999999"}).status_code == 404
    )


@pytest.mark.parametrize(
    "change",
    [
        {"parent_code": ""},
        {"stage_hours": {"handling": 1e12}},
        {"limit_hours": 1e12},
        {"name_zh": "a\x00"},
        {"limit_hours": 5e-324},  # every case overdue on arrival
        {"stage_hours": {"handling": 0.01}},
        {"name_zh": ""},
        {"name_zh": "   "},
        {"name_en": "Tab\there"},
        {"name_zh": "\u202e反转"},  # a bidi override (format character)
    ],
)
def test_category_values_that_would_break_intake_are_refused(client, change) -> None:
    base = {
        "parent_code": "05",
        "name_zh": "测试",
        "name_en": "Test",
        "tier": "grid",
        "case_type": "promised",
        "limit_hours": 24,
    }
    answer = client.put("/api/v1/categories/0598", json={**base, **change})
    if change == {"parent_code": ""}:  # "" means no parent: refused for a 小类 (parent "05")
        assert answer.status_code == 422 and "parent" in answer.json()["detail"]
    else:
        assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    ("device_time", "why"),
    [
        ("9999-12-31T23:59:59-05:00", "after"),  # year 10000 in UTC: reads used to answer 500
        ("0001-01-01T00:00:00Z", "before"),
        ("1970-01-01T00:00:00Z", "before"),
        ("2126-12-02T10:00:00+08:00", "after"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/incidents/batch"])
def test_device_times_outside_the_window_are_refused(client, phone_point, device_time, why, path):
    report = body(phone_point, device_time=device_time)
    payload = {"items": [report | {"key": str(uuid.uuid4())}]} if path.endswith("batch") else report
    answer = client.post(path, json=payload, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "InvalidInputError"
    assert "device_time" in problem["detail"] and why in problem["detail"]


def test_device_time_offsets_are_stored_in_utc(own_client, phone_point) -> None:
    """+15:59 is valid RFC 3339 but not PostgreSQL input: converted before it is stored."""
    made = own_client.post(
        "/api/v1/incidents", json=body(phone_point, device_time="2026-11-23T10:00:00+15:59")
    )
    assert made.status_code == 201, made.text
    stored = own_client.get(f"/api/v1/incidents/{made.json()['id']}").json()
    assert datetime.fromisoformat(stored["device_time"]) == datetime(
        2026, 11, 22, 18, 1, tzinfo=UTC
    )
    assert own_client.get("/api/v1/incidents").status_code == 200
    assert own_client.get("/open311/v2/requests.json").status_code == 200


def test_a_chunked_body_over_the_limit_is_413(client) -> None:
    from api.main import MAX_BODY_BYTES

    def chunks():
        piece = b"x" * (1 << 20)
        for _ in range(MAX_BODY_BYTES // len(piece) + 2):
            yield piece

    answer = client.post(
        "/api/v1/locate/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["code"] == "PayloadTooLargeError"
