"""HTTP tests for /maps/{code} and the vendored assets, plus an offline browser test.

The browser test runs Debian's headless Chromium against a real uvicorn server with every
non-loopback host unresolvable and a dead proxy: a map that needed a CDN or an online basemap
would break there. Screenshots are kept in tests/artifacts/maps/ (gitignored) for a person to
look at; the test checks they are not blank and that the DOM lists the expected layers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import shapely

from gridmap import db, incidents, maps
from tests import identities
from tests.conftest import app_client
from tests.servers import serving

COUNTY = "513401"
PROBLEM = "application/problem+json"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "maps"
OFFLINE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--proxy-server=127.0.0.1:9",  # nothing listens there: any proxied request fails
    "--proxy-bypass-list=127.0.0.1",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,900",
    "--virtual-time-budget=5000",
)
# LayerControl labels each map kind must show (Chinese is the default language).
EXPECTED_LAYERS = {
    "county": ("网格 (", "村(社区) (", "乡镇(街道) (", "县(市、区)界", "事件 (", "在岗网格员 ("),
    "township": ("网格 (", "村(社区) (", "乡镇(街道)", "事件 (", "事件热力图 ("),
    "village": ("网格 (", "村(社区)", "事件 (4)", "事件热力图 (4)", "在岗网格员 (", "住户("),
    "grid": ("网格 (1)", "村(社区)", "事件 (", "在岗网格员 ("),
}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    return body


@pytest.fixture(scope="module")
def maps_url(demo_copy) -> Iterator[str]:
    """This module's own demo database: the incidents below are committed there for every
    page, tile and browser test of the module to draw, and for no other module to see."""
    with demo_copy() as url:
        yield url


@pytest.fixture(scope="module")
def maps_engine(maps_url: str) -> Iterator[Engine]:
    """Engine on the module's database."""
    engine = db.session.make_engine(maps_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def maps_client(maps_url: str, app_index) -> Iterator[TestClient]:
    """The real app over the module's database."""
    with app_client(maps_url, app_index) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def map_codes(maps_engine, demo_index) -> dict[str, str]:
    """Nested codes of each level, in the county's last village, which gets 4 committed
    incidents so cluster and heat layers have data."""
    with Session(maps_engine) as session, session.begin():
        grids = db.units.read(session, county=COUNTY, level="grid")
        village = str(grids["parent_code"].iloc[-1])
        inside = grids[grids["parent_code"] == village]
        points = shapely.get_coordinates(inside.geometry.representative_point().values)
        for lon, lat in points[np.arange(4) % len(points)]:
            incidents.report_incident(
                session,
                demo_index,
                incidents.Report(lon=lon, lat=lat, category="0501", reporter="maps test"),
                source="test",
            )
    return {
        "county": COUNTY,
        "township": village[:9],
        "village": village,
        "grid": str(inside["code"].iloc[0]),
    }


def test_map_page_is_html_without_external_urls(maps_client, map_codes) -> None:
    response = maps_client.get(f"/maps/{map_codes['township']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-encoding"] == "gzip"  # the test client asks for it
    page = response.text
    assert maps.external_urls(page) == []
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in page


def test_every_asset_a_page_links_is_served(maps_client, map_codes) -> None:
    page = maps_client.get(f"/maps/{map_codes['village']}").text
    urls = [url for url in maps.page_urls(page) if url.startswith(maps.ASSET_ROUTE)]
    assert len(urls) >= 10
    for url in urls:
        response = maps_client.get(url)
        assert response.status_code == 200, url
        assert "max-age" in response.headers["cache-control"]
        assert response.content


def test_fonts_referenced_by_vendored_css_are_served(maps_client) -> None:
    css = maps_client.get(f"{maps.ASSET_ROUTE}/fontawesome/css/all.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    fonts = set(re.findall(r"url\(\.\./webfonts/([^)]+)\)", css.text))
    assert "fa-solid-900.woff2" in fonts
    for font in fonts:
        assert maps_client.get(f"{maps.ASSET_ROUTE}/fontawesome/webfonts/{font}").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["..%2f..%2fmaps.py", "leaflet/..%2f..%2f..%2fsettings.py", "%2fetc%2fpasswd", "nope.js"],
)
def test_asset_route_refuses_paths_outside_vendor(maps_client, path) -> None:
    response = maps_client.get(f"{maps.ASSET_ROUTE}/{path}")
    assert response.status_code == 404
    assert "import" not in response.text


@pytest.mark.parametrize("path", ["%00", "leaflet/leaflet.js%00", "a" * 5000])
def test_asset_route_refuses_names_the_filesystem_cannot_open(maps_client, path) -> None:
    """An embedded NUL or a name too long for the filesystem is a 404 like any other."""
    body = assert_problem(maps_client.get(f"{maps.ASSET_ROUTE}/{path}"), 404, "NotFoundError")
    assert "no vendored asset" in body["detail"]


def test_unknown_code_is_404_and_malformed_is_422(maps_client) -> None:
    assert_problem(maps_client.get("/maps/513499"), 404, "UnknownCodeError")
    assert_problem(maps_client.get("/maps/51340"), 422, "InvalidCodeError")


@pytest.mark.parametrize(
    "url",
    [
        "/maps/%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2",  # ²²²²²²²²²
        "/maps/513401%C2%B2%C2%B2%C2%B2",
        "/maps/513401001%C2%B2%C2%B2%C2%B2",
        "/tiles/grids/10/0/0.pbf?under=513401%C2%B2%C2%B2%C2%B2",
    ],
)
def test_codes_with_non_ascii_digits_are_422(maps_client, url) -> None:
    """ "²".isdigit() is True yet int("²") raises: a malformed code, never a 500."""
    body = assert_problem(maps_client.get(url), 422, "InvalidCodeError")
    assert "ASCII digits" in body["detail"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/tiles/grids/99/0/0.pbf", 422, "InvalidInputError"),
        ("/tiles/grids/-1/0/0.pbf", 422, "InvalidInputError"),
        ("/tiles/grids/10/-1/0.pbf", 422, "InvalidInputError"),
        ("/tiles/grids/10/0/99999999999999999999.pbf", 422, "InvalidInputError"),
        (f"/tiles/grids/{'9' * 5000}/0/0.pbf", 422, "RequestValidationError"),
        ("/tiles/grids/nan/0/0.pbf", 422, "RequestValidationError"),
        ("/tiles/%00/0/0/0.pbf", 422, "RequestValidationError"),
        ("/tiles/grids/10/0/0.pbf?under=%00", 422, "InvalidCodeError"),
        ("/maps/%00", 422, "InvalidCodeError"),
        (f"/maps/{'a' * 5000}", 422, "InvalidCodeError"),
        ("/maps/513401?lang=%00", 422, "RequestValidationError"),
        ("/maps/513401?basemap=%00", 422, "RequestValidationError"),
    ],
)
def test_odd_map_and_tile_requests_are_problems(maps_client, url, status, code) -> None:
    assert_problem(maps_client.get(url), status, code)
    assert_problem(maps_client.get("/maps/513401001001000"), 422, "InvalidCodeError")


def test_basemap_choices(maps_client, map_codes) -> None:
    grid = map_codes["grid"]
    # No key configured in the test settings: a clear 422 naming the setting.
    answer = maps_client.get(f"/maps/{grid}?basemap=tianditu-vec")
    body = assert_problem(answer, 422, "InvalidInputError")
    assert "GRIDMAP_TIANDITU_KEY" in body["detail"]
    assert maps_client.get(f"/maps/{grid}?basemap=amap").status_code == 422  # not a choice at all
    osm = maps_client.get(f"/maps/{grid}?basemap=osm")
    assert osm.status_code == 200 and "tile.openstreetmap.org" in osm.text
    assert maps.external_urls(osm.text) == []


def test_english_page(maps_client, map_codes) -> None:
    page = maps_client.get(f"/maps/{map_codes['village']}?lang=en").text
    assert "Households per grid" in page and "On-duty workers" in page


def test_vector_tile_route(maps_client, map_codes) -> None:
    page = maps_client.get(f"/maps/{map_codes['village']}").text
    assert f"/tiles/households/{{z}}/{{x}}/{{y}}.pbf?under={map_codes['village']}" in page
    answer = maps_client.get(f"/tiles/grids/8/200/108.pbf?under={COUNTY}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert maps_client.get("/tiles/roads/8/200/108.pbf").status_code == 422
    assert_problem(maps_client.get("/tiles/grids/3/9/0.pbf"), 422, "InvalidInputError")
    assert_problem(maps_client.get("/tiles/grids/8/200/108.pbf?under=51x"), 422, "InvalidCodeError")


# ---------------------------------------------------------------------------------------------
# The offline browser test


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("no chromium for the browser test: run scripts/install-system.sh")
    return found


@pytest.fixture(scope="module")
def map_server(maps_url: str, map_codes: dict[str, str]) -> Iterator[str]:
    """A real uvicorn server on the module's database (its incidents committed first)."""
    with serving(maps_url, env={"GRIDMAP_ESCALATE_EVERY_S": "0"}) as base:
        yield base


def browse_signed_in(
    chromium: str, url: str, token: str, screenshot: Path
) -> tuple[str, list[str]]:
    """Load ``url`` offline as a logged-in browser (the session cookie a login at /login sets):
    (the DOM after scripts ran, console errors and uncaught exceptions)."""
    from playwright.sync_api import sync_playwright

    flags = [f for f in OFFLINE_FLAGS if not f.startswith(("--headless", "--virtual-time"))]
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=flags)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        host = url.split("/")[2].split(":", maxsplit=1)[0]
        context.add_cookies(
            [{"name": "gridmap_token", "value": token, "domain": host, "path": "/"}]
        )
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"Uncaught {e}"))
        page.on(  # every failed request but the favicon browsers ask for on their own
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
        page.goto(url, wait_until="networkidle", timeout=120_000)
        page.wait_for_selector(".leaflet-control-layers", state="attached", timeout=60_000)
        page.wait_for_timeout(500)  # the last tiles paint after the network goes idle
        page.screenshot(path=str(screenshot))
        dom = page.content()
        browser.close()
    return dom, errors


def browse(chromium: str, url: str, profile: Path, screenshot: Path) -> tuple[str, list[str]]:
    """Load ``url`` offline: (the DOM after scripts ran, console messages)."""
    done = subprocess.run(
        [
            chromium,
            *OFFLINE_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    log = done.stderr.decode(errors="replace").splitlines()
    console = [line for line in log if ":CONSOLE" in line]
    return done.stdout.decode(), console


def pixel_shares(png: Path) -> tuple[float, float]:
    """Shares of pixels in the grid fill colours (yellow–red) and in the bare map background."""
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    warm = (red - blue > 40) & (red >= green)
    background = (np.abs(pixels - 221) <= 2).all(axis=-1)  # Leaflet's #ddd, no tiles
    return float(warm.mean()), float(background.mean())


def test_browser_harness_catches_a_cdn_page(chromium, tmp_path) -> None:
    """Control: a page that loads Leaflet from a CDN breaks under the same flags."""
    page = tmp_path / "cdn.html"
    page.write_text(
        '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"></script>'
        "<script>L.map(document.body)</script>"
    )
    _, console = browse(chromium, page.as_uri(), tmp_path / "profile", tmp_path / "cdn.png")
    assert any("Uncaught" in line for line in console)


@pytest.mark.parametrize("level", ["county", "township", "village", "grid"])
def test_maps_draw_offline_in_chromium(
    chromium, map_server, maps_url, map_codes, level, tmp_path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{level}.png"
    screenshot.unlink(missing_ok=True)
    token = identities.token(maps_url, "county.513401")
    dom, console = browse_signed_in(
        chromium, f"{map_server}/maps/{map_codes[level]}", token, screenshot
    )
    assert console == [], console  # no uncaught error, no failed script
    assert 'class="leaflet-control-layers' in dom
    for name in EXPECTED_LAYERS[level]:
        assert name in dom, name
    assert "leaflet-control-attribution" in dom and "tianditu" not in dom
    polygons, background = pixel_shares(screenshot)
    assert polygons > 0.05, f"{screenshot} looks blank ({polygons:.1%} polygon pixels)"
    # The view fits the unit: some bare background shows around it (not zoomed into a corner).
    assert background > 0.05, f"{screenshot} is not fitted ({background:.1%} background)"


def test_standalone_file_draws_offline_in_chromium(
    chromium, maps_engine, map_codes, tmp_path
) -> None:
    """The CLI's self-contained file: opened from disk, no server and no network."""
    with Session(maps_engine) as session:
        page = maps.inline_assets(maps.render(maps.unit_map(session, map_codes["village"])))
    path = tmp_path / "map.html"
    path.write_text(page, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "standalone.png"
    dom, console = browse(chromium, path.as_uri(), tmp_path / "profile", screenshot)
    assert console == [], console
    assert "网格 (" in dom and 'class="leaflet-control-layers' in dom
    polygons, background = pixel_shares(screenshot)
    assert polygons > 0.05 and background > 0.05


def test_a_relocation_plan_map_draws_offline_in_chromium(chromium, maps_engine, tmp_path) -> None:
    """A plan's flow map, as `gridmap relocate -o` writes it, opened from disk offline."""
    from gridmap import sites
    from gridmap.relocation import plans

    with Session(maps_engine) as session, session.begin():
        villages = db.units.read(session, county=COUNTY, level="village")
        villages = villages.sort_values("households", ascending=False)
        points = villages.geometry.representative_point().values
        given = [
            sites.SiteIn(
                code=f"CH{i}",
                name=f"浏览器测试避难场所{i}",
                kind="shelter",
                capacity_households=5_000,
                capacity_persons=20_000,
                geom=points[i],
            )
            for i in (3, 4, 5)
        ]
        sites.add(session, given, county=COUNTY)
        hazard = points[0].buffer(0.004)
        result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
        page = maps.inline_assets(maps.render(maps.plan_map(session, result)))
        session.rollback()
    path = tmp_path / "plan.html"
    path.write_text(page, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "relocation-plan.png"
    dom, console = browse(chromium, path.as_uri(), tmp_path / "profile", screenshot)
    assert console == [], console
    assert "搬迁流向 (" in dom and "安置点 (3)" in dom and "风险区" in dom
    assert 'class="leaflet-control-layers' in dom and screenshot.stat().st_size > 10_000
