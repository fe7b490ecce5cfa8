"""A database outage seen by a real server: every backend of its database is terminated (as a
PostgreSQL restart or failover does to them) while phones keep reporting. Requests answer 201
or 503 with Retry-After, never 500; retries with the same Idempotency-Key store each report
exactly once; the server recovers by itself."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests import identities
from tests.servers import serving


@pytest.fixture(scope="module")
def server(demo_copy):
    with demo_copy() as url, serving(url) as base:
        yield base, url


def report(http: httpx.Client, point: dict, key: str) -> list[int]:
    """Send one report until it is acknowledged (at most 20 tries); the statuses seen."""
    statuses = []
    for _ in range(20):
        answer = http.post("/api/v1/incidents", json=point, headers={"Idempotency-Key": key})
        statuses.append(answer.status_code)
        if answer.status_code == 503:
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.json()["code"] == "DatabaseUnavailableError"
        if answer.status_code == 201:
            break
    return statuses


def terminate_backends(url: str) -> int:
    """Kill every other connection to ``url``'s database; how many there were."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
        )


def test_terminated_connections_cost_503s_not_500s_nor_reports(server) -> None:
    base, url = server
    with httpx.Client(base_url=base, timeout=30, headers=identities.bearer(url)) as http:
        grid = http.get("/api/v1/units", params={"level": "grid", "limit": 1}).json()
        lon, lat = grid["features"][0]["geometry"]["coordinates"][0][0][0]
        centre = http.get("/api/v1/units/" + grid["features"][0]["properties"]["code"]).json()
        point = {"lon": lon, "lat": lat, "category": "0501"}
        if "centroid" in centre.get("properties", {}):
            point["lon"], point["lat"] = centre["properties"]["centroid"]
        keys = [f"outage-{uuid.uuid4()}" for _ in range(30)]
        assert report(http, point, keys[0])[-1] == 201
        seen: list[int] = []
        for n, key in enumerate(keys[1:]):
            if n % 10 == 0:
                assert terminate_backends(url) > 0
            seen += report(http, point, key)
            assert http.get("/api/v1/incidents", params={"limit": 1}).status_code in (200, 503)
        assert set(seen) <= {201, 503}, seen
        listed = http.get("/api/v1/incidents", params={"limit": 1}).status_code
        assert listed == 200  # recovered without a restart
    with psycopg.connect(url.replace("+psycopg", "")) as check:
        stored = check.execute(
            "SELECT idempotency_key, count(*) FROM incident WHERE idempotency_key = ANY(%s) "
            "GROUP BY 1",
            (keys,),
        ).fetchall()
    assert len(stored) == len(keys) and all(count == 1 for _, count in stored)
