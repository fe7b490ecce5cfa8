"""The access matrix: role × resource × action × {own scope, neighbouring village,
neighbouring county, guessed id}, generated from the one table below, over the real HTTP app.

The expected answer is written here, independently of ``gridmap.auth.access``: 403 when the
role may not do the action at all, 404 when the object lies outside its scope (so ids cannot be
probed), else success. Each request runs in a savepoint rolled back afterwards, so writes do not
change what the next role finds. The objects (an incident in the grid worker's grid, one in a
neighbouring village of the same township, one in a neighbouring county, and workers likewise)
are made by the test inside ``tx_client``'s transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

import shapely

from gridmap import db, incidents, workers
from tests import identities

ROLES = ("county", "township", "village", "grid", "planner", "viewer", "client")
TARGETS = ("own", "neighbour_village", "neighbour_county", "guessed")
STAFF = {"county", "township", "village"}
EVERYONE = set(ROLES)
# Which targets lie in each role's scope: county-wide roles reach the neighbouring village of
# the township, the village staff and the grid worker only their own.
REACH = {
    "county": {"own", "neighbour_village"},
    "township": {"own", "neighbour_village"},
    "village": {"own"},
    "grid": {"own"},
    "planner": {"own", "neighbour_village"},
    "viewer": {"own", "neighbour_village"},
    "client": {"own", "neighbour_village"},
}
# Exports need the whole county in scope.
WHOLE_COUNTY = {"county", "planner", "viewer", "client"}


@dataclass(frozen=True)
class Case:
    """One resource × action: who may, how it is asked, what success is."""

    name: str
    allowed: set[str]
    method: str
    path: Callable[[dict[str, Any]], str]
    body: Callable[[dict[str, Any]], Any] | None = None
    kind: str = "incident"  # which target ids the path takes: incident, worker, unit, county
    ok: int = 200
    reach: Callable[[str], set[str]] = lambda role: REACH[role]


def _fixes(world: dict[str, Any]) -> dict[str, Any]:
    lon, lat = world["point"]
    now = datetime.now(UTC).isoformat()
    return {"fixes": [{"lon": lon, "lat": lat, "t": now}]}


TABLE = (
    Case("read incident", EVERYONE, "GET", lambda w: f"/api/v1/incidents/{w['id']}"),
    Case("open311 request", EVERYONE, "GET", lambda w: f"/open311/v2/requests/{w['id']}.json"),
    Case(
        "accept",
        STAFF,
        "POST",
        lambda w: f"/api/v1/incidents/{w['id']}/actions/accept",
        lambda _: {},
    ),
    Case(
        "escalate",
        STAFF,
        "POST",
        lambda w: f"/api/v1/incidents/{w['id']}/actions/escalate",
        lambda _: {"note": "需要上级协调"},
    ),
    Case(
        "read worker",
        EVERYONE - {"client"},
        "GET",
        lambda w: f"/api/v1/workers/{w['id']}",
        kind="worker",
    ),
    Case(
        "set duty",
        {"county", "township"},
        "PATCH",
        lambda w: f"/api/v1/workers/{w['id']}",
        lambda _: {"on_duty": True},
        kind="worker",
    ),
    Case(
        "record track",
        {"county", "grid"},
        "POST",
        lambda w: f"/api/v1/workers/{w['id']}/positions",
        _fixes,
        kind="worker",
    ),
    Case("map", EVERYONE, "GET", lambda w: f"/maps/{w['id']}", kind="unit"),
    Case(
        "qa",
        STAFF | {"planner"},
        "GET",
        lambda w: f"/api/v1/qa/{w['id']}",
        kind="county",
        reach=lambda _: {"own"},
    ),
    Case(
        "hotspots",
        EVERYONE,
        "GET",
        lambda w: f"/api/v1/incidents/hotspots?county={w['id']}&month=2026-11",
        kind="county",
        reach=lambda _: {"own"},
    ),
    Case(
        "coverage",
        EVERYONE - {"client"},
        "GET",
        lambda w: (
            f"/api/v1/workers/coverage?county={w['id']}"
            "&since=2026-11-01T00:00:00%2B08:00&until=2026-12-01T00:00:00%2B08:00"
        ),
        kind="county",
        reach=lambda _: {"own"},
    ),
    Case(
        "export",
        STAFF | {"planner", "viewer"},
        "GET",
        lambda w: f"/api/v1/exports/{w['id']}.csv",
        kind="county",
        reach=lambda role: {"own"} if role in WHOLE_COUNTY else set(),
    ),
    Case(
        "siting suggestions",
        STAFF | {"planner"},
        "GET",
        lambda w: f"/api/v1/sites/suggestions?county={w['id']}&radius_m=5000&count=1",
        kind="county",
        reach=lambda role: {"own"} if role in WHOLE_COUNTY else set(),
    ),
)


def expected(case: Case, role: str, target: str) -> int:
    if role not in case.allowed:
        return 403
    if target not in case.reach(role):
        return 404
    return case.ok


def _inside(session: Session, code: str) -> tuple[float, float]:
    geom = db.units.read(session, codes=[code]).geometry.iloc[0]
    point = shapely.buffer(geom, -0.0002).representative_point()
    return point.x, point.y


@pytest.fixture
def world(tx_client) -> dict[str, dict[str, Any]]:
    """The objects each target names, made in the test's transaction (ids by kind)."""
    app = tx_client.app
    with (
        app.state.sessions.turn() as connection,
        Session(bind=connection, join_transaction_mode="create_savepoint") as session,
    ):
        account = db.accounts.by_username(session, "grid.513401")
        assert account is not None and account.worker_id is not None
        own_grid = db.accounts.worker_grids(session, account.worker_id)[0]
        grids = db.units.read(session, county="513401", level="grid")["code"].tolist()
        neighbour_grid = next(g for g in grids if g[:9] == own_grid[:9] and g[:12] != own_grid[:12])
        other_county = next(
            c for c in db.units.read(session, level="county")["code"] if c != "513401"
        )
        made: dict[str, dict[str, Any]] = {t: {} for t in TARGETS}
        for target, code in (
            ("own", own_grid),
            ("neighbour_village", neighbour_grid),
            ("neighbour_county", other_county),
        ):
            lon, lat = _inside(session, code)
            report = incidents.Report(lon=lon, lat=lat, category="0501", reporter="矩阵")
            made[target]["incident"] = incidents.report_incident(
                session, app.state.index, report
            ).incident["id"]
            made[target]["point"] = (lon, lat)
            made[target]["unit"] = code if target != "neighbour_village" else code[:12]
        made["own"]["worker"] = account.worker_id
        neighbour = workers.NewWorker(
            county_code="513401", name="邻村网格员", primary_grids=(neighbour_grid,)
        )
        far = workers.NewWorker(county_code=other_county, name="邻县网格员")
        made["neighbour_village"]["worker"], made["neighbour_county"]["worker"] = (
            workers.add(session, [neighbour])[0],
            workers.add(session, [far])[0],
        )
        made["own"]["county"] = "513401"
        made["neighbour_county"]["county"] = other_county
        made["guessed"] = {
            "incident": 9_000_000_001,
            "worker": 2_000_000_001,
            "unit": own_grid[:12] + "999",
            "county": "513499",
            "point": made["own"]["point"],
        }
        session.commit()
    return made


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c.name)
def test_matrix(tx_client, world, case: Case) -> None:
    sessions = tx_client.app.state.sessions
    url = tx_client.app.state.settings.database_url
    wrong = []
    for role in ROLES:
        headers = identities.bearer(url, f"{role}.513401")
        for target in TARGETS:
            if case.kind == "county" and target == "neighbour_village":
                continue  # a county-level resource has no village to miss
            ids = world[target]
            if case.kind not in ids:
                continue
            values = {"id": ids[case.kind], "point": ids["point"]}
            with sessions.turn() as connection:
                savepoint = connection.begin_nested()
            try:
                answer = tx_client.request(
                    case.method,
                    case.path(values),
                    json=case.body(values) if case.body else None,
                    headers={**headers, "Accept": "application/json"},
                )
            finally:
                with sessions.turn():
                    savepoint.rollback()
            want = expected(case, role, target)
            if answer.status_code != want:
                wrong.append((role, target, want, answer.status_code, answer.text[:160]))
    assert not wrong, "\n".join(map(str, wrong))


def test_only_county_admins_edit_categories_and_read_the_audit_log(tx_client) -> None:
    url = tx_client.app.state.settings.database_url
    rule = {"parent_code": "07", "name_zh": "测试", "name_en": "Test", "tier": "grid"}
    rule |= {"case_type": "immediate"}
    rule |= {"limit_hours": 4}
    for role in ROLES:
        headers = identities.bearer(url, f"{role}.513401")
        put = tx_client.put("/api/v1/categories/0799", json=rule, headers=headers)
        audit = tx_client.get("/api/v1/audit", headers=headers)
        want = 200 if role == "county" else 403
        assert (put.status_code, audit.status_code) == (want, want), (role, put.text, audit.text)


def test_separation_of_duties_rests_on_the_account_not_the_body(tx_client, world) -> None:
    url = tx_client.app.state.settings.database_url
    case = world["own"]["incident"]
    path = f"/api/v1/incidents/{case}/actions"
    first = identities.bearer(url, "admin.test")
    second = identities.bearer(url, "second.test")
    assert tx_client.post(f"{path}/accept", json={}, headers=first).status_code == 200
    assert tx_client.post(f"{path}/dispatch", json={}, headers=first).status_code == 200
    assert tx_client.post(f"{path}/start", json={}, headers=second).status_code == 200
    assert tx_client.post(f"{path}/resolve", json={"note": "ok"}, headers=second).status_code == 200
    forged = tx_client.post(f"{path}/close", json={"actor": "someone-else"}, headers=second)
    assert forged.status_code == 422  # no actor field: who acts is the token
    by_handler = tx_client.post(f"{path}/close", json={}, headers=second)
    by_dispatcher = tx_client.post(f"{path}/close", json={}, headers=first)
    assert by_handler.status_code == by_dispatcher.status_code == 403
    done = tx_client.post(f"{path}/close", json={}, headers=identities.bearer(url, "third.test"))
    assert done.status_code == 200, done.text
    trail = [(e["action"], e["actor"]) for e in done.json()["events"]]
    assert trail[-1] == ("close", "third.test")
    logged = tx_client.get(
        "/api/v1/audit", params={"resource": "incident", "resource_id": str(case)}, headers=first
    ).json()
    assert next(r["actor"] for r in logged["items"] if r["action"] == "update") == "third.test"
