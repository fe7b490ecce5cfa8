"""Benchmark: single-point GET /locate over HTTP, authenticated, next to the same server's
unauthenticated locate and its trivial endpoint.

One uvicorn worker serves the real app on loopback; ``wrk`` (Debian package) drives it with a
rotating set of points inside the demo county, first with a bearer token from a real login,
and without one (the server runs in benchmark mode, where that is allowed) in alternating
rounds, then ``/health``, with the same settings, in the same run. Reported: requests/s and
latency percentiles of each (medians over the rounds), and their ratios.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

import shapely

# One way to start a real server, shared with the tests (benchmarks run from the checkout).
from benchmarks.login import bench_account, login, retire
from tests.servers import free_port, start_server

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("JSON ", string.format(
    '{"p50_ms": %.3f, "p99_ms": %.3f, "requests": %d, "errors": %d, "non2xx": %d}',
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status), "\\n")
end
"""
WRK_GET = """
local paths = {%s}
local headers = %s
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], headers)
end
"""
# The server both benchmarks start: a known secret, and anonymous requests allowed (as a
# county admin of everything) so that one server is measured with and without tokens.
BENCH_ENV = {"GRIDMAP_BENCHMARK_ANONYMOUS": "true", "GRIDMAP_ESCALATE_EVERY_S": "0"}


def lua_headers(headers: dict[str, str] | None) -> str:
    """A Lua table literal of request headers."""
    pairs = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items())
    return "{" + pairs + "}"


def drive(
    url: str,
    paths: list[str],
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run wrk against ``paths`` (rotating GETs) and return rps and latency percentiles."""
    script = WRK_GET % (", ".join(json.dumps(p) for p in paths), lua_headers(headers))
    return drive_script(url, script, seconds=seconds, connections=connections)


def drive_script(url: str, script: str, *, seconds: int, connections: int) -> dict[str, Any]:
    """Run wrk with a Lua ``request`` script and return rps and latency percentiles."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError(
            "wrk is not installed: `apt-get install wrk` (or scripts/install-system.sh --bench)"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script + WRK_DONE)
    try:
        done = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", file.name, url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(file.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    detail = json.loads(done.stdout.split("JSON ", 1)[1].splitlines()[0])
    return {"rps": rps, **detail}


def interleaved(
    measure_a: Callable[[], dict[str, Any]],
    measure_b: Callable[[], dict[str, Any]],
    rounds: int = 3,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure A and B in alternating rounds (A B, B A, A B …) and return each one's median.

    One pair of back-to-back runs on a 2-core machine varies by ±15 %: whichever runs second
    meets a bigger table, a vacuum or a warmer cache. Alternating the order and taking the
    median of each figure cancels that drift, so the ratio of A to B measures A and B.
    """
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for n in range(rounds):
        order = [("a", measure_a), ("b", measure_b)]
        for name, measure in order if n % 2 == 0 else order[::-1]:
            runs[name].append(measure())
    a, b = (_median_of(runs[name]) for name in ("a", "b"))
    return a, b


def _median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric figure of ``results``; counts are summed."""
    summed = {"requests", "errors", "non2xx"}
    out: dict[str, Any] = {}
    for key in results[0]:
        values = [r[key] for r in results]
        out[key] = sum(values) if key in summed else round(median(values), 3)
    out["rounds"] = len(results)
    return out


def run(
    database_url: str,
    county: shapely.Geometry,
    *,
    seconds: int = 10,
    connections: int = 16,
    seed: int = 3,
) -> dict[str, Any]:
    """Measure /locate and /health on the same server in one run."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = county.bounds
    lon, lat = rng.uniform(minx, maxx, 4000), rng.uniform(miny, maxy, 4000)
    inside = shapely.contains_xy(county, lon, lat)
    paths = [
        f"/api/v1/locate?lon={x:.6f}&lat={y:.6f}"
        for x, y in zip(lon[inside][:1000], lat[inside][:1000], strict=True)
    ]
    port = free_port()
    username, password = bench_account(database_url)
    server = start_server(database_url, port, env=BENCH_ENV)
    base = f"http://127.0.0.1:{port}"
    try:
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        drive(base, paths[:50], seconds=2, connections=connections, headers=bearer)  # warm up
        locate, anonymous = interleaved(
            lambda: drive(base, paths, seconds=seconds, connections=connections, headers=bearer),
            lambda: drive(base, paths, seconds=seconds, connections=connections),
        )
        trivial = drive(base, ["/health"], seconds=seconds, connections=connections)
        floor = drive(base, ["/livez"], seconds=seconds, connections=connections)
    finally:
        server.terminate()
        server.wait(timeout=10)
        retire(database_url, username)
    return {
        "workers": 1,
        "connections": connections,
        "seconds": seconds,
        "locate": locate,  # with a token: what every client does
        "anonymous": anonymous,  # the same server without one (benchmark mode)
        "vs_anonymous": round(locate["rps"] / anonymous["rps"], 3),
        "p99_vs_anonymous": round(locate["p99_ms"] / anonymous["p99_ms"], 3),
        "trivial": trivial,
        "vs_trivial": round(locate["rps"] / trivial["rps"], 3),
        # /health is an ordinary FastAPI route; /livez and the locate hot path are raw ASGI
        # (api/hotpath.py), so vs_raw_floor is what locating itself costs.
        "raw_floor": floor,
        "vs_raw_floor": round(locate["rps"] / floor["rps"], 3),
        "locate_p99_ms": locate["p99_ms"],
    }
