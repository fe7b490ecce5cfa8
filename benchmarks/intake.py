"""Benchmark: incident intake over HTTP (locate + assign + persist + audit), and retries.

One uvicorn worker serves the real app on loopback over the demo database. Two phases:

1. Throughput: ``wrk`` POSTs reports in GCJ-02 (as phones send them), each with a fresh
   Idempotency-Key and a bearer token from a real login, alternating in rounds with the same
   without a token (the server runs in benchmark mode, where that is allowed); then
   ``/health``, with the same settings in the same run.
2. Retries: an asyncio client sends reports the way a phone on a bad network does: some
   requests are cut off by a client timeout and resent, some are sent twice at once, and
   409 "in progress" answers are retried. Afterwards every key must have exactly one incident
   (0 lost, 0 duplicated), checked in the database.

Every row the benchmark writes carries its run's key prefix and is deleted at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.locate import BENCH_ENV, drive, drive_script, interleaved, lua_headers
from benchmarks.login import bench_account, login, retire
from gridmap import crs, db
from tests.servers import free_port, start_server

WRK_POST = """
local bodies = {%s}
local run = "%s"
local headers = %s
headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  headers["Idempotency-Key"] = run .. n
  return wrk.format("POST", "/api/v1/incidents", headers, bodies[n %% #bodies + 1])
end
"""
CATEGORIES = ("0501", "0601", "0603", "0402", "0403", "0101", "0701")


def sample_bodies(session: Session, county: str, count: int, seed: int) -> list[str]:
    """JSON report bodies at household locations, converted to GCJ-02 like a phone's map app."""
    households = db.households.read(session, county=county)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(households), size=min(count, len(households)), replace=False)
    lon = households["lon"].to_numpy()[picks]
    lat = households["lat"].to_numpy()[picks]
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    return [
        json.dumps(
            {
                "lon": round(float(x), 7),
                "lat": round(float(y), 7),
                "crs": "gcj02",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "description": "基准测试上报",
                "reporter": f"bench-{i % 50}",
                "gps_accuracy_m": 8.0,
            },
            ensure_ascii=False,
        )
        for i, (x, y) in enumerate(zip(glon, glat, strict=True))
    ]


async def retry_storm(
    base: str,
    bodies: list[str],
    prefix: str,
    *,
    reports: int,
    concurrency: int,
    seed: int,
    bearer: dict[str, str],
) -> dict[str, Any]:
    """Send ``reports`` reports with retries and doubles; return what the client saw."""
    rng = random.Random(seed)
    seen = {"requests": 0, "timeouts": 0, "in_progress": 0, "replayed": 0, "created": 0}
    acked: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(reports):
        queue.put_nowait(i)

    async def send(client: httpx.AsyncClient, key: str, body: str, timeout: float) -> int | None:
        seen["requests"] += 1
        try:
            response = await client.post(
                "/api/v1/incidents",
                content=body.encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": key, **bearer},
                timeout=timeout,
            )
        except httpx.TimeoutException:
            seen["timeouts"] += 1
            return None
        if response.status_code == 409:
            seen["in_progress"] += 1
            return None
        response.raise_for_status()
        if response.headers.get("Idempotent-Replayed") == "true":
            seen["replayed"] += 1
        else:
            seen["created"] += 1
        return int(response.json()["id"])

    async def phone(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            key, body = f"{prefix}{i}", bodies[i % len(bodies)]
            first_timeout = 0.003 if rng.random() < 0.2 else 10.0  # a cut-off first attempt
            if rng.random() < 0.1:  # the same report sent twice at once (a double tap)
                await asyncio.gather(send(client, key, body, 10.0), send(client, key, body, 10.0))
            found = await send(client, key, body, first_timeout)
            while found is None:
                await asyncio.sleep(0.02)
                found = await send(client, key, body, 10.0)
            acked[key] = found

    async with httpx.AsyncClient(base_url=base) as client:
        await asyncio.gather(*(phone(client) for _ in range(concurrency)))
    return {"reports": reports, "acknowledged": len(acked), **seen, "ids": acked}


def audit(session: Session, prefix: str, acked: dict[str, int]) -> dict[str, int]:
    """Lost (acknowledged but not stored, or stored under another id) and duplicated incidents."""
    rows = session.execute(
        text("SELECT idempotency_key, id FROM incident WHERE idempotency_key LIKE :p"),
        {"p": prefix + "%"},
    ).all()
    stored: dict[str, list[int]] = {}
    for key, incident_id in rows:
        stored.setdefault(key, []).append(int(incident_id))
    lost = sum(1 for key, i in acked.items() if stored.get(key) != [i])
    duplicated = sum(len(ids) - 1 for ids in stored.values())
    events = session.execute(
        text(
            "SELECT count(*) FROM incident_event e JOIN incident i ON i.id = e.incident_id "
            "WHERE i.idempotency_key LIKE :p AND e.action = 'report'"
        ),
        {"p": prefix + "%"},
    ).scalar_one()
    return {
        "stored": len(rows),
        "lost": lost,
        "duplicated": duplicated,
        "audit_rows": int(events),
    }


def clean(session: Session, prefix: str) -> int:
    """Delete the run's incidents (their audit rows cascade)."""
    result = session.execute(
        text("DELETE FROM incident WHERE idempotency_key LIKE :p"), {"p": prefix + "%"}
    )
    return int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for DELETE


def run(
    database_url: str,
    *,
    county: str = "513401",
    seconds: int = 10,
    connections: int = 16,
    reports: int = 2000,
    seed: int = 5,
) -> dict[str, Any]:
    """Measure intake and /health on one server, then the retry storm; clean up after."""
    engine = db.session.make_engine(database_url)
    run_id = uuid.uuid4().hex[:8]
    wrk_prefix, storm_prefix = f"bench-{run_id}-w-", f"bench-{run_id}-s-"
    with Session(engine) as session:
        bodies = sample_bodies(session, county, 2000, seed)
    if not bodies:
        raise RuntimeError(f"no households in {county}: run `gridmap demo` first")
    port = free_port()
    username, password = bench_account(database_url)
    server = start_server(database_url, port, env=BENCH_ENV)
    base = f"http://127.0.0.1:{port}"
    encoded = ", ".join(json.dumps(b, ensure_ascii=False) for b in bodies)
    anon_prefix = f"bench-{run_id}-a-"
    try:
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        rounds = itertools.count()

        def post(prefix: str, headers: dict[str, str] | None) -> dict[str, Any]:
            """One wrk run whose keys are new: each round has its own key prefix."""
            keys = f"{prefix}{next(rounds)}-"
            script = WRK_POST % (encoded, keys, lua_headers(headers))
            return drive_script(base, script, seconds=seconds, connections=connections)

        # The warm-up has its own prefix: not counted, still cleaned up.
        warm = WRK_POST % (encoded, f"bench-{run_id}-u-", lua_headers(bearer))
        drive_script(base, warm, seconds=2, connections=connections)  # warm up, like locate
        intake, anonymous = interleaved(
            lambda: post(wrk_prefix, bearer), lambda: post(anon_prefix, None)
        )
        trivial = drive(base, ["/health"], seconds=seconds, connections=connections)
        started = time.perf_counter()
        storm = asyncio.run(
            retry_storm(
                base,
                bodies,
                storm_prefix,
                reports=reports,
                concurrency=32,
                seed=seed,
                bearer=bearer,
            )
        )
        storm_s = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
        retire(database_url, username)
    with Session(engine) as session, session.begin():
        written = session.execute(
            text("SELECT count(*) FROM incident WHERE idempotency_key LIKE :p"),
            {"p": wrk_prefix + "%"},
        ).scalar_one()
        checked = audit(session, storm_prefix, storm.pop("ids"))
        removed = clean(session, f"bench-{run_id}-")
    engine.dispose()
    return {
        "workers": 1,
        "connections": connections,
        "seconds": seconds,
        "intake": {**intake, "rows_written": int(written)},
        "anonymous": anonymous,
        "vs_anonymous": round(intake["rps"] / anonymous["rps"], 3),
        "p99_vs_anonymous": round(intake["p99_ms"] / anonymous["p99_ms"], 3),
        "trivial": trivial,
        "vs_trivial": round(intake["rps"] / trivial["rps"], 3),
        "intake_p99_ms": intake["p99_ms"],
        "retries": {**storm, **checked, "seconds": round(storm_s, 1)},
        "lost": checked["lost"],
        "duplicated": checked["duplicated"],
        "cleaned_rows": removed,
    }
