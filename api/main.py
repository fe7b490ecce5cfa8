"""The HTTP app: ``create_app(settings)`` assembles routers, the lifespan and error handling."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import install_error_handlers, problem
from api.hotpath import HotPaths
from api.routers import (
    audit,
    auth,
    exports,
    incidents,
    locate,
    maps,
    open311,
    qa,
    relocation,
    sites,
    units,
    workers,
)
from api.schemas.problem import problems
from api.security import VERSIONS_REFRESH_S, Guard, PrincipalDep, current_principal
from gridmap import __version__, db, lookup
from gridmap import incidents as cases
from gridmap.auth import rates
from gridmap.maps import ASSET_ROUTE
from gridmap.settings import Settings

MAX_BODY_BYTES = 20 * 1024 * 1024
logger = logging.getLogger("gridmap.api")


INDEX_REFRESH_S = 5.0


def _load_index(app: FastAPI) -> lookup.Index:
    with app.state.sessions() as session:
        index = lookup.load_index(session, resolution=app.state.settings.h3_resolution)
    lookup.warm(index, app.state.settings.near_boundary_m)
    # The index is long-lived: keep the cyclic GC from re-scanning it on every full collection,
    # which otherwise shows up as tens of milliseconds in the p99 of every endpoint.
    gc.collect()
    gc.freeze()
    return index


async def _refresh_index(app: FastAPI) -> None:
    """Reload the lookup index when another process (CLI, a plan) writes a new generation."""
    while True:
        await asyncio.sleep(INDEX_REFRESH_S)
        try:
            with app.state.sessions() as session:
                newest = await asyncio.to_thread(db.generations.current, session)
            if newest != app.state.index.generation:
                # Built whole, then swapped in one assignment: no request sees half an index.
                app.state.index = await asyncio.to_thread(_load_index, app)
        except Exception:  # e.g. PostgreSQL restarting: keep the old index, retry next round
            logger.exception("refreshing the lookup index failed")


async def _refresh_versions(app: FastAPI) -> None:
    """Reload accounts' token versions, so a disable anywhere stops tokens here within seconds."""
    while True:
        await asyncio.sleep(VERSIONS_REFRESH_S)
        try:
            await asyncio.to_thread(app.state.guard.load, app.state.sessions)
        except Exception:  # the next round retries; tokens keep their last known versions
            logger.exception("reloading token versions failed")


async def _sync_rates(app: FastAPI) -> None:
    """Share this process's rate-limit counts with the others (gridmap.auth.rates), every second."""
    while True:
        await asyncio.sleep(rates.SYNC_S)
        try:
            await asyncio.to_thread(rates_tick, app)
        except Exception:  # the hits stay pending; the next round writes them
            logger.exception("sharing rate-limit counts failed")


def rates_tick(app: FastAPI) -> None:
    """One round of sharing rate-limit counts at the app's clock (tests call it directly)."""
    app.state.guard.rates.sync(app.state.sessions, app.state.clock().timestamp())


def escalate_tick(app: FastAPI) -> int:
    """One round of the escalation schedule: every case overdue at the app's clock climbs one
    tier, in one transaction; returns how many did.

    The lifespan's loop calls this every ``escalate_every_s`` seconds; tests call it once
    (after moving ``app.state.clock``) instead of waiting for the loop to come round.
    """
    with app.state.sessions() as session, session.begin():
        return len(cases.escalate_overdue(session, now=app.state.clock()))


async def _escalate_overdue(app: FastAPI, every_s: float) -> None:
    """Escalate overdue cases one tier, on a schedule (the CLI does the same on demand)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(escalate_tick, app)
        except Exception:  # a failed round must not stop the schedule; the next one retries
            logger.exception("scheduled escalation failed")


class BodyLimit:
    """Refuse bodies over ``max_bytes``: from Content-Length before reading them, and for
    chunked bodies (no length) as the bytes arrive (pure ASGI).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse bodies over the limit with a 413 before the app reads them."""
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    response = problem(
                        413,
                        "PayloadTooLargeError",
                        f"request body of {int(value)} bytes exceeds the {self.max_bytes} byte "
                        "limit; split it into smaller batches",
                    )
                    await response(scope, receive, send)
                    return
            chunked = scope["method"] in ("POST", "PUT", "PATCH") and not any(
                name == b"content-length" for name, _ in scope["headers"]
            )
            if chunked:
                body = await self._read_chunked(receive)
                if body is None:
                    response = problem(
                        413,
                        "PayloadTooLargeError",
                        f"request body exceeds the {self.max_bytes} byte limit; split it into "
                        "smaller batches",
                    )
                    await response(scope, receive, send)
                    return
                receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_chunked(self, receive: Receive) -> bytes | None:
        """A body without Content-Length, read up to the limit; None once it is over."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands over an already read body first, then the real messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def create_app(settings: Settings | None = None, *, index: lookup.Index | None = None) -> FastAPI:
    """Assemble the HTTP app; tests and the CLI pass their own Settings.

    ``index``: a lookup index already loaded (and warmed) from this database's data, used
    instead of loading one at start-up (seconds). Tests give each test a copy of one demo
    database and its own app; the copies' index is the same, so it is loaded once.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = db.cluster.database_url(settings, must_run=False)
        engine = db.session.make_engine(url, pool_size=16, pre_ping=False)
        app.state.engine = engine
        app.state.sessions = db.session.sessionmaker_for(engine)
        # A given index was loaded from this data already: skip the seconds of loading it.
        app.state.index = index if index is not None else await asyncio.to_thread(_load_index, app)
        app.state.pool = await db.session.open_async_pool(url, size=8)
        await asyncio.to_thread(app.state.guard.load, app.state.sessions)
        tasks = [
            asyncio.create_task(_refresh_index(app)),
            asyncio.create_task(_refresh_versions(app)),
            asyncio.create_task(_sync_rates(app)),
        ]
        if settings.escalate_every_s > 0:
            tasks.append(asyncio.create_task(_escalate_overdue(app, settings.escalate_every_s)))
        yield
        for task in tasks:
            task.cancel()
        await app.state.pool.close()
        engine.dispose()

    app = FastAPI(
        title="gridmap 网格化管理",
        version=__version__,
        description="Boundaries, grids and point lookup for grassroots grid governance.",
        lifespan=lifespan,
        docs_url=None,  # served below from vendored assets: government networks are offline
        redoc_url=None,
        openapi_url=None,  # served below, to logged-in callers only
    )
    app.state.settings = settings
    app.state.time_bounds = settings.time_bounds()  # client times: gridmap.times
    app.state.guard = Guard(settings)
    if settings.benchmark_anonymous:
        logger.warning(
            "GRIDMAP_BENCHMARK_ANONYMOUS is on: requests without credentials act as a county "
            "admin of everything. Only `gridmap bench` may run a server like this."
        )
    app.state.clock = cases.now_utc  # tests swap in a controllable clock

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: PrincipalDep) -> JSONResponse:
        """The OpenAPI 3.1 document (for logged-in callers: it is a map of the system)."""
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, _: PrincipalDep) -> HTMLResponse:
        """Swagger UI 5 (reads OpenAPI 3.1) from the vendored files the map pages use too."""
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="gridmap API 接口文档",
            swagger_js_url=f"{root}{ASSET_ROUTE}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSET_ROUTE}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSET_ROUTE}/swagger-ui/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request, _: PrincipalDep) -> HTMLResponse:
        """ReDoc 2 from the vendored files; no Google Fonts, so nothing leaves the server."""
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title="gridmap API 接口文档",
            redoc_js_url=f"{root}{ASSET_ROUTE}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSET_ROUTE}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )

    @app.get("/health", tags=["health"], summary="Liveness / 存活检查")
    async def health() -> dict[str, str]:
        """Liveness: answers without touching the database (the trivial endpoint of benchmarks)."""
        return {"status": "ok"}

    @app.get(
        "/health/db", tags=["health"], summary="Readiness / 数据库就绪检查", responses=problems(503)
    )
    def health_db(request: Request) -> dict[str, Any]:
        """Readiness: the database answers and has PostGIS; which generation this worker
        process locates with (every worker should show the newest within seconds).
        """
        with request.app.state.engine.connect() as connection:
            version = connection.execute(text("SELECT postgis_lib_version()")).scalar_one()
        return {
            "status": "ok",
            "postgis": version,
            "index_generation": request.app.state.index.generation,
            "worker": os.getpid(),
        }

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(HotPaths, state=app.state)  # outermost: GET /locate skips the stack
    signed_in = [Depends(current_principal)]  # 401 without a valid token or session cookie
    for router in (
        units.router,
        locate.router,
        qa.router,
        incidents.router,
        workers.router,
        exports.router,
        audit.router,
        sites.router,
        relocation.router,
    ):
        app.include_router(router, prefix="/api/v1", dependencies=signed_in)
    app.include_router(auth.router, prefix="/api/v1")  # login itself is open; /me needs a token
    app.include_router(auth.pages)
    app.include_router(open311.router, prefix="/open311/v2")  # api_key or token, per route
    app.include_router(maps.router, dependencies=signed_in)  # map pages, tiles, vendored assets
    install_error_handlers(app)
    return app
