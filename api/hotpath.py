"""The hottest paths as raw ASGI handlers: ``GET /api/v1/locate`` on the current index and
``POST /api/v1/incidents`` (JSON).

A phone's locate does ~40 µs of work; the framework around it (routing, request objects,
middleware layers) cost more than that. This middleware answers exactly those requests itself,
with the same functions, validation, errors and problem+json as the routes in
``api/routers/locate.py`` and ``api/routers/incidents.py`` (which stay, for the OpenAPI
documents and every other case), and hands everything else (``?generation=``, other content
types, large bodies) to the FastAPI app unchanged.
``GET /livez`` (liveness, a constant) is answered here too: a probe that never waits on the
framework, and the benchmarks' floor for what any request costs this server.

Both hot paths authenticate exactly as the routes do (``Guard.from_headers``: a dict hit once a
token has been seen, no database round trip).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import json_bytes
from api.errors import DATABASE_DOWN, database_down, problem_for
from api.routers.incidents import IncidentIn, intake
from api.routers.locate import locate_current
from gridmap import incidents
from gridmap.auth.access import Principal
from gridmap.errors import GridmapError

PATH = "/api/v1/locate"
INTAKE = "/api/v1/incidents"
MAX_INTAKE_BYTES = 256 * 1024  # larger reports go through the app (and its 413)
LIVENESS = "/livez"
JSON_HEADERS = [(b"content-type", b"application/json")]
ALIVE = b'{"status":"ok"}'


class HotPaths:
    """Answer locate (no ``generation``), JSON intake and ``/livez`` directly; pass the rest on."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the hot paths here; pass every other request to the app."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INTAKE:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"")
            json_body = headers.get(b"content-type", b"").startswith(b"application/json")
            if json_body and length.isdigit() and int(length) <= MAX_INTAKE_BYTES:
                principal = await self._principal(headers, "POST", scope, receive, send)
                if principal is not None:
                    await self._intake(headers, principal, scope, receive, send)
                return
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if scope["path"] == LIVENESS:
            await _json(send, ALIVE)
            return
        params = (
            dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            if scope["path"] == PATH
            else {}
        )
        if scope["path"] != PATH or "generation" in params:
            await self.app(scope, receive, send)
            return
        await self._locate(params, scope, receive, send)

    async def _locate(
        self, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """``GET /api/v1/locate`` on the current index, for a signed-in caller."""
        if await self._principal(dict(scope["headers"]), "GET", scope, receive, send) is None:
            return
        try:
            body = locate_current(self.state, params)
        except (GridmapError, RequestValidationError) as error:
            await problem_for(error)(scope, receive, send)
            return
        await _json(send, body)

    async def _principal(
        self, headers: dict[bytes, bytes], method: str, scope: Scope, receive: Receive, send: Send
    ) -> Principal | None:
        """The caller, or None after answering 401/403/429 (as the routes would)."""
        state = self.state
        try:
            principal: Principal = state.guard.from_headers(
                headers, method, state.clock(), state.sessions
            )
        except GridmapError as error:
            await problem_for(error)(scope, receive, send)
            return None
        return principal

    async def _intake(
        self,
        headers: dict[bytes, bytes],
        principal: Principal,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """``POST /api/v1/incidents``: validate like FastAPI would, then the shared intake."""
        raw = await _body(receive)
        key_bytes = headers.get(b"idempotency-key")
        key = key_bytes.decode("latin-1") if key_bytes is not None else None
        try:
            if key is not None and len(key) > incidents.MAX_KEY_LENGTH:
                raise RequestValidationError(
                    [
                        {
                            "loc": ("header", "idempotency-key"),
                            "msg": f"String should have at most {incidents.MAX_KEY_LENGTH} "
                            "characters",
                            "type": "string_too_long",
                        }
                    ]
                )
            try:
                body = IncidentIn.model_validate_json(raw)
            except ValidationError as error:
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
                ) from error
            incident, extra = await intake(self.state, body, key, principal)
        except (GridmapError, RequestValidationError) as error:
            await problem_for(error)(scope, receive, send)
            return
        except DATABASE_DOWN as error:
            await problem_for(database_down(error))(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await _json(send, json_bytes(incident), 201, raw_headers)


async def _body(receive: Receive) -> bytes:
    """The whole request body (it may arrive in several messages)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _json(
    send: Send, body: bytes, status: int = 200, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
