"""The API docs pages (/docs Swagger UI, /redoc ReDoc) in headless Chromium, offline.

A real uvicorn server runs the app; Playwright drives Debian's Chromium (no browser download).
Every request the browser makes is recorded, and any that would leave 127.0.0.1 is aborted
and fails the test: the docs must render from the vendored files alone, as on an isolated
government network. The schema is OpenAPI 3.1, which Swagger UI before 5 cannot read.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from tests import identities
from tests.servers import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = "127.0.0.1"
TIMEOUT_MS = 30_000  # a shared 2-core machine: generous waits, each one a polled condition
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def docs_url(demo_copy) -> Iterator[str]:
    """A demo database of the module's own (its accounts log in)."""
    with demo_copy() as url:
        yield url


@pytest.fixture(scope="module")
def docs_server(docs_url: str) -> Iterator[str]:
    """A real uvicorn server on the module's demo database."""
    with serving(docs_url, env={"GRIDMAP_ESCALATE_EVERY_S": "0"}) as base:
        yield base


@pytest.fixture(scope="module")
def schema(docs_server: str, docs_url: str) -> dict[str, Any]:
    """The served OpenAPI document (for logged-in callers only)."""
    request = urllib.request.Request(
        f"{docs_server}/openapi.json", headers=identities.bearer(docs_url, "viewer.513401")
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        found = json.load(answer)
    assert found["openapi"].startswith("3.1")
    return found


@pytest.fixture(scope="module")
def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the served schema."""
    return [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no {CHROMIUM} for the browser test: run scripts/install-system.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Recorder:
    """Every URL a browser context requests; requests off the loopback host are aborted."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda request: self.urls.append(request.url))
        context.route("**/*", self._route)

    @staticmethod
    def _route(route: Route) -> None:
        if urlsplit(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def watch(self, page: Page) -> Page:
        """Collect the page's uncaught errors and failed console messages."""
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.set_default_timeout(TIMEOUT_MS)
        return page

    def outside(self) -> list[str]:
        """The recorded URLs whose host is not 127.0.0.1.

        A ``blob:`` URL (ReDoc's search worker) names memory of the page that made it and
        carries that page's origin (blob:http://127.0.0.1:port/uuid): judged by that origin.
        """
        return [
            url for url in self.urls if urlsplit(url.removeprefix("blob:")).hostname != LOOPBACK
        ]


@pytest.fixture
def recorded(browser: Browser) -> Iterator[tuple[Page, Recorder]]:
    """A fresh page whose requests and errors are recorded."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    recorder = Recorder(context)
    page = recorder.watch(context.new_page())
    yield page, recorder
    context.close()


def log_in(page: Page, url: str, username: str) -> None:
    """Open ``url`` as a browser does: sent to the login form, log in, land back on ``url``."""
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", identities.PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(url)


def test_login_form_refuses_a_wrong_password_in_chinese(recorded, docs_server) -> None:
    page, recorder = recorded
    page.goto(f"{docs_server}/docs")
    page.fill("#username", "viewer.513401")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_contain_text("wrong username or password")
    assert page.url.startswith(f"{docs_server}/login")
    assert recorder.outside() == []


def test_recorder_sees_a_cdn_request(recorded) -> None:
    """Control: a page that asks a CDN for a script is caught (and the request never leaves)."""
    page, recorder = recorded
    cdn = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
    with page.expect_event("requestfailed"):
        page.set_content(f'<script src="{cdn}"></script>')
    assert recorder.outside() == [cdn]


def test_swagger_ui_lists_operations_and_expands_one(
    recorded, docs_server, schema, operations
) -> None:
    page, recorder = recorded
    log_in(page, f"{docs_server}/docs", "viewer.513401")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations))
    expect(page.locator(".info .title")).to_contain_text("gridmap 网格化管理")
    assert page.get_by_text("Unable to render this definition").count() == 0
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks.all()
    }
    assert shown == set(operations)

    locate = page.locator('.opblock-get:has(.opblock-summary-path[data-path="/api/v1/locate"])')
    expect(locate.locator(".opblock-body")).to_have_count(0)  # collapsed until clicked
    locate.locator(".opblock-summary").click()
    body = locate.locator(".opblock-body")
    expect(body).to_be_visible()
    documented = schema["paths"]["/api/v1/locate"]["get"]
    parameters = [p["name"] for p in documented["parameters"]]
    assert {"lon", "lat"} <= set(parameters)
    expect(body.locator("tr[data-param-name]")).to_have_count(len(parameters))
    for name in parameters:
        expect(body.locator(f'tr[data-param-name="{name}"]')).to_be_visible()
    expect(body.locator('tr[data-param-name="lat"]')).to_contain_text("纬度")
    for code in documented["responses"]:
        expect(body.locator(f'.responses-table tr.response[data-code="{code}"]')).to_be_visible()

    assert recorder.errors == []
    assert f"{docs_server}/openapi.json" in recorder.urls
    assert f"{docs_server}/static/vendor/swagger-ui/swagger-ui-bundle.js" in recorder.urls
    assert recorder.outside() == []


def test_redoc_renders(recorded, docs_server, operations) -> None:
    page, recorder = recorded
    log_in(page, f"{docs_server}/redoc", "planner.513401")
    expect(page.locator(".api-info h1")).to_contain_text("gridmap 网格化管理")
    sections = page.locator('.api-content [data-section-id^="operation/"]')
    expect(sections).to_have_count(len(operations))
    expect(page.get_by_role("heading", name="Locate a point / 点位定位")).to_be_visible()
    assert page.get_by_text("Something went wrong").count() == 0

    assert recorder.errors == []
    assert f"{docs_server}/static/vendor/redoc/redoc.standalone.js" in recorder.urls
    assert recorder.outside() == []
