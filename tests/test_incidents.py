"""Incidents against the real demo database: intake, idempotency, workflow, deadlines, hotspots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import h3
import shapely

from gridmap import crs, db, incidents, lookup
from gridmap.errors import (
    ConcurrentUpdateError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    OutsideCoverageError,
    SeparationOfDutiesError,
)

T0 = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def grid_points(demo_engine: Engine) -> list[tuple[str, float, float]]:
    """(grid code, lon, lat) of a point well inside each of a few grids."""
    with Session(demo_engine) as session:
        grids = db.units.read(session, county="513401", level="grid").iloc[::97][:8]
    found = []
    for code, geom in zip(grids["code"], grids.geometry, strict=True):
        inner = shapely.buffer(geom, -0.0005)
        point = (inner if not inner.is_empty else geom).representative_point()
        found.append((code, point.x, point.y))
    return found


def count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM incident")).scalar_one())


def report(lon: float, lat: float, **fields: object) -> incidents.Report:
    return incidents.Report(lon=lon, lat=lat, **{"category": "0501", **fields})  # type: ignore[arg-type]


def test_intake_locates_assigns_and_audits(demo_tx, demo_index, grid_points) -> None:
    code, lon, lat = grid_points[0]
    made = incidents.report_incident(demo_tx, demo_index, report(lon, lat, reporter="张三"), now=T0)
    case = made.incident
    assert made.created
    assert case["grid_code"] == code
    assert case["village_code"] == code[:12] and case["township_code"] == code[:9]
    assert case["stage"] == "reported" and case["tier"] == "grid"  # 0501's default tier
    primary = demo_tx.execute(
        text(
            "SELECT worker_id FROM worker_grid wg JOIN worker w ON w.id = wg.worker_id "
            "WHERE grid_code = :g AND duty = 'primary' AND w.on_duty"
        ),
        {"g": code},
    ).scalar_one_or_none()
    assert case["worker_id"] == (primary or case["worker_id"])
    assert case["worker_id"] is not None
    assert case["stage_due"] == T0 + timedelta(hours=168 * 0.05)
    stored = incidents.get(demo_tx, case["id"])
    assert [e["action"] for e in stored["events"]] == ["report"]
    assert stored["events"][0]["actor"] == "api:anonymous"  # accounts, never the reporter
    assert stored["lon"] == pytest.approx(lon, abs=1e-9)
    cell = demo_tx.execute(
        text("SELECT h3_cell FROM incident WHERE id = :i"), {"i": case["id"]}
    ).scalar_one()
    assert h3.int_to_str(cell) == h3.latlng_to_cell(lat, lon, incidents.HOTSPOT_RESOLUTION)


def test_gcj02_reports_are_shifted_back(demo_tx, demo_index, grid_points) -> None:
    code, lon, lat = grid_points[1]
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    made = incidents.report_incident(
        demo_tx, demo_index, report(float(glon), float(glat), crs="gcj02"), now=T0
    )
    assert made.incident["grid_code"] == code
    assert made.incident["lon"] == pytest.approx(lon, abs=1e-8)
    assert made.incident["lat"] == pytest.approx(lat, abs=1e-8)
    assert made.incident["input_crs"] == "gcj02"


def test_outside_and_unknown_write_nothing(demo_tx, demo_index, grid_points) -> None:
    before = count(demo_tx)
    with pytest.raises(OutsideCoverageError):
        incidents.report_incident(demo_tx, demo_index, report(116.39, 39.91), key="k-out")
    _, lon, lat = grid_points[0]
    with pytest.raises(NotFoundError, match="category"):
        incidents.report_incident(demo_tx, demo_index, report(lon, lat, category="9999"))
    with pytest.raises(InvalidInputError, match="photos"):
        incidents.report_incident(
            demo_tx, demo_index, report(lon, lat, photo_urls=tuple(["http://x/p.jpg"] * 10))
        )
    assert count(demo_tx) == before


def test_idempotency_key_replays_and_refuses_other_bodies(demo_tx, demo_index, grid_points):
    _, lon, lat = grid_points[2]
    first = incidents.report_incident(
        demo_tx, demo_index, report(lon, lat, description="一"), key="phone-1:42", now=T0
    )
    before = count(demo_tx)
    again = incidents.report_incident(
        demo_tx, demo_index, report(lon, lat, description="一"), key="phone-1:42", now=T0
    )
    assert not again.created and again.incident["id"] == first.incident["id"]
    assert count(demo_tx) == before
    with pytest.raises(IdempotencyKeyReusedError, match="different report"):
        incidents.report_incident(
            demo_tx, demo_index, report(lon, lat, description="二"), key="phone-1:42"
        )


def test_a_key_in_flight_gets_try_again(demo_engine, demo_tx, demo_index, grid_points) -> None:
    """Another transaction holding the key (a request mid-flight) makes this one back off."""
    _, lon, lat = grid_points[3]
    with demo_engine.connect() as other:
        other.execute(
            text("SELECT pg_advisory_xact_lock(:id)"),
            {"id": db.incidents.key_lock_id("phone-2:7")},
        )
        with pytest.raises(IdempotencyKeyInProgressError):
            incidents.report_incident(demo_tx, demo_index, report(lon, lat), key="phone-2:7")
        other.rollback()
    made = incidents.report_incident(demo_tx, demo_index, report(lon, lat), key="phone-2:7")
    assert made.created


def test_batch_is_all_or_nothing_and_resendable(demo_tx, demo_index, grid_points) -> None:
    items = [(f"q-{i}", report(lon, lat)) for i, (_, lon, lat) in enumerate(grid_points[:4])]
    before = count(demo_tx)
    bad = [*items[:2], ("q-bad", report(116.39, 39.91)), *items[2:]]
    with pytest.raises(OutsideCoverageError, match="item 2"), demo_tx.begin_nested():
        incidents.report_many(demo_tx, demo_index, bad)
    assert count(demo_tx) == before
    stored = incidents.report_many(demo_tx, demo_index, items)
    assert all(s.created for s in stored) and count(demo_tx) == before + 4
    again = incidents.report_many(demo_tx, demo_index, items)
    assert [a.incident["id"] for a in again] == [s.incident["id"] for s in stored]
    assert not any(a.created for a in again) and count(demo_tx) == before + 4
    with pytest.raises(IdempotencyKeyReusedError, match="twice"):
        incidents.report_many(demo_tx, demo_index, [items[0], items[0]])


def walk(session: Session, case_id: int, t: datetime) -> dict:
    steps = [
        ("accept", "村委会 李四", {}),
        ("dispatch", "指挥中心 王五", {}),
        ("start", "worker:1", {}),
        ("resolve", "worker:1", {"note": "已清理"}),
        ("close", "监督中心 赵六", {}),
        ("rate", "群众", {"rating": 5}),
    ]
    found: dict = {}
    for i, (action, actor, extra) in enumerate(steps):
        found = incidents.act(
            session, case_id, action, actor=actor, now=t + timedelta(hours=i + 1), **extra
        )
    return found


def test_the_seven_stages_to_closure_with_an_audit_row_each(demo_tx, demo_index, grid_points):
    _, lon, lat = grid_points[4]
    case = incidents.report_incident(demo_tx, demo_index, report(lon, lat), now=T0).incident
    done = walk(demo_tx, case["id"], T0)
    assert done["stage"] == "rated" and done["rating"] == 5
    assert done["handler"] == "worker:1" and done["dispatcher"] == "指挥中心 王五"
    assert [(e["from_stage"], e["to_stage"]) for e in done["events"]] == [
        (None, "reported"),
        ("reported", "accepted"),
        ("accepted", "dispatched"),
        ("dispatched", "handling"),
        ("handling", "resolved"),
        ("resolved", "closed"),
        ("closed", "rated"),
    ]
    assert done["closed_at"] == T0 + timedelta(hours=5)
    assert done["version"] == 7 and not done["open"]
    with pytest.raises(InvalidTransitionError) as refused:
        incidents.act(demo_tx, case["id"], "dispatch", actor="x")
    assert refused.value.context["allowed"] == ["reopen"]
    reopened = incidents.act(demo_tx, case["id"], "reopen", actor="群众", note="又堆上了")
    assert reopened["stage"] == "accepted" and reopened["rating"] is None


def test_the_handler_cannot_close_their_own_case(demo_tx, demo_index, grid_points) -> None:
    _, lon, lat = grid_points[5]
    case = incidents.report_incident(demo_tx, demo_index, report(lon, lat)).incident
    for action in ("accept", "dispatch", "start", "resolve"):
        actor = "指挥中心" if action == "dispatch" else "worker:9"
        incidents.act(demo_tx, case["id"], action, actor=actor)
    with pytest.raises(SeparationOfDutiesError):
        incidents.act(demo_tx, case["id"], "close", actor="worker:9")
    with pytest.raises(SeparationOfDutiesError):
        incidents.act(demo_tx, case["id"], "close", actor="指挥中心")
    returned = incidents.act(demo_tx, case["id"], "return", actor="监督中心", note="未处理完")
    assert returned["stage"] == "handling"


@pytest.fixture
def own_engine(demo_url: str) -> Iterator[Engine]:
    """Engine on this test's own demo database, for tests that commit from several sessions."""
    engine = db.session.make_engine(demo_url)
    yield engine
    engine.dispose()


def test_a_stale_version_loses(own_engine, demo_index, grid_points) -> None:
    """Two staff read version 1; the first dispatch wins and the second gets a conflict."""
    _, lon, lat = grid_points[6]
    with Session(own_engine) as first:
        case = incidents.report_incident(first, demo_index, report(lon, lat)).incident
        incidents.act(first, case["id"], "accept", actor="a")
        first.commit()
    with Session(own_engine) as one, Session(own_engine) as two:
        incidents.act(one, case["id"], "dispatch", actor="甲", expected_version=2)
        one.commit()
        with pytest.raises(ConcurrentUpdateError):
            incidents.act(two, case["id"], "dispatch", actor="乙", expected_version=2)
        two.rollback()
        row = incidents.get(two, case["id"])
        assert row["dispatcher"] == "甲" and row["version"] == 3


def test_overdue_cases_escalate_one_tier_per_deadline(demo_tx, demo_index, grid_points) -> None:
    _, lon, lat = grid_points[7]
    case = incidents.report_incident(demo_tx, demo_index, report(lon, lat), now=T0).incident
    due = case["stage_due"]  # 5 % of 168 h to accept
    assert due == T0 + timedelta(hours=8.4)
    before = {i["id"] for i in incidents.search(demo_tx, now=due, overdue=True, limit=1000)[1]}
    assert case["id"] not in before
    late = due + timedelta(minutes=1)
    overdue = {i["id"] for i in incidents.search(demo_tx, now=late, overdue=True, limit=1000)[1]}
    assert case["id"] in overdue
    assert case["id"] in incidents.escalate_overdue(demo_tx, now=late)
    after = incidents.get(demo_tx, case["id"], now=late)
    assert after["tier"] == "village" and after["stage"] == "reported"
    assert after["stage_due"] == late + timedelta(hours=8.4) and not after["overdue"]
    assert after["events"][-1]["actor"] == "system:deadline"
    assert case["id"] not in incidents.escalate_overdue(demo_tx, now=late + timedelta(hours=1))
    for hours in (10, 20, 30, 40):  # village → township → county, then it stays put
        incidents.escalate_overdue(demo_tx, now=late + timedelta(hours=hours))
    final = incidents.get(demo_tx, case["id"], now=late + timedelta(hours=40))
    assert final["tier"] == "county" and final["overdue"]
    assert [e["to_tier"] for e in final["events"]].count("county") == 1


def test_hotspots_count_grow_and_recur(demo_tx, demo_index, grid_points) -> None:
    """Three months of reports at known places: counts, growth and recurring places match."""
    (g1, lon1, lat1), (g2, lon2, lat2) = grid_points[0], grid_points[1]
    plan = [  # (month start, place, category, how many)
        (datetime(2026, 9, 10, tzinfo=UTC), (lon1, lat1), "0501", 2),
        (datetime(2026, 10, 10, tzinfo=UTC), (lon1, lat1), "0501", 2),
        (datetime(2026, 10, 10, tzinfo=UTC), (lon2, lat2), "0601", 1),
        (datetime(2026, 11, 10, tzinfo=UTC), (lon1, lat1), "0501", 3),
        (datetime(2026, 11, 10, tzinfo=UTC), (lon2, lat2), "0403", 1),
    ]
    for when, (lon, lat), category, n in plan:
        for _ in range(n):
            incidents.report_incident(
                demo_tx, demo_index, report(lon, lat, category=category), now=when
            )
    found = incidents.hotspots(demo_tx, county="513401", month="2026-11")
    assert found["total"] == 4 and found["previous_total"] == 3
    top = found["cells"][0]
    assert top["h3_cell"] == h3.latlng_to_cell(lat1, lon1, 9)
    assert (top["count"], top["previous"], top["growth"]) == (3, 2, 0.5)
    assert {g["grid"]: g["count"] for g in found["grids"]} == {g1: 3, g2: 1}
    assert {c["category"]: c["count"] for c in found["categories"]} == {"0501": 3, "0403": 1}
    (recurring,) = found["recurring"]  # 0501 at place 1 in all three months; 0601/0403 once
    assert recurring["category"] == "0501" and recurring["count"] == 7
    assert recurring["months"] == ["2026-09", "2026-10", "2026-11"]
    with pytest.raises(InvalidInputError):
        incidents.hotspots(demo_tx, county="513401", month="November")


def test_month_boundaries_are_china_time(demo_tx, demo_index, grid_points) -> None:
    """A report at 2026-10-31 17:00 UTC is 1 November 01:00 in China: November's count."""
    _, lon, lat = grid_points[0]
    when = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    incidents.report_incident(demo_tx, demo_index, report(lon, lat), now=when)
    assert incidents.hotspots(demo_tx, county="513401", month="2026-11")["total"] == 1
    assert incidents.hotspots(demo_tx, county="513401", month="2026-10")["total"] == 0


def test_index_is_used_not_postgis(demo_tx, demo_index, grid_points) -> None:
    """The stored codes equal the index's answer for the same point."""
    _, lon, lat = grid_points[3]
    where = lookup.locate_one(demo_index, lon, lat)
    case = incidents.report_incident(demo_tx, demo_index, report(lon, lat)).incident
    assert (case["grid_code"], case["near_boundary"]) == (where.grid, where.near_boundary)


def test_crs_aliases_are_stored_by_name_and_nul_is_refused(demo_tx, demo_index, grid_points):
    _, lon, lat = grid_points[2]
    made = incidents.report_incident(demo_tx, demo_index, report(lon, lat, crs="EPSG:4326"))
    assert made.incident["input_crs"] == "wgs84"
    with pytest.raises(InvalidInputError, match="NUL"):
        incidents.report_incident(demo_tx, demo_index, report(lon, lat, description="a\x00b"))


def test_an_inactive_category_keeps_its_cases_moving(demo_tx, demo_index, grid_points) -> None:
    """Retiring a category stops new reports, not the cases it has (nor escalation of others)."""
    _, lon, lat = grid_points[0]
    case = incidents.report_incident(demo_tx, demo_index, report(lon, lat), now=T0).incident
    demo_tx.execute(text("UPDATE category SET active = false WHERE code = '0501'"))
    moved = incidents.act(demo_tx, case["id"], "accept", actor="村委会", now=T0)
    assert moved["stage"] == "accepted"
    with pytest.raises(NotFoundError, match="inactive"):
        incidents.report_incident(demo_tx, demo_index, report(lon, lat))
    later = T0 + timedelta(days=30)
    assert case["id"] in incidents.escalate_overdue(demo_tx, now=later)


def test_a_refused_batch_item_rolls_back_the_items_before_it(demo_tx, demo_index, grid_points):
    """Even when the caller catches the error and commits, no item of the batch is kept."""
    before = count(demo_tx)
    items = [(f"rb-{i}", report(lon, lat)) for i, (_, lon, lat) in enumerate(grid_points[:3])]
    with pytest.raises(OutsideCoverageError):
        incidents.report_many(demo_tx, demo_index, [*items, ("rb-x", report(116.39, 39.91))])
    assert count(demo_tx) == before


def test_hotspot_months_may_drop_the_leading_zero(demo_tx, demo_index, grid_points) -> None:
    _, lon, lat = grid_points[0]
    incidents.report_incident(
        demo_tx, demo_index, report(lon, lat), now=datetime(2026, 9, 5, tzinfo=UTC)
    )
    assert incidents.hotspots(demo_tx, county="513401", month="2026-9")["total"] == 1
