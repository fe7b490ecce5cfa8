"""Row-level security, the second layer: the storage layer called directly as the API's
database role leaks nothing outside the scope, even through queries that never call scoped().

Each test reports its own incidents in a rolled-back transaction on the demo database, then
switches that transaction to the ``gridmap_scoped`` role (``db.scope.enter``) and reads with
raw SQL and with the storage functions, passing them EVERYTHING as a buggy router would."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from gridmap import db, incidents, lookup
from gridmap.db.scope import EVERYTHING, Scope


def inside(session: Session, code: str) -> tuple[float, float]:
    """A point well inside unit ``code``."""
    geom = db.units.read(session, codes=[code]).geometry.iloc[0]
    point = shapely.buffer(geom, -0.0003).representative_point()
    return point.x, point.y


def two_villages(session: Session) -> tuple[str, str]:
    """Grids of two different villages of the demo county."""
    grids = db.units.read(session, county="513401", level="grid")["code"].tolist()
    first = grids[0]
    other = next(g for g in grids if g[:12] != first[:12])
    return first, other


@pytest.fixture
def reported(demo_tx: Session, demo_index: lookup.Index) -> tuple[str, str, list[int]]:
    """One incident in each of two villages (ids), reported as the owner."""
    mine, theirs = two_villages(demo_tx)
    ids = []
    for grid in (mine, theirs):
        lon, lat = inside(demo_tx, grid)
        report = incidents.Report(lon=lon, lat=lat, category="0501", reporter="RLS 测试")
        ids.append(incidents.report_incident(demo_tx, demo_index, report).incident["id"])
    return mine, theirs, ids


def test_raw_reads_as_the_scoped_role_see_only_the_scope(demo_tx: Session, reported) -> None:
    mine, _, (my_id, their_id) = reported
    db.scope.enter(demo_tx, Scope(codes=(mine[:12],)))
    seen = set(demo_tx.execute(text("SELECT id FROM incident")).scalars())
    assert my_id in seen and their_id not in seen
    assert all(
        code.startswith(mine[:12])
        for code in demo_tx.execute(text("SELECT village_code FROM incident")).scalars()
    )
    # The trail follows its incident; households and positions their grids.
    trail = set(demo_tx.execute(text("SELECT incident_id FROM incident_event")).scalars())
    assert my_id in trail and their_id not in trail
    villages = set(demo_tx.execute(text("SELECT DISTINCT village_code FROM household")).scalars())
    assert villages == {mine[:12]}


def test_storage_functions_given_everything_still_leak_nothing(demo_tx: Session, reported) -> None:
    mine, _, (my_id, their_id) = reported
    db.scope.enter(demo_tx, Scope(codes=(mine,)))
    assert db.incidents.get(demo_tx, their_id, EVERYTHING) is None  # the first layer "forgot"
    assert db.incidents.get(demo_tx, my_id, EVERYTHING) is not None
    total, rows = db.incidents.search(demo_tx, EVERYTHING, limit=1000)
    assert {r.id for r in rows} == {r.id for r in rows if r.grid_code == mine}
    assert total == len(rows)


def test_no_scope_set_means_nothing(demo_tx: Session, reported) -> None:
    demo_tx.execute(text("SELECT set_config('role', 'gridmap_scoped', true)"))
    for table in ("incident", "incident_event", "household", "worker", "worker_position"):
        assert demo_tx.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table


def test_writes_outside_the_scope_are_refused(demo_tx: Session, reported) -> None:
    mine, theirs, (_, their_id) = reported
    db.scope.enter(demo_tx, Scope(codes=(mine[:12],)))
    changed = demo_tx.execute(
        text("UPDATE incident SET description = 'x' WHERE id = :id"), {"id": their_id}
    )
    assert changed.rowcount == 0  # invisible rows cannot be updated
    with (
        pytest.raises(sqlalchemy.exc.ProgrammingError, match="row-level security"),
        demo_tx.begin_nested(),
    ):
        demo_tx.execute(
            text("UPDATE incident SET grid_code = :g WHERE grid_code = :m"),
            {"g": theirs, "m": mine},  # moving a row out of the scope is refused too
        )


def test_the_scoped_role_cannot_read_accounts_or_rewrite_the_audit_log(demo_tx: Session) -> None:
    db.audit.append(demo_tx, [{"actor": "t", "role": "viewer", "action": "read", "resource": "x"}])
    db.scope.enter(demo_tx, EVERYTHING)
    for statement in (
        "SELECT password_hash FROM account",
        "SELECT token_hash FROM refresh_token",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ):
        with (
            pytest.raises(sqlalchemy.exc.ProgrammingError, match="permission denied"),
            demo_tx.begin_nested(),
        ):
            demo_tx.execute(text(statement))
    assert demo_tx.execute(text("SELECT count(*) FROM audit_log")).scalar_one() >= 1


def test_nobody_rewrites_the_audit_log_not_even_its_owner(demo_tx: Session) -> None:
    db.audit.append(demo_tx, [{"actor": "t", "role": "viewer", "action": "read", "resource": "x"}])
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with (
            pytest.raises(sqlalchemy.exc.ProgrammingError, match="append-only"),
            demo_tx.begin_nested(),
        ):
            demo_tx.execute(text(statement))
