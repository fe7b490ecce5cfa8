"""Logging in (登录): tokens for programs and phones, cookies for browser pages, and who am I.

``POST /auth/token`` is the OAuth2 password flow (Swagger's Authorize button uses it); programs
send ``Authorization: Bearer <access_token>`` and trade the refresh token at ``/auth/refresh``
before it runs out. Browser pages log in at ``/login``: ``POST /auth/session`` sets the same
token as an HttpOnly, SameSite=Strict cookie plus a CSRF cookie the page echoes on writes.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import json_response
from api.schemas.auth import Me, SessionOut, TokenOut
from api.schemas.problem import problems
from api.security import CSRF_COOKIE, TOKEN_COOKIE, PrincipalDep
from gridmap.auth import accounts, passwords
from gridmap.auth.access import GRANTS, SEES, Principal
from gridmap.errors import UnauthorizedError

router = APIRouter(tags=["auth 登录"])
pages = APIRouter()  # /login, at the root like the map pages
REFRESH_COOKIE = "gridmap_refresh"
REFRESH_PATH = "/api/v1/auth"
LOGIN_PROBLEMS = problems(
    401, 422, 429, notes={401: "wrong username or password", 429: "too many attempts; locked"}
)

Username = Annotated[str, Form(min_length=1, max_length=64, description="用户名")]
Password = Annotated[str, Form(min_length=1, max_length=passwords.MAX_LENGTH, description="密码")]


class RefreshIn(BaseModel):
    """A refresh token to trade or revoke."""

    refresh_token: str = Field(min_length=1, max_length=200)


def _login(request: Request, username: str, password: str) -> accounts.TokenPair:
    """Check the per-address rate, then the password (failures are counted and committed)."""
    state = request.app.state
    guard = state.guard
    address = request.client.host if request.client else "unknown"
    guard.login_attempt(address, state.clock())
    with state.sessions() as session:
        try:
            pair = accounts.login(
                session,
                username,
                password,
                secret=guard.secret,
                now=state.clock(),
                ttl_s=guard.ttl_s,
            )
        except UnauthorizedError:
            session.commit()  # the failure count and its audit row must stick
            raise
        session.commit()
    guard.note(pair.principal)
    return pair


def _codes(principal_scope: tuple[str, ...] | None) -> list[str] | str:
    return "*" if principal_scope is None else list(principal_scope)


def _token_body(pair: accounts.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "role": pair.principal.role.value,
        "scope": _codes(pair.principal.scope.codes),
    }


@router.post(
    "/auth/token",
    summary="Log in / 登录 (OAuth2 password flow)",
    response_model=TokenOut,
    responses=LOGIN_PROBLEMS,
)
def token(request: Request, username: Username, password: Password) -> Response:
    """Username and password (form-encoded) → a short-lived access token and a refresh token.

    Five wrong passwords in a row lock the account for 15 minutes (429 with Retry-After).
    """
    pair = _login(request, username, password)
    return json_response(_token_body(pair), headers={"Cache-Control": "no-store"})


@router.post(
    "/auth/refresh",
    summary="New tokens for a refresh token / 刷新令牌",
    response_model=TokenOut,
    responses=problems(401, 422),
)
def refresh(request: Request, body: RefreshIn) -> Response:
    """Trade a refresh token for a new pair; the old one stops working (rotation)."""
    state = request.app.state
    guard = state.guard
    with state.sessions() as session:
        try:
            pair = accounts.refresh(
                session,
                body.refresh_token,
                secret=guard.secret,
                now=state.clock(),
                ttl_s=guard.ttl_s,
            )
        except UnauthorizedError:
            session.commit()  # a reused token revokes the account's others: keep that
            raise
        session.commit()
    guard.note(pair.principal)
    return json_response(_token_body(pair), headers={"Cache-Control": "no-store"})


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Revoke a refresh token / 退出",
    responses=problems(422),
)
def logout(request: Request, body: RefreshIn) -> Response:
    """Revoke the refresh token (the access token runs out on its own within minutes)."""
    state = request.app.state
    with state.sessions() as session, session.begin():
        accounts.logout(session, body.refresh_token, now=state.clock())
    return Response(status_code=204)


@router.post(
    "/auth/session",
    summary="Log in a browser / 网页登录 (sets cookies)",
    response_model=SessionOut,
    responses=LOGIN_PROBLEMS,
)
def session_login(request: Request, username: Username, password: Password) -> Response:
    """Like /auth/token, but the tokens go into HttpOnly SameSite=Strict cookies; the answer
    carries the CSRF token (also in the readable ``gridmap_csrf`` cookie) for writes.
    """
    pair = _login(request, username, password)
    csrf = secrets.token_urlsafe(24)
    body = {
        "csrf_token": csrf,
        "expires_in": pair.expires_in,
        "role": pair.principal.role.value,
        "username": pair.principal.username,
    }
    response = json_response(body, headers={"Cache-Control": "no-store"})
    secure = request.app.state.guard.secure_cookies
    lifetime = int(accounts.REFRESH_LIFETIME.total_seconds())
    response.set_cookie(
        TOKEN_COOKIE, pair.access_token, max_age=lifetime, httponly=True, samesite="strict",
        secure=secure, path="/",
    )  # fmt: skip
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token, max_age=lifetime, httponly=True, samesite="strict",
        secure=secure, path=REFRESH_PATH,
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=lifetime, httponly=False, samesite="strict", secure=secure,
        path="/",
    )  # fmt: skip
    return response


@router.delete("/auth/session", status_code=204, summary="Log a browser out / 网页退出")
def session_logout(request: Request) -> Response:
    """Revoke the session's refresh token and clear the cookies."""
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if refresh_token:
        state = request.app.state
        with state.sessions() as session, session.begin():
            accounts.logout(session, refresh_token, now=state.clock())
    response = Response(status_code=204)
    for name, path in ((TOKEN_COOKIE, "/"), (CSRF_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH)):
        response.delete_cookie(name, path=path)
    return response


def me_view(principal: Principal) -> dict[str, Any]:
    """What /auth/me answers."""
    return {
        "user_id": principal.user_id,
        "username": principal.username,
        "role": principal.role.value,
        "role_zh": principal.role.zh,
        "scope": _codes(principal.scope.codes),
        "report_scope": _codes(principal.report_scope.codes),
        "worker_id": principal.worker_id,
        "permissions": sorted(p.value for p in GRANTS[principal.role]),
        "sees": sorted(s.value for s in SEES[principal.role]),
    }


@router.get("/auth/me", summary="Who am I / 当前用户", response_model=Me, responses=problems(401))
def me(principal: PrincipalDep) -> Response:
    """The account, role, scope and permissions the token stands for."""
    return json_response(me_view(principal))


LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridmap 登录</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:22rem;margin:12vh auto;
padding:0 1rem}} label{{display:block;margin:.8rem 0 .2rem}} input{{width:100%;padding:.5rem;
box-sizing:border-box}} button{{margin-top:1rem;padding:.6rem 1.2rem}} #error{{color:#b00020}}
</style></head><body>
<h1>gridmap 网格化管理</h1>
<form id="login" method="post" action="/api/v1/auth/session">
<label for="username">用户名 Username</label><input id="username" name="username" required
 autocomplete="username">
<label for="password">密码 Password</label><input id="password" name="password" type="password"
 required autocomplete="current-password">
<button type="submit">登录 Log in</button>
<p id="error" role="alert"></p>
</form>
<script>
document.getElementById("login").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const reply = await fetch("/api/v1/auth/session",
    {{method: "POST", body: new URLSearchParams(new FormData(event.target))}});
  if (reply.ok) {{ location.assign({next}); return; }}
  const problem = await reply.json().catch(() => ({{}}));
  document.getElementById("error").textContent = problem.detail || reply.statusText;
}});
</script></body></html>
"""


@pages.get("/login", include_in_schema=False)
def login_page(next: Annotated[str, Query(max_length=2000)] = "/docs") -> HTMLResponse:
    """The browser login form (no external assets); goes on to ``next`` (a local path)."""
    target = next if next.startswith("/") and not next.startswith("//") else "/docs"
    quoted = quote(target, safe="/?=&%-_.~")
    # quote() leaves no < > or quotes, so the JSON string cannot end the script element.
    return HTMLResponse(LOGIN_PAGE.format(next=json.dumps(quoted)))
