"""The HTTP test clients keep tests apart: what a test writes, no other test can see.

``client`` refuses writes, ``tx_client`` writes inside its test's transaction only, and
``own_client`` writes in a database nobody else opens (see tests/conftest.py).
"""

from __future__ import annotations

import pytest

import shapely
from shapely.geometry import shape

READ_ONLY = "read-only transaction"  # PostgreSQL's refusal under default_transaction_read_only
WORKER = {"county_code": "513401", "name": "隔离测试网格员"}


@pytest.fixture(scope="module")
def report(client) -> dict[str, object]:
    """A valid report (WGS84) well inside one of the demo's grids."""
    grid = client.get("/api/v1/units", params={"level": "grid", "limit": 1}).json()
    inner = shapely.buffer(shape(grid["features"][0]["geometry"]), -0.0003)
    point = inner.representative_point()
    return {"lon": point.x, "lat": point.y, "category": "0501", "description": "隔离测试"}


def test_the_shared_client_refuses_writes(client, report) -> None:
    """Through the app's sessions and through intake's pool alike."""
    with pytest.raises(Exception, match=READ_ONLY):
        client.post("/api/v1/workers", json=WORKER)
    with pytest.raises(Exception, match=READ_ONLY):
        client.post("/api/v1/incidents", json=report)


def test_a_transaction_client_writes_only_inside_its_transaction(tx_client, client, report):
    created = tx_client.post("/api/v1/workers", json=WORKER)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert tx_client.get(url).json()["name"] == WORKER["name"]
    assert client.get(url).status_code == 404  # not committed: no other connection sees it
    # Intake's pool cannot join the test's transaction: it stays on the read-only database.
    with pytest.raises(Exception, match=READ_ONLY):
        tx_client.post("/api/v1/incidents", json=report)


def test_an_own_client_writes_where_nobody_else_looks(own_client, client, report) -> None:
    created = own_client.post("/api/v1/incidents", json=report)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert own_client.get(url).json()["description"] == "隔离测试"
    assert client.get(url).status_code == 404
