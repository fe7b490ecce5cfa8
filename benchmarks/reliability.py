"""``make reliability``: the proofs of issue 12, measured on the demo database, written by this
command to ``docs/reliability.md`` and ``benchmarks/results/reliability.json``.

(a) sustained intake load on loopback: errors and p99;
(b) PostgreSQL restarted (``pg_ctl restart -m fast``) in the middle of reporting: every
    acknowledged report stored once, the recovery time;
(c) ``gridmap grids generate`` and ``gridmap import`` killed with SIGKILL half way: no partial
    generation, the next run succeeds;
(d) the long schemathesis run: 0 server errors;
(e) ``gridmap db backup`` / ``restore`` round trip: equal counts and checksums, the same
    ``/locate`` answers from both databases.

(f) two API worker processes under locate load while ``gridmap grids generate`` writes a new
    generation: both reload the index, and no request fails meanwhile;
(g) one account's rate limit across two API worker processes.

Run ``python -m benchmarks.reliability [--load-seconds N] [--fuzz-examples N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.intake import WRK_POST, sample_bodies
from benchmarks.locate import BENCH_ENV, drive_script, lua_headers
from benchmarks.login import bench_account, login, retire
from gridmap import db
from gridmap.db import backup
from gridmap.settings import Settings
from tests.servers import free_port, start_server

REPO = Path(__file__).resolve().parents[1]
COUNTY = "513401"


def load(base: str, bodies: list[str], bearer: dict[str, str], seconds: int) -> dict[str, Any]:
    """(a) wrk POSTs reports for ``seconds`` at 16 connections (the server saturated)."""
    prefix = f"rel-a-{uuid.uuid4().hex[:8]}-"
    encoded = ", ".join(json.dumps(b, ensure_ascii=False) for b in bodies)
    script = WRK_POST % (encoded, prefix, lua_headers(bearer))
    result = drive_script(base, script, seconds=seconds, connections=16)
    return {"seconds": seconds, "prefix": prefix, **result}


async def _reports_through_a_restart(
    base: str,
    bodies: list[str],
    bearer: dict[str, str],
    cluster: db.cluster.Cluster,
    *,
    reports: int,
    restart_after: int,
) -> dict[str, Any]:
    """(b) 16 phones send ``reports`` reports, each retried with its key until acknowledged;
    the cluster is restarted once ``restart_after`` reports are acknowledged.
    """
    prefix = f"rel-b-{uuid.uuid4().hex[:8]}-"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(reports):
        queue.put_nowait(i)
    acked: dict[str, int] = {}
    statuses: dict[str, int] = {}
    marks: dict[str, float] = {}
    restarted = asyncio.Event()

    async def restart() -> None:
        while len(acked) < restart_after:
            await asyncio.sleep(0.01)
        marks["restart_begin"] = time.monotonic()
        await asyncio.to_thread(db.cluster.restart, cluster)
        marks["restart_end"] = time.monotonic()
        restarted.set()

    async def phone(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            key = f"{prefix}{i}"
            for _ in range(600):  # at most about a minute of retries per report
                try:
                    answer = await client.post(
                        "/api/v1/incidents",
                        content=bodies[i % len(bodies)].encode(),
                        headers={"Content-Type": "application/json", "Idempotency-Key": key},
                        timeout=10,
                    )
                    status = str(answer.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                statuses[status] = statuses.get(status, 0) + 1
                if status == "201":
                    acked[key] = int(answer.json()["id"])
                    if restarted.is_set() and "first_ack_after" not in marks:
                        marks["first_ack_after"] = time.monotonic()
                    break
                await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=base, headers=bearer) as client:
        await asyncio.gather(restart(), *(phone(client) for _ in range(16)))
    return {
        "prefix": prefix,
        "reports": reports,
        "acknowledged": len(acked),
        "statuses": statuses,
        "restart_s": round(marks["restart_end"] - marks["restart_begin"], 2),
        "recovery_s": round(marks.get("first_ack_after", float("nan")) - marks["restart_begin"], 2),
        "ids": acked,
    }


def stored_once(session: Session, prefix: str, acked: dict[str, int]) -> dict[str, int]:
    """Acknowledged keys missing from the database, and keys stored more than once."""
    rows = session.execute(
        text(
            "SELECT idempotency_key, count(*), min(id) FROM incident "
            "WHERE idempotency_key LIKE :p GROUP BY 1"
        ),
        {"p": prefix + "%"},
    ).all()
    found = {key: (int(n), int(first)) for key, n, first in rows}
    lost = sum(1 for key, id_ in acked.items() if found.get(key, (0, -1))[1] != id_)
    return {"stored": len(found), "lost": lost, "duplicated": sum(n > 1 for n, _ in found.values())}


def _counts(url: str) -> dict[str, int]:
    """Generations, units and the county's current grids: what a partial write would change."""
    engine = db.session.make_engine(url)
    with engine.connect() as conn:
        found = {
            "generations": conn.execute(text("SELECT count(*) FROM generation")).scalar_one(),
            "units": conn.execute(text("SELECT count(*) FROM unit")).scalar_one(),
            "cells": conn.execute(text("SELECT count(*) FROM cell_index")).scalar_one(),
            "current_grids": conn.execute(
                text(
                    "SELECT count(*) FROM unit WHERE level = 'grid' "
                    "AND generation_high IS NULL AND county_code = :c"
                ),
                {"c": COUNTY},
            ).scalar_one(),
        }
    engine.dispose()
    return {k: int(v) for k, v in found.items()}


def _killed(url: str, label: str, full: list[str], killed: list[str]) -> dict[str, Any]:
    """Run ``full`` to measure it, then ``killed`` with SIGKILL half way through a run of that
    length, then ``killed`` again; the counts after each and whether the rerun succeeded.
    """
    env = {**os.environ, "DATABASE_URL": url}
    gridmap = [sys.executable, "-m", "gridmap"]
    started = time.monotonic()
    first = subprocess.run(gridmap + full, env=env, capture_output=True, text=True, check=False)
    full_s = time.monotonic() - started
    if first.returncode != 0:
        raise RuntimeError(first.stderr)
    after_full = _counts(url)
    process = subprocess.Popen(
        gridmap + killed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(full_s / 2)  # half way through a run of measured length: a real fault, not a tick
    process.send_signal(signal.SIGKILL)
    process.wait()
    after_kill = _counts(url)
    rerun = subprocess.run(gridmap + killed, env=env, capture_output=True, text=True, check=False)
    after_rerun = _counts(url)
    return {
        "command": label,
        "full_run_s": round(full_s, 1),
        "killed_after_s": round(full_s / 2, 1),
        "after_full_run": after_full,
        "after_kill": after_kill,
        "after_rerun": after_rerun,
        "no_partial_generation": after_kill == after_full,
        "rerun_ok": rerun.returncode == 0
        and after_rerun["generations"] == after_full["generations"] + 1,
    }


def killed_writes(url: str) -> list[dict[str, Any]]:
    """(c) SIGKILL half way through ``gridmap grids generate`` and through ``gridmap import``
    of the county's 1,053 grids (renamed, so every one is replaced); the names are put back
    after.
    """
    generate = ["grids", "generate", "--county", COUNTY]
    found = [_killed(url, "gridmap grids generate", generate, generate)]
    engine = db.session.make_engine(url)
    with Session(engine) as session:
        grids = db.units.read(session, level="grid", county=COUNTY)[["code", "name", "geometry"]]
    engine.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, suffix in (("a", " 甲"), ("b", " 乙"), ("original", "")):
            renamed = grids.assign(name=grids["name"] + suffix)
            files[label] = str(Path(tmp) / f"grids_{label}.gpkg")
            renamed.to_file(files[label])
        found.append(
            _killed(
                url,
                "gridmap import --level grid (1,053 grids)",
                ["import", "--level", "grid", files["a"]],
                ["import", "--level", "grid", files["b"]],
            )
        )
        subprocess.run(
            [sys.executable, "-m", "gridmap", "import", "--level", "grid", files["original"]],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            check=True,
        )
    return found


async def _two_workers_through_a_generation(url: str) -> dict[str, Any]:
    """(f) 8 clients send GET /locate to a 2-worker server, and /health/db is sampled, while a
    new generation is written; which generation each worker process served, and the answers.
    """
    port = free_port()
    username, password = bench_account(url)
    server = start_server(url, port, env=BENCH_ENV, workers=2)
    base = f"http://127.0.0.1:{port}"
    rng = np.random.default_rng(5)
    points = list(zip(rng.uniform(102.1, 102.4, 200), rng.uniform(27.7, 28.0, 200), strict=True))
    statuses: dict[str, int] = {}
    served: dict[int, set[int]] = {}
    done = asyncio.Event()
    try:
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        # No kept-alive connections: each request may land on either worker process.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base, headers=bearer, timeout=30, limits=no_reuse
        ) as client:

            async def hammer(n: int) -> None:
                while not done.is_set():
                    x, y = points[n % len(points)]
                    n += 8
                    answer = await client.get("/api/v1/locate", params={"lon": x, "lat": y})
                    key = str(answer.status_code)
                    statuses[key] = statuses.get(key, 0) + 1

            async def sample() -> None:
                while not done.is_set():  # a new connection each time: either worker answers
                    ready = (await client.get("/health/db", headers={"Connection": "close"})).json()
                    served.setdefault(ready["worker"], set()).add(ready["index_generation"])
                    await asyncio.sleep(0.2)

            async def regenerate() -> dict[str, Any]:
                before = {w: max(g) for w, g in served.items()}
                command = [sys.executable, "-m", "gridmap", "grids", "generate", "--county", COUNTY]
                process = await asyncio.create_subprocess_exec(
                    *command,
                    env={**os.environ, "DATABASE_URL": url},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                code = await process.wait()
                written = time.monotonic()
                engine = db.session.make_engine(url)
                with engine.connect() as conn:
                    newest = int(conn.execute(text("SELECT max(id) FROM generation")).scalar_one())
                engine.dispose()
                while (
                    not (len(served) >= 2 and all(newest in gens for gens in served.values()))
                    and time.monotonic() - written < 60
                ):
                    await asyncio.sleep(0.2)
                reloaded = time.monotonic() - written
                await asyncio.sleep(1)  # a last second of load on the new index
                done.set()
                return {"rc": code, "newest": newest, "before": before, "reload_s": reloaded}

            tasks = [asyncio.create_task(hammer(n)) for n in range(8)]
            sampler = asyncio.create_task(sample())
            await asyncio.sleep(2)  # both workers seen serving the old generation first
            result = await regenerate()
            await asyncio.gather(*tasks, sampler)
    finally:
        server.terminate()
        server.wait(timeout=20)
        retire(url, username)
    return {
        "workers_seen": len(served),
        "generations_served": {str(w): sorted(g) for w, g in served.items()},
        "generate_rc": result["rc"],
        "newest_generation": result["newest"],
        "all_reloaded": len(served) >= 2 and all(result["newest"] in g for g in served.values()),
        "reload_s": round(result["reload_s"], 1),
        "statuses": statuses,
    }


RATE_LIMIT = 300  # requests a minute of (g)'s account
RATE_PACE = 60  # requests a second (g) sends: twice the limit over its run
RATE_SECONDS = 10


async def _one_rate_across_workers(url: str) -> dict[str, Any]:
    """(g) An account limited to RATE_LIMIT a minute sends RATE_PACE requests a second for
    RATE_SECONDS to a 2-worker server, each on a new connection (so either worker answers): how
    many pass. Counted per process, up to twice the limit would; shared, the limit plus what
    the other worker accepts before its next sync (about a second).
    """
    port = free_port()
    username, password = bench_account(url, rate=RATE_LIMIT)
    server = start_server(url, port, env=BENCH_ENV, workers=2)
    base = f"http://127.0.0.1:{port}"
    statuses: dict[str, int] = {}
    try:
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base, headers=bearer, timeout=30, limits=no_reuse
        ) as client:

            async def ask() -> None:
                answer = await client.get("/api/v1/auth/me")
                statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1

            start = time.monotonic()
            sent: list[asyncio.Task[None]] = []
            for n in range(RATE_PACE * RATE_SECONDS):
                await asyncio.sleep(max(0.0, start + n / RATE_PACE - time.monotonic()))
                sent.append(asyncio.create_task(ask()))
            await asyncio.gather(*sent)
    finally:
        server.terminate()
        server.wait(timeout=20)
        retire(url, username)
    return {
        "limit_per_minute": RATE_LIMIT,
        "sent": RATE_PACE * RATE_SECONDS,
        "seconds": RATE_SECONDS,
        "statuses": statuses,
        "accepted": statuses.get("200", 0),
        "within": statuses.get("200", 0) <= RATE_LIMIT + RATE_PACE,
    }


def fuzz(examples: int) -> dict[str, Any]:
    """(d) the fuzz test of ``make test`` with ``examples`` cases per operation."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/api/test_fuzz.py",
        ],
        cwd=REPO,
        env={**os.environ, "FUZZ_EXAMPLES": str(examples)},
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"fuzz: (\d+) cases over (\d+) operations", done.stdout)
    return {
        "examples_per_operation": examples,
        "cases": int(found.group(1)) if found else 0,
        "operations": int(found.group(2)) if found else 0,
        "passed": done.returncode == 0,
        "seconds": round(time.monotonic() - started, 1),
        "failures": "" if done.returncode == 0 else done.stdout[-4000:],
    }


def backup_round_trip(url: str, bin_dir: Path) -> dict[str, Any]:
    """(e) dump, restore into a new database, compare tables and /locate answers."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "gridmap.dump"
        started = time.monotonic()
        size = backup.dump(url, file, bin_dir)
        dumped_s = time.monotonic() - started
        target = url.rsplit("/", 1)[0] + f"/reliability_{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        backup.restore(file, target, bin_dir)
        restored_s = time.monotonic() - started
    try:
        before, after = backup.checksums(url), backup.checksums(target)
        differing = sorted(t for t in before if before[t] != after.get(t))
        answers = [_locate_answers(u) for u in (url, target)]
    finally:
        admin = backup.libpq_url(target.rsplit("/", 1)[0] + "/postgres")
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')
    return {
        "bytes": size,
        "dump_s": round(dumped_s, 1),
        "restore_s": round(restored_s, 1),
        "tables": len(before),
        "rows": sum(n for n, _ in before.values()),
        "differing_tables": differing,
        "locate_points": len(answers[0]),
        "locate_differences": sum(a != b for a, b in zip(*answers, strict=True)),
    }


def _locate_answers(url: str, points: int = 300) -> list[Any]:
    """/locate answers for the same ``points`` seeded points in the county's bounding box."""
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(101.9, 102.5, points), rng.uniform(27.6, 28.2, points)
    port = free_port()
    username, password = bench_account(url)
    server = start_server(url, port, env=BENCH_ENV)
    try:
        base = f"http://127.0.0.1:{port}"
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        with httpx.Client(base_url=base, headers=bearer, timeout=30) as client:
            return [
                client.get("/api/v1/locate", params={"lon": x, "lat": y}).json()
                for x, y in zip(lon, lat, strict=True)
            ]
    finally:
        server.terminate()
        server.wait(timeout=10)
        retire(url, username)


def run(load_seconds: int, fuzz_examples: int) -> dict[str, Any]:
    """Every proof on the demo database; the figures as one dict."""
    settings = Settings()
    url = db.cluster.database_url(settings)
    cluster = None if settings.database_url else db.cluster.for_settings(settings)
    engine = db.session.make_engine(url)
    with Session(engine) as session:
        bodies = sample_bodies(session, COUNTY, 2000, seed=7)
    port = free_port()
    username, password = bench_account(url)
    server = start_server(url, port, env=BENCH_ENV)
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        bearer = {"Authorization": f"Bearer {login(base, username, password)}"}
        figures["a_load"] = load(base, bodies, bearer, load_seconds)
        if cluster is not None:
            figures["b_restart"] = asyncio.run(
                _reports_through_a_restart(
                    base, bodies, bearer, cluster, reports=3000, restart_after=1000
                )
            )
        else:
            figures["b_restart"] = {"skipped": "DATABASE_URL: no private cluster to restart"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        retire(url, username)
    with Session(engine) as session:
        figures["a_load"]["rows_written"] = int(
            session.execute(
                text("SELECT count(*) FROM incident WHERE idempotency_key LIKE :p"),
                {"p": figures["a_load"].pop("prefix") + "%"},
            ).scalar_one()
        )
        if "ids" in figures["b_restart"]:
            b = figures["b_restart"]
            b.update(stored_once(session, b.pop("prefix"), b.pop("ids")))
    engine.dispose()
    figures["c_kill"] = killed_writes(url)
    figures["d_fuzz"] = fuzz(fuzz_examples)
    figures["e_backup"] = backup_round_trip(url, db.cluster.find_bin_dir(settings.pg_bin))
    figures["f_workers"] = asyncio.run(_two_workers_through_a_generation(url))
    figures["g_rate"] = asyncio.run(_one_rate_across_workers(url))
    return figures


def report(figures: dict[str, Any]) -> str:
    """docs/reliability.md from the figures."""
    a, b, d, e, f = (figures[k] for k in ("a_load", "b_restart", "d_fuzz", "e_backup", "f_workers"))
    server_errors = sum(
        n for s, n in b.get("statuses", {}).items() if s.startswith("5") and s != "503"
    )
    lines = [
        "# Reliability",
        "",
        f"Written by `make reliability` on {figures['at']} (2 cores, the demo database: "
        "synthetic 西昌市, 1,053 grids). Do not edit by hand: run it again.",
        "",
        "| proof | figure | result |",
        "| --- | --- | --- |",
        f"| (a) intake load, {a['seconds']} s, 16 connections | {a['rps']:,.0f} req/s, "
        f"p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, {a['requests']:,} requests, "
        f"{a['rows_written']:,} rows | {a['errors']} errors, {a['non2xx']} non-2xx |",
    ]
    if "skipped" in b:
        lines.append(f"| (b) PostgreSQL restart mid-load | {b['skipped']} | not run |")
    else:
        lines.append(
            f"| (b) `pg_ctl restart -m fast` after {1000:,} of {b['reports']:,} reports | "
            f"restart {b['restart_s']} s, first 201 after it {b['recovery_s']} s after it began; "
            f"answers {json.dumps(b['statuses'])} | {b['acknowledged']:,} acknowledged, "
            f"{b['lost']} lost, {b['duplicated']} duplicated, {server_errors} × 5xx other than "
            "503 |"
        )
    for c in figures["c_kill"]:
        lines.append(
            f"| (c) SIGKILL half way ({c['killed_after_s']} s) through `{c['command']}` "
            f"({c['full_run_s']} s) | generations {c['after_full_run']['generations']} → "
            f"{c['after_kill']['generations']} after the kill → "
            f"{c['after_rerun']['generations']} after a rerun; units "
            f"{c['after_full_run']['units']:,} → {c['after_kill']['units']:,} | partial "
            f"generation: {'no' if c['no_partial_generation'] else 'YES'}; rerun "
            f"{'succeeded' if c['rerun_ok'] else 'FAILED'} |"
        )
    lines += [
        f"| (d) schemathesis, {d['examples_per_operation']} cases per operation | {d['cases']:,} "
        f"cases over {d['operations']} operations in {d['seconds']} s | "
        f"{'0 server errors, 0 responses off their schema' if d['passed'] else 'FAILED'} |",
        f"| (e) `gridmap db backup` / `restore` | {e['bytes'] / 1e6:.1f} MB, dump "
        f"{e['dump_s']} s, restore {e['restore_s']} s, {e['tables']} tables, {e['rows']:,} "
        f"rows | tables differing: {len(e['differing_tables'])}; /locate differences: "
        f"{e['locate_differences']} of {e['locate_points']} |",
        f"| (f) 2 API workers under locate load while `grids generate` writes generation "
        f"{f['newest_generation']} | {f['workers_seen']} workers seen; generations served "
        f"{json.dumps(f['generations_served'])}; all on the new one {f['reload_s']} s after it "
        f"was committed; answers {json.dumps(f['statuses'])} | "
        f"{'both reloaded' if f['all_reloaded'] else 'NOT ALL RELOADED'}, "
        f"{sum(n for s, n in f['statuses'].items() if s != '200')} non-200 |",
    ]
    if "g_rate" in figures:
        g = figures["g_rate"]
        lines.append(
            f"| (g) one account limited to {g['limit_per_minute']} requests a minute sends "
            f"{g['sent']} in {g['seconds']} s to 2 API workers, a new connection each | "
            f"answers {json.dumps(g['statuses'])} (counted per process, up to "
            f"{2 * g['limit_per_minute']} would pass) | {g['accepted']} accepted: "
            f"{'the limit holds across workers' if g['within'] else 'LIMIT NOT SHARED'} |"
        )
    lines += [
        "",
        "How each is measured: `benchmarks/reliability.py` (its docstrings). The raw figures "
        "are in `benchmarks/results/reliability.json`.",
        "",
    ]
    if not d["passed"]:
        lines += ["## Fuzz failures", "", "```", d["failures"], "```", ""]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, write the report and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-seconds", type=int, default=300)
    parser.add_argument("--fuzz-examples", type=int, default=100)
    parser.add_argument("--only-f", action="store_true", help="run proof (f) alone, print it")
    for proof in "cg":
        parser.add_argument(
            f"--only-{proof}", action="store_true", help=f"rerun ({proof}) into the last report"
        )
    args = parser.parse_args()
    if args.only_f:
        url = db.cluster.database_url(Settings())
        sys.stdout.write(json.dumps(asyncio.run(_two_workers_through_a_generation(url))) + "\n")
        return
    results = REPO / "benchmarks/results/reliability.json"
    if args.only_c or args.only_g:  # rerun one proof into the report of the last full run
        url = db.cluster.database_url(Settings())
        figures = json.loads(results.read_text())
        if args.only_c:
            figures["c_kill"] = killed_writes(url)
        if args.only_g:
            figures["g_rate"] = asyncio.run(_one_rate_across_workers(url))
    else:
        figures = run(args.load_seconds, args.fuzz_examples)
    results.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    (REPO / "docs/reliability.md").write_text(report(figures))
    sys.stdout.write(report(figures))


if __name__ == "__main__":
    main()
