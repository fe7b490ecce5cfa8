"""Access tokens (JWT, HS256) that carry everything a request needs: who, role, scope.

A token is checked without the database: its signature, ``exp``/``iat``/``sub`` (required), and
its ``ver`` against the account's current token version (a map the API keeps and refreshes, see
``api/security.py``). Disabling an account bumps its version, so its tokens stop working at once
in the process that disabled it and within seconds everywhere else.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

from gridmap.auth.access import Principal
from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import UnauthorizedError
from gridmap.vocabulary import Role

ALGORITHMS = ["HS256"]  # explicit: "none" and every other algorithm are refused
ISSUER = "gridmap"
REQUIRED = ["exp", "iat", "sub", "ver", "role"]


def load_secret(configured: str | None, home: Path) -> str:
    """The signing key: the configured one, else one generated once into ``home/jwt-secret``
    (mode 0600), so every process of one installation shares it.
    """
    if configured:
        if len(configured) < 32:
            raise ValueError("GRIDMAP_JWT_SECRET needs at least 32 characters")
        return configured
    path = home / "jwt-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _codes(scope: Scope) -> list[str] | str:
    return "*" if scope.codes is None else list(scope.codes)


def _scope(value: Any) -> Scope:
    if value == "*":
        return EVERYTHING
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise UnauthorizedError("token carries no valid scope; log in again")
    return Scope(codes=tuple(value))


def issue(principal: Principal, secret: str, *, now: datetime, ttl_s: int) -> str:
    """A signed access token for ``principal``, valid ``ttl_s`` seconds from ``now``."""
    at = int(now.timestamp())
    claims = {
        "iss": ISSUER,
        "sub": str(principal.user_id),
        "iat": at,
        "exp": at + ttl_s,
        "name": principal.username,
        "role": principal.role.value,
        "scope": _codes(principal.scope),
        "report": _codes(principal.report_scope),
        "ver": principal.token_version,
        "wid": principal.worker_id,
        "rate": principal.rate_per_minute,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHMS[0])


def decode(token: str, secret: str, *, now: datetime) -> tuple[Principal, int]:
    """The principal a token stands for and its expiry (epoch seconds), or UnauthorizedError
    saying what is wrong (expired, bad signature, wrong algorithm, missing claims).
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=ALGORITHMS,
            issuer=ISSUER,
            options={"require": REQUIRED, "verify_exp": False, "verify_iat": False},
        )
    except jwt.MissingRequiredClaimError as error:
        raise UnauthorizedError(f"token lacks the {error.claim!r} claim; log in again") from None
    except jwt.InvalidAlgorithmError:
        raise UnauthorizedError("token signed with an algorithm other than HS256") from None
    except jwt.InvalidSignatureError:
        raise UnauthorizedError("token signature does not verify") from None
    except jwt.PyJWTError as error:
        raise UnauthorizedError(f"token is not valid: {error}") from None
    # The clock is the app's (tests move it), so expiry is checked here, not by PyJWT.
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise UnauthorizedError("token exp and iat must be integers")
    if exp <= now.timestamp():
        raise UnauthorizedError("token expired; refresh it or log in again", expired=True)
    try:
        principal = Principal(
            user_id=int(claims["sub"]),
            username=str(claims.get("name", "")),
            role=Role(claims["role"]),
            scope=_scope(claims.get("scope")),
            report_scope=_scope(claims.get("report")),
            worker_id=claims.get("wid") if isinstance(claims.get("wid"), int) else None,
            token_version=int(claims["ver"]),
            rate_per_minute=claims.get("rate") if isinstance(claims.get("rate"), int) else None,
        )
    except (TypeError, ValueError):
        raise UnauthorizedError("token claims are malformed; log in again") from None
    return principal, exp


def new_refresh_token() -> str:
    """An opaque refresh token (256 bits); the server stores only its SHA-256."""
    return secrets.token_urlsafe(32)
