"""The hottest read, ``GET /api/v1/locate`` on the current index, as a raw ASGI handler.

A phone's locate does ~40 µs of work; the framework around it (routing, request objects,
middleware layers) cost more than that. This middleware answers exactly that request itself,
with the same function, errors and problem+json as the route in ``api/routers/locate.py``,
and hands everything else (including ``?generation=``) to the FastAPI app unchanged.
``GET /livez`` (liveness, a constant) is answered here too: a probe that never waits on the
framework, and the benchmarks' floor for what any request costs this server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import gridmap_problem, validation_problem
from api.routers.locate import locate_current
from gridmap.errors import GridmapError

PATH = "/api/v1/locate"
LIVENESS = "/livez"
JSON_HEADERS = [(b"content-type", b"application/json")]
ALIVE = b'{"status":"ok"}'


class HotPaths:
    """Answer ``GET /api/v1/locate`` (no ``generation``) directly; pass the rest on."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if scope["path"] == LIVENESS:
            await _json(send, ALIVE)
            return
        if scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        if "generation" in params:
            await self.app(scope, receive, send)
            return
        try:
            body = locate_current(self.state, params)
        except GridmapError as error:
            await gridmap_problem(error)(scope, receive, send)
            return
        except RequestValidationError as error:
            await validation_problem(error)(scope, receive, send)
            return
        await _json(send, body)


async def _json(send: Send, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
