"""Accounts (账号): create, list, disable, reset; log in with lockout; refresh; API clients.

Scope rule (written here once; boundary plans rely on it): an account stores the division or
grid codes it was given. Whenever a token is issued they are resolved against the **current
generation**: a current code stands for itself; a retired one (merged, split, renumbered) stands
for its successors through lineage, transitively. A grid worker's scope is the grids of their
worker record at that moment. So after a plan is applied, every account's next token (at most
one access-token lifetime later) follows the new map, and no account row needs rewriting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth import passwords, tokens
from gridmap.auth.access import Principal, scope_of_codes
from gridmap.db.models import Account
from gridmap.db.scope import EVERYTHING
from gridmap.errors import (
    AccountLockedError,
    InvalidInputError,
    UnauthorizedError,
    UnknownCodeError,
)
from gridmap.vocabulary import AuditAction, Role

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
REFRESH_LIFETIME = timedelta(days=14)
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh answers."""

    access_token: str
    refresh_token: str
    expires_in: int
    principal: Principal


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise InvalidInputError(
            f"username {username!r} must be 2–64 characters of a–z, 0–9, '.', '_', '-', '@'"
        )
    return name


def check_codes(session: Session, codes: list[str]) -> list[str]:
    """``codes`` as given, each a current or retired unit code or a province/prefecture prefix
    (2 or 4 digits), else UnknownCodeError naming it; ``*`` alone is everything.
    """
    if codes == ["*"]:
        return codes
    if not codes:
        raise InvalidInputError("an account needs at least one scope code")
    known = db.accounts.current_codes(session, [c for c in codes if len(c) >= 6])
    for code in codes:
        if not code.isdigit():
            raise InvalidInputError(f"scope code {code!r} must be digits (or * alone)")
        if len(code) < 6 and db.accounts.prefix_exists(session, code):
            continue
        if code not in known:
            raise UnknownCodeError(f"scope code {code!r} is not a unit of any generation")
    return codes


def create(
    session: Session,
    *,
    username: str,
    role: Role,
    scope_codes: list[str] | None = None,
    worker_id: int | None = None,
    password: str | None = None,
    display_name: str = "",
    rate_per_minute: int | None = None,
    synthetic: bool = False,
) -> tuple[int, str]:
    """A new account and its secret: the password (generated unless given) or, for an API
    client, its key (shown once; only its hash is stored).
    """
    name = _check_username(username)
    if db.accounts.by_username(session, name) is not None:
        raise InvalidInputError(f"username {name!r} is taken")
    if role is Role.GRID_WORKER:
        if worker_id is None or db.workers.get(session, worker_id, EVERYTHING) is None:
            raise InvalidInputError("a grid worker account needs --worker-id of an existing worker")
        codes = scope_codes or [g[:12] for g in db.accounts.worker_grids(session, worker_id)][:1]
        if not codes:
            raise InvalidInputError(f"worker {worker_id} has no grids to scope the account to")
    else:
        codes = scope_codes or []
    codes = check_codes(session, codes)
    secret = password or passwords.generate()
    row: dict[str, Any] = {
        "username": name,
        "display_name": display_name,
        "role": role.value,
        "scope_codes": codes,
        "worker_id": worker_id,
        "rate_per_minute": rate_per_minute,
        "synthetic": synthetic,
    }
    if role is Role.CLIENT:
        row["api_key_hash"] = passwords.digest(secret)
        row["rate_per_minute"] = rate_per_minute or 600
    else:
        row["password_hash"] = passwords.hash_password(secret)
    return db.accounts.create(session, row), secret


def _require(session: Session, username: str) -> Account:
    account = db.accounts.by_username(session, _check_username(username))
    if account is None:
        raise UnknownCodeError(f"no account {username!r}")
    return account


def disable(session: Session, username: str, *, now: datetime) -> Account:
    """Disable an account: its access and refresh tokens stop working at once."""
    account = _require(session, username)
    db.accounts.bump(session, account.id, now, disabled=True)
    return account


def enable(session: Session, username: str, *, now: datetime) -> Account:
    """Enable a disabled account again (old tokens stay invalid)."""
    account = _require(session, username)
    db.accounts.bump(session, account.id, now, disabled=False, failed_logins=0, locked_until=None)
    return account


def reset(
    session: Session, username: str, *, now: datetime, password: str | None = None
) -> tuple[Account, str]:
    """A new password (or client key), unlocked, with every earlier token revoked."""
    account = _require(session, username)
    secret = password or passwords.generate()
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if Role(account.role) is Role.CLIENT:
        values["api_key_hash"] = passwords.digest(secret)
    else:
        values["password_hash"] = passwords.hash_password(secret)
    db.accounts.bump(session, account.id, now, **values)
    return account, secret


def principal_for(session: Session, account: Account) -> Principal:
    """The principal a token for ``account`` carries: its scope resolved against the current
    generation (the rule in this module's docstring).
    """
    role = Role(account.role)
    if role is Role.GRID_WORKER and account.worker_id is not None:
        grids = db.accounts.worker_grids(session, account.worker_id)
        scope = scope_of_codes(tuple(grids))
        report = scope_of_codes(tuple({g[:12] for g in grids}))
    else:
        codes = list(account.scope_codes)
        if codes == ["*"]:
            scope = scope_of_codes(("*",))
        else:
            current = db.accounts.current_codes(session, [c for c in codes if len(c) >= 6])
            resolved = [c for c in codes if len(c) < 6]
            resolved += [new for c in codes if len(c) >= 6 for new in current.get(c, [])]
            scope = scope_of_codes(tuple(resolved))
        report = scope
    return Principal(
        user_id=account.id,
        username=account.username,
        role=role,
        scope=scope,
        report_scope=report,
        worker_id=account.worker_id,
        token_version=account.token_version,
        rate_per_minute=account.rate_per_minute,
    )


def _pair(
    session: Session, account: Account, secret: str, *, now: datetime, ttl_s: int
) -> TokenPair:
    principal = principal_for(session, account)
    refresh = tokens.new_refresh_token()
    db.accounts.add_refresh(
        session, account.id, passwords.digest(refresh), now, now + REFRESH_LIFETIME
    )
    access = tokens.issue(principal, secret, now=now, ttl_s=ttl_s)
    return TokenPair(access, refresh, ttl_s, principal)


def login(
    session: Session, username: str, password: str, *, secret: str, now: datetime, ttl_s: int
) -> TokenPair:
    """Check a password and issue tokens; count failures and lock after
    :data:`MAX_FAILED_LOGINS` in a row for :data:`LOCKOUT`. Failures are audited here too.

    The caller commits even when this raises UnauthorizedError (the failure count must stick).
    """
    name = username.strip().lower()
    account = db.accounts.by_username(session, name, lock=True) if name else None
    if account is not None and account.locked_until is not None and account.locked_until > now:
        passwords.verify(password, None)  # same cost as any other answer
        wait = (account.locked_until - now).total_seconds()
        raise AccountLockedError(
            f"account {name!r} is locked after {MAX_FAILED_LOGINS} failed logins; try again in "
            f"{int(wait // 60) + 1} minutes or ask a county admin to reset it",
            retry_after_s=wait,
        )
    hashed = None if account is None or account.disabled else account.password_hash
    if account is None or not passwords.verify(password, hashed):
        if account is not None:
            failed = account.failed_logins + 1
            locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
            db.accounts.set_values(
                session, account.id, failed_logins=0 if locked else failed, locked_until=locked
            )
            _audit_login(session, account, AuditAction.LOGIN_FAILED, {"failed": failed})
        raise UnauthorizedError("wrong username or password (or the account is disabled)")
    db.accounts.set_values(session, account.id, failed_logins=0, locked_until=None)
    _audit_login(session, account, AuditAction.LOGIN, {})
    return _pair(session, account, secret, now=now, ttl_s=ttl_s)


def refresh(
    session: Session, refresh_token: str, *, secret: str, now: datetime, ttl_s: int
) -> TokenPair:
    """Trade a refresh token for new tokens (rotation: the old one is revoked). Presenting a
    revoked one again means it was copied: every refresh token of the account is revoked.
    """
    stored = db.accounts.refresh_by_hash(session, passwords.digest(refresh_token))
    if stored is None or stored.expires_at <= now:
        raise UnauthorizedError("refresh token unknown or expired; log in again")
    account = db.accounts.by_id(session, stored.account_id)
    if stored.revoked_at is not None:
        db.accounts.revoke_all(session, stored.account_id, now)
        raise UnauthorizedError("refresh token was already used or revoked; log in again")
    if account is None or account.disabled:
        raise UnauthorizedError("account disabled; ask a county admin")
    db.accounts.revoke(session, stored.id, now)
    return _pair(session, account, secret, now=now, ttl_s=ttl_s)


def logout(session: Session, refresh_token: str, *, now: datetime) -> None:
    """Revoke a refresh token (unknown ones are ignored: logging out twice is fine)."""
    stored = db.accounts.refresh_by_hash(session, passwords.digest(refresh_token))
    if stored is not None:
        db.accounts.revoke(session, stored.id, now)


def client(session: Session, api_key: str) -> Principal:
    """The API client an Open311 ``api_key`` belongs to, or UnauthorizedError."""
    account = db.accounts.by_api_key_hash(session, passwords.digest(api_key))
    if account is None or account.disabled or Role(account.role) is not Role.CLIENT:
        raise UnauthorizedError("unknown or disabled api_key")
    return principal_for(session, account)


def _audit_login(
    session: Session, account: Account, action: AuditAction, detail: dict[str, Any]
) -> None:
    codes = list(account.scope_codes)
    county = codes[0][:6] if codes and len(codes[0]) >= 6 else None
    db.audit.append(
        session,
        [
            {
                "actor": account.username,
                "role": account.role,
                "action": action.value,
                "resource": "account",
                "resource_id": str(account.id),
                "county_code": county,
                "detail": detail,
            }
        ],
    )


def view(account: Account) -> dict[str, Any]:
    """An account as listings show it (never a hash)."""
    return {
        "id": account.id,
        "username": account.username,
        "display_name": account.display_name,
        "role": account.role,
        "role_zh": Role(account.role).zh,
        "scope_codes": list(account.scope_codes),
        "worker_id": account.worker_id,
        "disabled": account.disabled,
        "locked": account.locked_until is not None,
        "rate_per_minute": account.rate_per_minute,
        "synthetic": account.synthetic,
    }
