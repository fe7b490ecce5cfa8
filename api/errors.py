"""The one table from gridmap errors to HTTP statuses, rendered as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
import psycopg_pool
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas.problem import PROBLEM_JSON, problem_components
from gridmap.errors import (
    ConcurrentUpdateError,
    CoordinateOutOfRangeError,
    DatabaseUnavailableError,
    DuplicateCodeError,
    ForbiddenError,
    GridmapError,
    HierarchyError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
    ImportFileError,
    InvalidCodeError,
    InvalidGeometryError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    OutsideCoverageError,
    PayloadTooLargeError,
    RateLimitedError,
    SeparationOfDutiesError,
    UnauthorizedError,
    UnknownCodeError,
    UnknownCRSError,
    UnknownGenerationError,
)

logger = logging.getLogger("gridmap.api")

STATUS_BY_ERROR: dict[type[GridmapError], int] = {
    DuplicateCodeError: 409,
    InvalidGeometryError: 422,
    CoordinateOutOfRangeError: 422,
    UnknownCRSError: 422,
    InvalidCodeError: 422,
    ImportFileError: 422,
    HierarchyError: 422,
    UnknownCodeError: 404,
    UnknownGenerationError: 404,
    OutsideCoverageError: 404,
    PayloadTooLargeError: 413,
    DatabaseUnavailableError: 503,
    InvalidInputError: 422,
    NotFoundError: 404,
    InvalidTransitionError: 409,
    ConcurrentUpdateError: 409,
    SeparationOfDutiesError: 403,
    IdempotencyKeyReusedError: 422,
    IdempotencyKeyInProgressError: 409,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    RateLimitedError: 429,
}
TITLES_ZH: dict[str, str] = {
    "InvalidGeometryError": "几何无效",
    "CoordinateOutOfRangeError": "坐标超出范围",
    "UnknownCRSError": "未知坐标系",
    "InvalidCodeError": "编码格式错误",
    "DuplicateCodeError": "编码重复",
    "ImportFileError": "文件无法导入",
    "HierarchyError": "上下级关系错误",
    "UnknownCodeError": "编码不存在",
    "UnknownGenerationError": "版本不存在",
    "OutsideCoverageError": "不在管辖范围内",
    "PayloadTooLargeError": "请求过大",
    "DatabaseUnavailableError": "数据库不可用",
    "InvalidInputError": "输入无效",
    "NotFoundError": "对象不存在",
    "InvalidTransitionError": "当前环节不允许此操作",
    "ConcurrentUpdateError": "案件已被他人更新",
    "SeparationOfDutiesError": "核查须由处置人以外的人员进行",
    "IdempotencyKeyReusedError": "幂等键已用于不同请求",
    "IdempotencyKeyInProgressError": "相同幂等键的请求正在处理",
    "UnauthorizedError": "未登录或登录已失效",
    "ForbiddenError": "无权进行此操作",
    "CSRFError": "缺少 CSRF 令牌",
    "RateLimitedError": "请求过于频繁",
    "AccountLockedError": "账号已临时锁定",
    "RequestValidationError": "请求参数错误",
    "HTTPException": "请求错误",
}


def status_for(error: GridmapError) -> int:
    """HTTP status of a gridmap error: the nearest class in the table, 400 if none."""
    return next((STATUS_BY_ERROR[c] for c in type(error).__mro__ if c in STATUS_BY_ERROR), 400)


def problem(status: int, code: str, detail: str, **extra: object) -> Response:
    """One problem+json body; ``code`` is stable (the error class name) for clients to branch on."""
    body = {
        "type": "about:blank",
        "title": TITLES_ZH.get(code, "错误"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)


def gridmap_problem(error: GridmapError) -> Response:
    """The problem+json answer to a gridmap error (its class decides the status)."""
    context = {k: v for k, v in error.context.items() if _jsonable(v)}
    response = problem(status_for(error), type(error).__name__, str(error), context=context)
    if isinstance(error, UnauthorizedError):
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridmap"'
    retry_after = error.context.get("retry_after_s")
    retrying = RateLimitedError | IdempotencyKeyInProgressError | DatabaseUnavailableError
    if isinstance(error, retrying) and isinstance(retry_after, int | float):
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def validation_problem(error: RequestValidationError) -> Response:
    """The problem+json answer to invalid request fields, one entry per field."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(422, "RequestValidationError", detail, errors=errors)


# A lost or refused database connection (PostgreSQL restarting, a failover, a full pool): the
# request did not happen or its outcome is unknown, so it is a 503 the client retries (with the
# same Idempotency-Key for writes), never a 500.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
)
DATABASE_RETRY_AFTER_S = 2


def database_down(error: Exception) -> DatabaseUnavailableError:
    """The 503 for a lost database connection; the driver's message goes to the log only."""
    logger.warning("database unavailable: %s", error)
    return DatabaseUnavailableError(
        "the database is unavailable (restarting or unreachable); retry shortly, with the same "
        "Idempotency-Key for a report",
        retry_after_s=DATABASE_RETRY_AFTER_S,
    )


def problem_for(error: GridmapError | RequestValidationError) -> Response:
    """The problem+json answer to either kind of refusal (for handlers outside FastAPI's)."""
    if isinstance(error, RequestValidationError):
        return validation_problem(error)
    return gridmap_problem(error)


def install_error_handlers(app: FastAPI) -> None:
    """Render gridmap errors, validation errors and HTTP errors as one problem+json shape."""

    async def on_gridmap_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, GridmapError)
        if isinstance(error, UnauthorizedError) and _is_page_visit(request):
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return gridmap_problem(error)

    async def on_validation_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return validation_problem(error)

    async def on_http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        response = problem(error.status_code, "HTTPException", str(error.detail))
        response.headers.update(error.headers or {})  # e.g. Allow on a 405 (RFC 9110)
        return response

    async def on_database_down(_: Request, error: Exception) -> Response:
        return gridmap_problem(database_down(error))

    app.add_exception_handler(GridmapError, on_gridmap_error)
    for kind in DATABASE_DOWN:
        app.add_exception_handler(kind, on_database_down)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Put the Problem schema, which routes reference for their errors, into /openapi.json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                problem_components()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_page_visit(request: Request) -> bool:
    """A browser opening a page (not a program calling the API): send it to the login form."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith(("/api/", "/open311/"))
    )


def _jsonable(value: object) -> bool:
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return False  # orjson cannot write it
    return isinstance(value, str | int | float | bool | list | dict | type(None))
