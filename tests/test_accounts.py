"""Accounts in the library: passwords, the lockout counter, the scope rule through lineage,
refresh rotation and what disabling revokes; against the real demo database, rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth import accounts, passwords, tokens
from gridmap.errors import (
    AccountLockedError,
    InvalidInputError,
    UnauthorizedError,
    UnknownCodeError,
)
from gridmap.vocabulary import Role

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SECRET = "library-test-secret-0123456789-abcdefghij"


def test_passwords_are_argon2id_and_checked_for_length() -> None:
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify("correct horse battery", hashed)
    assert not passwords.verify("correct horse batterx", hashed)
    assert not passwords.verify("anything", None)  # no account: same work, always False
    with pytest.raises(InvalidInputError, match="at least 10"):
        passwords.hash_password("short")


def test_accounts_refuse_bad_names_unknown_codes_and_taken_usernames(demo_tx: Session) -> None:
    with pytest.raises(InvalidInputError, match="username"):
        accounts.create(demo_tx, username="张三", role=Role.VIEWER, scope_codes=["513401"])
    with pytest.raises(UnknownCodeError, match="513499"):
        accounts.create(demo_tx, username="v1", role=Role.VIEWER, scope_codes=["513499"])
    with pytest.raises(InvalidInputError, match="worker"):
        accounts.create(demo_tx, username="g1", role=Role.GRID_WORKER)
    accounts.create(demo_tx, username="v2", role=Role.VIEWER, scope_codes=["5134"])
    with pytest.raises(InvalidInputError, match="taken"):
        accounts.create(demo_tx, username="V2", role=Role.VIEWER, scope_codes=["513401"])


def test_a_retired_code_scopes_its_successor(demo_tx: Session) -> None:
    """The scope rule: an account keeps the codes it was given; a token resolves them through
    lineage to the current units (here a village merged into a new code)."""
    old = db.units.read(demo_tx, county="513401", level="village")["code"].iloc[0]
    new = old[:9] + "601"
    generation = demo_tx.execute(
        text(
            "INSERT INTO generation (kind, description, county_code) "
            "VALUES ('plan', 'test merge', '513401') RETURNING id"
        )
    ).scalar_one()
    old_id = demo_tx.execute(
        text(
            "UPDATE unit SET generation_high = :g WHERE code = :c AND generation_high IS NULL "
            "RETURNING id"
        ),
        {"g": generation, "c": old},
    ).scalar_one()
    new_id = demo_tx.execute(
        text(
            "INSERT INTO unit (code, name, level, kind, parent_code, county_code, geom, "
            "generation_low) SELECT :new, name, level, kind, parent_code, county_code, geom, :g "
            "FROM unit WHERE id = :id RETURNING id"
        ),
        {"new": new, "g": generation, "id": old_id},
    ).scalar_one()
    demo_tx.execute(
        text(
            "INSERT INTO lineage (predecessor_id, successor_id, op, generation_id, county_code) "
            "VALUES (:p, :s, 'merge', :g, '513401')"
        ),
        {"p": old_id, "s": new_id, "g": generation},
    )
    account_id, _ = accounts.create(
        demo_tx, username="merged.staff", role=Role.VILLAGE_STAFF, scope_codes=[old]
    )
    account = db.accounts.by_id(demo_tx, account_id)
    assert account is not None
    principal = accounts.principal_for(demo_tx, account)
    assert principal.scope.codes == (new,)
    assert list(account.scope_codes) == [old]  # the row keeps what it was given


def test_lockout_counts_in_a_row_and_lifts_in_time(demo_tx: Session) -> None:
    accounts.create(
        demo_tx, username="lock.me", role=Role.VIEWER, scope_codes=["513401"], password="p" * 12
    )
    for _ in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(UnauthorizedError):
            accounts.login(demo_tx, "lock.me", "wrong" * 3, secret=SECRET, now=T0, ttl_s=60)
    with pytest.raises(AccountLockedError) as locked:
        accounts.login(demo_tx, "lock.me", "p" * 12, secret=SECRET, now=T0, ttl_s=60)
    assert locked.value.context["retry_after_s"] == accounts.LOCKOUT.total_seconds()
    later = T0 + accounts.LOCKOUT + timedelta(seconds=1)
    pair = accounts.login(demo_tx, "lock.me", "p" * 12, secret=SECRET, now=later, ttl_s=60)
    principal, exp = tokens.decode(pair.access_token, SECRET, now=later)
    assert principal.username == "lock.me" and exp == int(later.timestamp()) + 60


def test_disable_and_reset_bump_the_version_and_revoke_refresh_tokens(demo_tx: Session) -> None:
    accounts.create(
        demo_tx, username="bump.me", role=Role.VIEWER, scope_codes=["513401"], password="q" * 12
    )
    pair = accounts.login(demo_tx, "bump.me", "q" * 12, secret=SECRET, now=T0, ttl_s=60)
    before = pair.principal.token_version
    _, new_password = accounts.reset(demo_tx, "bump.me", now=T0)
    account = db.accounts.by_username(demo_tx, "bump.me")
    assert account is not None and account.token_version == before + 1
    assert db.accounts.versions(demo_tx)[account.id] == before + 1  # old tokens no longer match
    with pytest.raises(UnauthorizedError, match="already used or revoked"):
        accounts.refresh(demo_tx, pair.refresh_token, secret=SECRET, now=T0, ttl_s=60)
    accounts.disable(demo_tx, "bump.me", now=T0)
    assert account.id not in db.accounts.versions(demo_tx)
    with pytest.raises(UnauthorizedError):
        accounts.login(demo_tx, "bump.me", new_password, secret=SECRET, now=T0, ttl_s=60)


def test_api_clients_have_keys_not_passwords(demo_tx: Session) -> None:
    _, key = accounts.create(demo_tx, username="app.one", role=Role.CLIENT, scope_codes=["513401"])
    principal = accounts.client(demo_tx, key)
    assert principal.role is Role.CLIENT and principal.rate_per_minute == 600
    with pytest.raises(UnauthorizedError):
        accounts.client(demo_tx, key + "x")
    with pytest.raises(UnauthorizedError):  # a client cannot log in with its key as password
        accounts.login(demo_tx, "app.one", key, secret=SECRET, now=T0, ttl_s=60)
