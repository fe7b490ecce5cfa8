"""RFC 9457 problem details: the one shape of every error body, and its OpenAPI entries.

Routes list the statuses they can answer with :func:`problems`; FastAPI then documents
``application/problem+json`` with the :class:`Problem` schema instead of its default
``HTTPValidationError``, which gridmap never sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"
REF_PREFIX = "#/components/schemas/"


class FieldProblem(BaseModel):
    """One refused request field (422 from request validation)."""

    loc: list[str | int] = Field(description="where: body / query / path, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An error: a stable ``code`` (the error class) to branch on, a Chinese ``title``, a
    ``detail`` naming the problem, and structured ``context`` or per-field ``errors``.
    """

    type: str = "about:blank"
    title: str = Field(description="Chinese title / 中文标题, e.g. 坐标超出范围")
    status: int
    detail: str
    code: str = Field(description="the error class, e.g. OutsideCoverageError")
    context: dict[str, Any] | None = None
    errors: list[FieldProblem] | None = None


STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request / 请求错误",
    401: "not logged in, or the token expired or was revoked / 未登录或登录已失效",
    403: "your role may not do this (or separation of duties) / 无权进行此操作",
    404: "unknown code or id, or outside every boundary / 不存在或不在范围内",
    409: "conflict with the current state (stage, version, idempotency key) / 状态冲突",
    413: "payload too large / 请求过大",
    422: "invalid input, named field by field / 输入无效",
    429: "too many requests or failed logins; see Retry-After / 请求过于频繁",
    503: "database unavailable / 数据库不可用",
}


def problems(*statuses: int, notes: Mapping[int, str] | None = None) -> dict[int | str, Any]:
    """OpenAPI ``responses`` entries for ``statuses``, each a problem+json :class:`Problem`;
    ``notes`` says what the status means on this route (else the generic description).

    The schema is referenced, not passed as ``model``: FastAPI would file a model under
    ``application/json``, the one media type these bodies never have.
    """
    notes = notes or {}
    return {
        status: {
            "description": notes.get(status, STATUS_DESCRIPTIONS[status]),
            "content": {PROBLEM_JSON: {"schema": {"$ref": f"{REF_PREFIX}Problem"}}},
        }
        for status in statuses
    }


def problem_components() -> dict[str, Any]:
    """OpenAPI component schemas of :class:`Problem` and what it references."""
    schema = Problem.model_json_schema(ref_template=REF_PREFIX + "{model}")
    nested: dict[str, Any] = schema.pop("$defs", {})
    return {"Problem": schema, **nested}


# Schemas of bodies that are not JSON: files, tiles, pages.
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
TEXT: dict[str, Any] = {"schema": {"type": "string"}}

# Every route: a body that is not JSON, request validation, the database being down.
COMMON = problems(400, 401, 403, 422, 429, 503)
