"""Logging in over HTTP: tokens, refresh rotation, expiry, revocation on disable, tampered and
``alg: none`` tokens, lockout and rate limits, browser cookies with CSRF, and 401 for anonymous
requests everywhere except the few open doors.

Logins write (failure counts, refresh tokens, audit rows), so these tests use ``own_client``
(their own demo database) and log in with the accounts of ``tests/identities.py``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridmap import db
from gridmap.auth import accounts
from tests import identities
from tests.conftest import app_client

OPEN_DOORS = {
    ("GET", "/health"),
    ("GET", "/health/db"),
    ("GET", "/livez"),
    ("GET", "/login"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/session"),
    ("DELETE", "/api/v1/auth/session"),
    ("GET", "/open311/v2/discovery.{format}"),
}


def login(client: TestClient, username: str, password: str = identities.PASSWORD):
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password},
        headers={"Authorization": ""},
    )


def anonymous(client: TestClient) -> TestClient:
    """A client on the same running app that sends no credentials."""
    fresh = TestClient(client.app)
    return fresh


def test_login_gives_a_working_token_and_the_right_identity(own_client) -> None:
    answer = login(own_client, "village.513401")
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert answer.headers["cache-control"] == "no-store"
    me = anonymous(own_client).get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "village.513401"
    assert me.json()["role"] == "village_staff"
    assert me.json()["scope"] == ["513401001001"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub"} <= claims.keys() and claims["exp"] - claims["iat"] == 900


def test_wrong_passwords_lock_the_account_with_a_clear_error(own_client) -> None:
    for attempt in range(accounts.MAX_FAILED_LOGINS):
        answer = login(own_client, "viewer.513401", "wrong-password-x")
        assert answer.status_code == 401, (attempt, answer.text)
        assert answer.json()["code"] == "UnauthorizedError"
    locked = login(own_client, "viewer.513401")  # even the right password, while locked
    assert locked.status_code == 429
    assert locked.json()["code"] == "AccountLockedError"
    assert "locked" in locked.json()["detail"] and int(locked.headers["retry-after"]) > 60
    # Time passes (the app's clock): the lock lifts.
    start = own_client.app.state.clock()
    own_client.app.state.clock = lambda: start + accounts.LOCKOUT + timedelta(seconds=1)
    assert login(own_client, "viewer.513401").status_code == 200
    # The failures were audited for the county admin.
    rows = own_client.get("/api/v1/audit", params={"action": "login_failed"}).json()
    assert rows["total"] == accounts.MAX_FAILED_LOGINS
    assert {r["actor"] for r in rows["items"]} == {"viewer.513401"}


def test_unknown_users_and_disabled_accounts_get_the_same_answer(own_client, demo_url) -> None:
    unknown = login(own_client, "nobody.here")
    engine = db.session.make_engine(demo_url)
    with Session(engine) as session, session.begin():
        accounts.disable(session, "planner.513401", now=datetime.now(UTC))
    engine.dispose()
    disabled = login(own_client, "planner.513401")
    assert unknown.status_code == disabled.status_code == 401
    assert unknown.json()["detail"] == disabled.json()["detail"]


def test_login_attempts_per_address_are_rate_limited(demo_url, app_index) -> None:
    with app_client(demo_url, app_index, as_user=None) as client:
        client.app.state.guard.login_per_minute = 3
        answers = [login(client, "viewer.513401", "wrong-password-x") for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["code"] == "RateLimitedError"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_expired_tokens_are_refused_and_refresh_rotates(own_client) -> None:
    tokens = login(own_client, "township.513401").json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert own_client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    start = own_client.app.state.clock()
    own_client.app.state.clock = lambda: start + timedelta(seconds=901)
    expired = own_client.get("/api/v1/auth/me", headers=bearer)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    renewed = own_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert own_client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    # The old refresh token was used: presenting it again revokes the new one too (theft).
    reused = own_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.status_code == 401
    stolen = own_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
    )
    assert stolen.status_code == 401


def test_disabling_revokes_access_and_refresh_tokens_at_once(own_client, demo_url) -> None:
    tokens = login(own_client, "village.513401").json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert own_client.get("/api/v1/incidents", headers=bearer).status_code == 200
    engine = db.session.make_engine(demo_url)
    with Session(engine) as session, session.begin():  # as `gridmap users disable` does
        accounts.disable(session, "village.513401", now=datetime.now(UTC))
    engine.dispose()
    own_client.app.state.guard.load(own_client.app.state.sessions)  # the next refresh tick
    refused = own_client.get("/api/v1/incidents", headers=bearer)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = own_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def _forge(claims: dict[str, object], header: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


@pytest.mark.parametrize("kind", ["tampered", "alg-none", "hs512", "no-exp", "other-secret"])
def test_forged_tokens_are_refused(client, kind: str) -> None:
    good = identities.token(client.app.state.settings.database_url, "county.513401")
    claims = jwt.decode(good, options={"verify_signature": False})
    claims["scope"] = "*"  # what a forger wants
    if kind == "tampered":
        head, _, signature = good.split(".")
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        forged = f"{head}.{body}.{signature}"
    elif kind == "alg-none":
        forged = _forge(claims, {"alg": "none", "typ": "JWT"})
    elif kind == "hs512":
        forged = jwt.encode(claims, identities.SECRET, algorithm="HS512")
    elif kind == "no-exp":
        claims.pop("exp")
        forged = jwt.encode(claims, identities.SECRET, algorithm="HS256")
    else:
        forged = jwt.encode(claims, "x" * 48, algorithm="HS256")
    answer = anonymous(client).get(
        "/api/v1/incidents", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "UnauthorizedError"
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_browser_cookie_login_needs_csrf_for_writes(own_client) -> None:
    browser = anonymous(own_client)
    answer = browser.post(
        "/api/v1/auth/session", data={"username": "county.513401", "password": identities.PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    cookie = answer.headers.get_list("set-cookie")
    token_cookie = next(c for c in cookie if c.startswith("gridmap_token="))
    assert "HttpOnly" in token_cookie and "SameSite=strict" in token_cookie
    csrf = answer.json()["csrf_token"]
    assert browser.get("/api/v1/workers/1").status_code == 200  # reads need no CSRF token
    assert browser.get("/docs").status_code == 200
    patch = {"on_duty": False}
    refused = browser.patch("/api/v1/workers/1", json=patch)
    assert refused.status_code == 403 and refused.json()["code"] == "CSRFError"
    wrong = browser.patch("/api/v1/workers/1", json=patch, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    done = browser.patch("/api/v1/workers/1", json=patch, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["on_duty"] is False
    assert browser.delete("/api/v1/auth/session").status_code == 204
    browser.cookies.clear()
    assert browser.get("/api/v1/workers/1").status_code == 401


def test_pages_send_browsers_to_the_login_form(client) -> None:
    page = anonymous(client).get(
        "/maps/513401", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/maps/513401"
    form = anonymous(client).get("/login", params={"next": "/maps/513401"})
    assert form.status_code == 200 and 'location.assign("/maps/513401")' in form.text
    evil = anonymous(client).get("/login", params={"next": "//evil.example/x"})
    assert "evil.example" not in evil.text


PAGES = (("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json"), ("GET", "/static/vendor/x"))


def test_anonymous_requests_get_401_everywhere_but_the_open_doors(client) -> None:
    nobody = anonymous(client)
    documented = client.get("/openapi.json").json()["paths"]
    operations = [(m.upper(), path) for path, ops in documented.items() for m in ops]
    checked = 0
    for method, path in [*operations, *PAGES]:
        if (method, path) in OPEN_DOORS:
            continue
        concrete = path.replace("{format}", "json").replace("{fmt}", "csv")
        for name in ("county", "code", "incident_id", "worker_id", "action", "layer", "z"):
            concrete = concrete.replace("{" + name + "}", "1")
        for name in ("x", "y", "service_code", "service_request_id"):
            concrete = concrete.replace("{" + name + "}", "1")
        answer = nobody.request(method, concrete, headers={"Accept": "application/json"})
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text[:200])
        checked += 1
    assert checked >= 30
    for method, path in (("GET", "/health"), ("GET", "/livez"), ("GET", "/login")):
        assert nobody.request(method, path).status_code == 200
    assert nobody.get("/open311/v2/discovery.json").status_code == 200


def test_an_accounts_rate_is_shared_by_every_api_process(demo_url, app_index) -> None:
    from api.main import rates_tick

    fixed = datetime(2026, 12, 3, 9, 0, 10, tzinfo=UTC)  # 10 s into a minute, for both apps
    with (
        app_client(demo_url, app_index, as_user="township.513401") as first,
        app_client(demo_url, app_index, as_user="township.513401") as second,
    ):
        for client in (first, second):
            client.app.state.clock = lambda: fixed
            client.app.state.guard.account_per_minute = 5
        assert [first.get("/api/v1/auth/me").status_code for _ in range(3)] == [200] * 3
        rates_tick(first.app)
        rates_tick(second.app)
        # The second process knows the first one's three: two more pass, then 429.
        answers = [second.get("/api/v1/auth/me") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        refused = answers[-1].json()
        assert refused["code"] == "RateLimitedError" and "5 requests a minute" in refused["detail"]
        # 50 s to the minute's end, then 12 s until its five weigh no more than four.
        assert answers[-1].headers["retry-after"] == "62"
        rates_tick(second.app)
        rates_tick(first.app)
        assert first.get("/api/v1/auth/me").status_code == 429
        # Another account has its own count.
        other = {"Authorization": identities.bearer(demo_url, "viewer.513401")["Authorization"]}
        assert first.get("/api/v1/auth/me", headers=other).status_code == 200
