"""Who is asking: bearer tokens, browser cookies (with CSRF for writes) and Open311 API keys.

:class:`Guard` (``app.state.guard``) checks an access token without the database: the signature
once per token (then a dict hit), and the account's token version from a map reloaded every few
seconds, so a disabled account's tokens stop working here at once and in other processes within
:data:`VERSIONS_REFRESH_S`. The raw ASGI hot paths call :meth:`Guard.from_headers` directly;
routes use :data:`PrincipalDep`.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from gridmap import db
from gridmap.auth import accounts, tokens
from gridmap.auth.access import SYSTEM, Principal
from gridmap.auth.rates import Rates
from gridmap.errors import CSRFError, UnauthorizedError
from gridmap.settings import Settings

TOKEN_COOKIE = "gridmap_token"
CSRF_COOKIE = "gridmap_csrf"
CSRF_HEADER = b"x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
VERSIONS_REFRESH_S = 5.0
MAX_CACHED_TOKENS = 100_000
LOGIN_HINT = "log in first: POST /api/v1/auth/token, then send Authorization: Bearer <token>"
BENCHMARK_ANONYMOUS = replace(SYSTEM, username="benchmark-anonymous")

# For the OpenAPI document (Swagger's Authorize button); the token is read by Guard below.
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class Guard:
    """Token checks, the token-version map, and the rate limits (shared by every process)."""

    def __init__(self, settings: Settings) -> None:
        self.secret = tokens.load_secret(settings.jwt_secret, settings.home)
        self.ttl_s = settings.access_token_ttl_s
        self.login_per_minute = settings.login_per_minute
        self.account_per_minute = settings.account_per_minute
        self.secure_cookies = settings.secure_cookies
        self.benchmark_anonymous = settings.benchmark_anonymous
        self.rates = Rates()  # logins per address, requests per account: across processes
        self._versions: dict[int, int] = {}
        self._loaded_at = -1e9
        self._tokens: dict[str, tuple[Principal, int]] = {}
        self._keys: dict[str, Principal] = {}

    def load(self, sessions: sessionmaker[Session]) -> None:
        """Reload every enabled account's token version (the lifespan does it every few
        seconds; tests call it to stand for that tick).
        """
        with sessions() as session:
            self._versions = db.accounts.versions(session)
        self._loaded_at = time.monotonic()

    def note(self, principal: Principal) -> None:
        """Record a version this process just issued or bumped (no wait for the next load)."""
        self._versions[principal.user_id] = principal.token_version

    def forget(self, user_id: int) -> None:
        """An account this process disabled: its tokens stop at once."""
        self._versions.pop(user_id, None)
        self._keys = {k: p for k, p in self._keys.items() if p.user_id != user_id}

    def check(self, token: str, now: datetime, sessions: sessionmaker[Session]) -> Principal:
        """The principal of a valid, unrevoked access token, or UnauthorizedError."""
        cached = self._tokens.get(token)
        if cached is None:
            cached = tokens.decode(token, self.secret, now=now)
            if len(self._tokens) >= MAX_CACHED_TOKENS:
                self._tokens.clear()
            self._tokens[token] = cached
        principal, exp = cached
        if exp <= now.timestamp():
            raise UnauthorizedError("token expired; refresh it or log in again", expired=True)
        self._current(principal, sessions)
        self.limit(principal, now)
        return principal

    def limit(self, principal: Principal, now: datetime) -> None:
        """Count a request of ``principal``'s account against its rate (the account's own, else
        the default for people); RateLimitedError past it.
        """
        per_minute = principal.rate_per_minute or self.account_per_minute
        self.rates.hit(f"account:{principal.user_id}", per_minute, now.timestamp())

    def login_attempt(self, address: str, now: datetime) -> None:
        """Count a login attempt from ``address``; RateLimitedError past the setting."""
        self.rates.hit(f"login:{address}", self.login_per_minute, now.timestamp())

    def _current(self, principal: Principal, sessions: sessionmaker[Session]) -> None:
        version = self._versions.get(principal.user_id)
        if version is None and time.monotonic() - self._loaded_at > 1.0:
            self.load(sessions)  # an account made since the last load (rare: at most 1/s)
            version = self._versions.get(principal.user_id)
        if version != principal.token_version:
            raise UnauthorizedError(
                "token revoked: the account was disabled, reset or changed; log in again"
            )

    def from_headers(
        self,
        headers: dict[bytes, bytes],
        method: str,
        now: datetime,
        sessions: sessionmaker[Session],
    ) -> Principal:
        """The principal of a request: ``Authorization: Bearer`` first, else the session cookie
        (whose writes must echo the CSRF cookie in ``X-CSRF-Token``).
        """
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, token = authorization.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthorizedError("Authorization must be 'Bearer <access token>'")
            return self.check(token.strip(), now, sessions)
        cookies = _cookies(headers.get(b"cookie", b""))
        session_token = cookies.get(TOKEN_COOKIE)
        if not session_token:
            if self.benchmark_anonymous:  # the benchmarks' unauthenticated anchor, never served
                return BENCHMARK_ANONYMOUS
            raise UnauthorizedError(LOGIN_HINT)
        principal = self.check(session_token, now, sessions)
        if method in UNSAFE_METHODS:
            sent = headers.get(CSRF_HEADER, b"").decode("latin-1")
            expected = cookies.get(CSRF_COOKIE, "")
            if not sent or not expected or not hmac.compare_digest(sent, expected):
                raise CSRFError(
                    "a write with the session cookie needs the X-CSRF-Token header set to the "
                    f"{CSRF_COOKIE} cookie's value"
                )
        return principal

    def client(self, api_key: str, now: datetime, sessions: sessionmaker[Session]) -> Principal:
        """The API client of an Open311 ``api_key`` (cached; revocation as for tokens)."""
        principal = self._keys.get(api_key)
        if principal is None:
            with sessions() as session:
                principal = accounts.client(session, api_key)
            self._keys[api_key] = principal
        self._current(principal, sessions)
        self.limit(principal, now)
        return principal


def _cookies(raw: bytes) -> dict[str, str]:
    """Cookie header → name: value (the two cookies gridmap sets are plain tokens)."""
    found: dict[str, str] = {}
    for part in raw.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value
    return found


async def current_principal(
    request: Request, _: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    """The request's principal (401 without valid credentials); kept on ``request.state``."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    state = request.app.state
    principal: Principal = state.guard.from_headers(
        dict(request.scope["headers"]), request.method, state.clock(), state.sessions
    )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
