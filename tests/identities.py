"""Who the tests act as: accounts every demo database holds, and tokens minted for them.

``load_demo`` creates the demo county's one-account-per-role set (``county.513401`` …) and three
broad county admins of all 凉山 (``admin.test`` for the default clients, ``second.test`` and
``third.test`` for cases that need other people: separation of duties). Every account's
password is :data:`PASSWORD`. Tokens are minted with :data:`SECRET`, the secret every test app
and test server is given, and live ten years, so tests that move the app's clock keep them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth import accounts, tokens
from gridmap.vocabulary import Role

SECRET = "test-secret-for-gridmap-tests-only-0123456789"
PASSWORD = "test-password-1"
TEN_YEARS_S = 10 * 365 * 86400
DEFAULT = "admin.test"
BROAD = ("admin.test", "second.test", "third.test")
PREFECTURE = "5134"


def create_accounts(session: Session, county: str) -> None:
    """The demo county's accounts and the three broad admins, all with :data:`PASSWORD`."""
    from gridmap import demo

    demo.load_accounts(session, county, password=PASSWORD)
    for username in BROAD:
        accounts.create(
            session,
            username=username,
            role=Role.COUNTY_ADMIN,
            scope_codes=[PREFECTURE],
            password=PASSWORD,
            synthetic=True,
        )


@cache
def _token(url: str, username: str) -> str:
    engine = db.session.make_engine(url)
    try:
        with Session(engine) as session:
            account = db.accounts.by_username(session, username)
            assert account is not None, f"no test account {username}"
            principal = accounts.principal_for(session, account)
    finally:
        engine.dispose()
    return tokens.issue(principal, SECRET, now=datetime.now(UTC), ttl_s=TEN_YEARS_S)


def token(template_url: str, username: str = DEFAULT) -> str:
    """An access token for ``username`` (same ids and versions in every copy of the demo)."""
    return _token(template_url, username)


def bearer(template_url: str, username: str = DEFAULT) -> dict[str, str]:
    """``Authorization`` headers for ``username``."""
    return {"Authorization": f"Bearer {token(template_url, username)}"}
