"""Bodies of the login, token and audit routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas import Public


class TokenOut(Public):
    """A login's or a refresh's answer (OAuth2 password flow, RFC 6749 §5.1)."""

    access_token: str
    token_type: str = Field(description="always bearer")
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="trade it at /auth/refresh; revocable, 14 days")
    role: str
    scope: list[str] | str = Field(description="codes the account sees, or * for everything")


class SessionOut(Public):
    """A cookie login's answer: send ``csrf_token`` as X-CSRF-Token on every write."""

    csrf_token: str
    expires_in: int
    role: str
    username: str


class Me(Public):
    """Who the token stands for."""

    user_id: int
    username: str
    role: str
    role_zh: str
    scope: list[str] | str
    report_scope: list[str] | str
    worker_id: int | None
    permissions: list[str]
    sees: list[str]


class AuditRow(Public):
    """One audit-log row: who did what, when, to what; the row before and after."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    resource: str
    resource_id: str | None
    county_code: str | None
    before: Any
    after: Any
    detail: Any


class AuditPage(Public):
    """One page of audit rows, newest first."""

    total: int
    limit: int
    offset: int
    items: list[AuditRow]
