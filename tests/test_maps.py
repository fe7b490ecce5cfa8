"""Tests for gridmap.maps: layers per level, offline assets, basemap rules, page size.

Maps are drawn from the committed demo database (synthetic 西昌市) inside a rolled-back
transaction. The "no external URL" check parses the HTML with the standard library's parser,
independently of the regex gridmap.maps uses for the same purpose.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import folium
import folium.plugins
import numpy as np
import pytest
from sqlalchemy.orm import Session

import shapely

import gridmap
from gridmap import db, incidents, maps, workers
from gridmap.errors import InvalidCodeError, InvalidInputError, NotFoundError, UnknownCodeError

COUNTY = "513401"
MAX_PAGE_BYTES = 5_000_000


class Links(HTMLParser):
    """Every src/href attribute, and every CSS url(...) in <style> blocks and style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(values[name] or "")
        if values.get("style"):
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]*)", values["style"] or "")
        if tag == "script" and values.get("src"):
            self.scripts.append(values["src"] or "")
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]*)", data)

    def handle_endtag(self, tag: str) -> None:  # noqa: ARG002  (HTMLParser's signature)
        self._in_style = False


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


def unescaped(page: str) -> str:
    """The page with JSON's \\uXXXX escapes decoded (folium's tojson escapes CJK and <>&)."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)


def leaves_host(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("", "data") or bool(parts.netloc)


def first(session: Session, level: str, under: str = COUNTY) -> str:
    codes = db.units.read(session, county=COUNTY, level=level)["code"]
    return str(codes[codes.str.startswith(under)].iloc[0])


@pytest.fixture(scope="module")
def sample_codes(demo_engine) -> dict[str, str]:
    """One code of each level inside the demo county (nested: the grid is in the village…)."""
    with Session(demo_engine) as session:
        township = first(session, "township")
        village = first(session, "village", township)
        grid = first(session, "grid", village)
    return {"county": COUNTY, "township": township, "village": village, "grid": grid}


@pytest.mark.parametrize("level", ["county", "township", "village", "grid"])
def test_every_level_renders_with_only_vendored_assets(demo_tx, sample_codes, level) -> None:
    page = maps.render(maps.unit_map(demo_tx, sample_codes[level]))
    found = links(page)
    assert [url for url in found.urls if leaves_host(url)] == []
    assert maps.external_urls(page) == []
    assert found.scripts and found.stylesheets
    for url in found.scripts + found.stylesheets:
        assert url.startswith(maps.ASSET_ROUTE + "/"), url
        assert maps.asset_path(url.removeprefix(maps.ASSET_ROUTE + "/")).stat().st_size > 0
    # Leaflet and the legend's d3 come from the vendor folder (plugins: see the incidents test).
    for asset in ("leaflet/leaflet.js", "d3/d3.min.js"):
        assert f"{maps.ASSET_ROUTE}/{asset}" in found.scripts


def test_layers_follow_the_level(demo_tx, sample_codes) -> None:
    county = maps.load(demo_tx, COUNTY)
    assert list(county.outlines) == ["village", "township", "county"]
    assert len(county.outlines["township"]) > 30 and len(county.outlines["village"]) > 200
    assert county.grids["code"].str.startswith(COUNTY).all() and len(county.grids) > 1000

    township = maps.load(demo_tx, sample_codes["township"])
    assert list(township.outlines) == ["village", "township"]
    assert township.outlines["village"]["code"].str.startswith(sample_codes["township"]).all()
    assert township.grids["code"].str.startswith(sample_codes["township"]).all()

    village = maps.load(demo_tx, sample_codes["village"])
    assert list(village.outlines) == ["village"]
    assert set(village.grids["parent_code"]) == {sample_codes["village"]}

    grid = maps.load(demo_tx, sample_codes["grid"])
    assert grid.grids["code"].tolist() == [sample_codes["grid"]]
    assert grid.outlines["village"]["code"].tolist() == [sample_codes["village"]]


def test_grids_name_their_primary_worker(demo_tx, sample_codes) -> None:
    data = maps.load(demo_tx, sample_codes["village"])
    staff = db.workers.grid_workers(demo_tx, data.grids["code"].tolist())
    for code, worker in zip(data.grids["code"], data.grids["worker"], strict=True):
        primary = [row.name for row in staff.get(code, []) if row.duty == "primary"]
        assert worker == (primary[0] if primary else maps.LABELS["zh"]["none"])


def test_layer_control_lists_layers_in_chinese_and_english(demo_tx, sample_codes) -> None:
    zh = unescaped(maps.render(maps.unit_map(demo_tx, sample_codes["township"])))
    for name in ("网格 (", "村(社区) (", "乡镇(街道)", "事件 (", "事件热力图 (", "在岗网格员 ("):
        assert name in zh
    assert "L.control.layers" in zh and "网格户数" in zh
    en = unescaped(maps.render(maps.unit_map(demo_tx, sample_codes["township"], lang="en")))
    for name in ("Grids (", "Villages (", "Townships", "Incidents (", "On-duty workers ("):
        assert name in en


def test_incidents_and_workers_are_drawn(demo_tx, demo_index, sample_codes) -> None:
    data = maps.load(demo_tx, sample_codes["village"])
    grids = data.grids
    points = shapely.get_coordinates(grids.geometry.representative_point().values)
    for lon, lat in points[:3]:
        incidents.report_incident(
            demo_tx, demo_index, incidents.Report(lon=lon, lat=lat, category="0501")
        )
    _, staff = workers.search(demo_tx, code=grids["code"].iloc[0], on_duty=True, limit=1)
    lon, lat = points[0]
    workers.record_track(demo_tx, staff[0]["id"], [lon], [lat], [datetime.now(UTC)])

    data = maps.load(demo_tx, sample_codes["village"])
    assert data.incidents_total >= 3
    assert any(w["id"] == staff[0]["id"] and w["lon"] is not None for w in data.workers)
    page = maps.render(maps.draw(data))
    assert "L.markerClusterGroup" in page and "L.heatLayer" in page
    scripts = links(page).scripts
    for asset in ("markercluster/leaflet.markercluster.js", "leaflet-heat/leaflet-heat.js"):
        assert f"{maps.ASSET_ROUTE}/{asset}" in scripts
    assert maps.external_urls(page) == []
    assert maps.STAGE_COLORS["reported"] in page  # markers coloured by stage, with a legend
    assert "gridmap-stages" in page
    assert staff[0]["name"] in unescaped(page)


def test_names_are_escaped(demo_tx, sample_codes) -> None:
    """Tooltips go into innerHTML: a worker named like markup must stay text."""
    grid = sample_codes["grid"]
    [worker_id] = workers.add(
        demo_tx,
        [workers.NewWorker(COUNTY, "<img src=x onerror=alert(1)>", supporting_grids=(grid,))],
    )
    page = unescaped(maps.render(maps.unit_map(demo_tx, grid)))
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert worker_id > 0


def test_county_page_stays_under_5_mb(demo_tx) -> None:
    page = maps.render(maps.unit_map(demo_tx, COUNTY))
    assert len(page.encode()) < MAX_PAGE_BYTES
    # Coordinates carry at most 6 decimals.
    assert not re.search(r"\d+\.\d{7,}", page.split("L.geoJson", 1)[1][:200_000])


def test_simplify_reduces_vertices_and_rounds() -> None:
    angles = np.linspace(0, 2 * np.pi, 2001)[:-1]
    circle = shapely.Polygon(np.c_[102.2 + 0.01 * np.cos(angles), 27.9 + 0.01 * np.sin(angles)])
    out = maps.simplify([circle, None, shapely.Polygon()], 0.0002)
    assert shapely.get_num_coordinates(out[0]) < 200
    assert out[1] is None and out[2].is_empty
    assert out[0].is_valid and shapely.hausdorff_distance(out[0], circle) <= 0.0002 + 1e-6
    coords = shapely.get_coordinates(out[0])
    assert np.array_equal(coords, np.round(coords, 6))


def test_unknown_and_malformed_codes(demo_tx) -> None:
    with pytest.raises(UnknownCodeError, match="513499"):
        maps.unit_map(demo_tx, "513499")
    with pytest.raises(InvalidCodeError):
        maps.unit_map(demo_tx, "51340")
    with pytest.raises(InvalidCodeError):
        maps.unit_map(demo_tx, "513401001001000")  # grid sequence 000


@pytest.mark.parametrize(
    "url",
    [
        "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8",
        "https://wprd01.amap.com/appmaptile?x={x}&y={y}&z={z}",
        "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={y}",
        "https://maponline0.bdimg.com/tile/?x={x}&y={y}&z={z}",
    ],
)
def test_shifted_tile_hosts_are_refused(url) -> None:
    with pytest.raises(InvalidInputError, match="GCJ-02"):
        maps.basemap_layers("custom", tile_url=url)


def test_basemaps() -> None:
    assert maps.basemap_layers(None) == []
    with pytest.raises(InvalidInputError, match="GRIDMAP_TIANDITU_KEY"):
        maps.basemap_layers("tianditu-vec")
    with pytest.raises(InvalidInputError, match="GRIDMAP_TILE_URL"):
        maps.basemap_layers("custom")
    with pytest.raises(InvalidInputError, match="unknown basemap"):
        maps.basemap_layers("amap")
    vec, notes = maps.basemap_layers("tianditu-vec", tianditu_key="k123")
    assert "vec_w" in vec.tiles and "tk=k123" in vec.tiles and "{z}" in vec.tiles
    assert "cva_w" in notes.tiles and notes.overlay
    img, img_notes = maps.basemap_layers("tianditu-img", tianditu_key="k123")
    assert "img_w" in img.tiles and "cia_w" in img_notes.tiles
    [own] = maps.basemap_layers("custom", tile_url="/tiles/base/{z}/{x}/{y}.png")
    assert own.tiles == "/tiles/base/{z}/{x}/{y}.png"
    [osm] = maps.basemap_layers("osm")
    assert "openstreetmap" in osm.tiles


def test_basemap_page_still_loads_assets_locally(demo_tx, sample_codes) -> None:
    page = maps.render(
        maps.unit_map(demo_tx, sample_codes["grid"], basemap="tianditu-img", tianditu_key="k")
    )
    assert "tianditu.gov.cn" in page  # tiles come from the network, by request
    assert maps.external_urls(page) == []  # scripts and stylesheets still do not


def test_bad_options_are_refused_before_reading(demo_tx) -> None:
    with pytest.raises(InvalidInputError, match="language"):
        maps.unit_map(demo_tx, COUNTY, lang="fr")
    with pytest.raises(InvalidInputError, match="roads"):
        maps.unit_map(demo_tx, COUNTY, layers=["grids", "roads"])


def test_layers_can_be_chosen(demo_tx, sample_codes) -> None:
    page = unescaped(maps.render(maps.unit_map(demo_tx, sample_codes["village"], layers=["grids"])))
    assert "L.markerClusterGroup" not in page
    assert "在岗网格员" not in page and "网格 (" in page


def test_unvendored_plugin_fails_loudly() -> None:
    m = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(RuntimeError, match=r"vendor_assets\.sh"):
        maps.localize(m, maps.ASSET_ROUTE)


def test_asset_path_refuses_paths_outside_the_vendor_folder() -> None:
    assert maps.asset_path("leaflet/leaflet.js").name == "leaflet.js"
    for path in ("../maps.py", "leaflet/../../maps.py", "/etc/passwd", "leaflet", "nope.js"):
        with pytest.raises(NotFoundError):
            maps.asset_path(path)


@pytest.mark.parametrize(
    "path", ["\x00", "leaflet/leaflet.js\x00", "a" * 5000, "leaflet/" + "a" * 300 + "/x.js"]
)
def test_asset_path_refuses_names_the_filesystem_cannot_open(path) -> None:
    """An embedded NUL (ValueError) or an over-long name (OSError) is just not an asset."""
    with pytest.raises(NotFoundError, match="no vendored asset"):
        maps.asset_path(path)


def test_every_vendored_css_reference_resolves() -> None:
    """Fonts and images that vendored stylesheets point at are vendored too."""
    sheets = sorted(maps.VENDOR_DIR.rglob("*.css"))
    assert len(sheets) >= 8
    for sheet in sheets:
        for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", sheet.read_text(encoding="utf-8")):
            if url.startswith(("data:", "#")):
                continue
            target = (sheet.parent / urlsplit(url).path).resolve()
            assert target.is_file(), f"{sheet.name} references missing {url}"
            assert target.is_relative_to(maps.VENDOR_DIR)


def test_every_asset_name_is_vendored() -> None:
    for relative in maps.ASSETS.values():
        assert (maps.VENDOR_DIR / relative).is_file(), relative
    versions = (maps.VENDOR_DIR / "VERSIONS.txt").read_text()
    assert "leaflet@1.9.4" in versions and "leaflet.markercluster@1.5.3" in versions
    assert Path(gridmap.__file__).parent / "static" / "vendor" == maps.VENDOR_DIR


def test_big_maps_draw_grids_from_vector_tiles(demo_tx) -> None:
    embedded = maps.render(maps.unit_map(demo_tx, COUNTY, tile_route="/tiles"))
    tiled = maps.render(maps.unit_map(demo_tx, COUNTY, tile_route="/tiles", vector_tiles_above=0))
    assert "/tiles/grids/{z}/{x}/{y}.pbf?under=513401" in tiled
    assert "/tiles/grids/" not in embedded
    assert "/tiles/households/{z}/{x}/{y}.pbf?under=513401" in embedded  # always tiled
    assert len(tiled.encode()) * 5 < len(embedded.encode())
    assert maps.external_urls(tiled) == []
    assert f"{maps.ASSET_ROUTE}/vectorgrid/Leaflet.VectorGrid.bundled.min.js" in tiled
    # Without a tile server (a page opened from disk) nothing refers to tiles.
    assert "/tiles/" not in maps.render(maps.unit_map(demo_tx, COUNTY, vector_tiles_above=0))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The Web Mercator tile (x, y) holding a point (the slippy-map formula)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    return x, y


def test_vector_tiles_hold_grids_and_households(demo_tx, sample_codes) -> None:
    grid = db.units.read(demo_tx, codes=[sample_codes["grid"]])
    point = grid.geometry.representative_point().iloc[0]
    x, y = tile_of(point.x, point.y, 15)
    grids = maps.vector_tile(demo_tx, "grids", 15, x, y, under=COUNTY)
    assert b"grids" in grids and sample_codes["grid"].encode() in grids
    households = maps.vector_tile(demo_tx, "households", 15, x, y, under=sample_codes["village"])
    assert b"households" in households and len(households) > 100
    elsewhere = maps.vector_tile(demo_tx, "grids", 15, x, y, under="513402")
    assert sample_codes["grid"].encode() not in elsewhere
    # Too far out for households: an empty tile rather than megabytes.
    assert maps.vector_tile(demo_tx, "households", 10, *tile_of(point.x, point.y, 10)) == b""


def test_vector_tile_arguments_are_checked(demo_tx) -> None:
    with pytest.raises(NotFoundError, match="roads"):
        maps.vector_tile(demo_tx, "roads", 10, 0, 0)
    with pytest.raises(InvalidInputError, match="does not exist"):
        maps.vector_tile(demo_tx, "grids", 3, 8, 0)
    with pytest.raises(InvalidInputError):
        maps.vector_tile(demo_tx, "grids", 23, 0, 0)
    with pytest.raises(InvalidCodeError):
        maps.vector_tile(demo_tx, "grids", 10, 0, 0, under="5134%")


@pytest.mark.parametrize("code", ["²" * 9, "513401²²²", "513401001²²²", "５１３４０１"])
def test_codes_need_ascii_digits(demo_tx, code) -> None:
    """ "²".isdigit() is True but int("²") raises: such codes are malformed, not a crash."""
    with pytest.raises(InvalidCodeError, match="ASCII digits"):
        maps.load(demo_tx, code)
    with pytest.raises(InvalidCodeError, match="ASCII digits"):
        maps.vector_tile(demo_tx, "grids", 10, 0, 0, under=code)


def test_popups_show_china_time(demo_tx, sample_codes) -> None:
    """The database gives UTC; popups show the time people in the county read on a clock."""
    base = maps.load(demo_tx, sample_codes["grid"], layers=("grids", "outlines"))
    lon, lat = shapely.get_coordinates(base.grids.geometry.representative_point().values)[0]
    case = {
        "id": 424242,
        "lon": lon,
        "lat": lat,
        "stage": "reported",
        "category_code": "0501",
        "grid_code": sample_codes["grid"],
        "reported_at": datetime(2026, 11, 22, 2, 30, tzinfo=UTC),  # 10:30 in 西昌
    }
    worker = {
        "name": "时区测试员",
        "role": "fulltime",
        "role_zh": "专职网格员",
        "grids": [{"code": sample_codes["grid"]}],
        "lon": lon,
        "lat": lat,
        "last_seen": datetime(2026, 11, 22, 16, 5, tzinfo=UTC),  # 00:05 the next day
    }
    data = dataclasses.replace(base, incidents=[case], incidents_total=1, workers=[worker])
    for lang in maps.LANGS:
        page = unescaped(maps.render(maps.draw(data, lang=lang)))
        assert "2026-11-22 10:30" in page and "2026-11-22 02:30" not in page
        assert "2026-11-23 00:05" in page and "2026-11-22 16:05" not in page
    english = unescaped(maps.render(maps.draw(data, lang="en")))
    assert "Stage: reported" in english  # English stage labels are the stage codes


def test_standalone_page_embeds_every_asset(demo_tx, sample_codes) -> None:
    page = maps.render(maps.unit_map(demo_tx, sample_codes["village"]))
    alone = maps.inline_assets(page)
    found = links(alone)
    assert found.scripts == [] and found.stylesheets == []
    assert maps.ASSET_ROUTE not in alone
    # Tags and inline stylesheets refer to nothing but data: URIs (and Leaflet's VML anchor).
    assert found.urls and all(url.startswith(("data:", "#")) for url in found.urls), [
        url[:40] for url in found.urls if not url.startswith(("data:", "#"))
    ]
    assert "data:font/woff2;base64," in alone and "L.control.layers" in alone
    assert len(alone.encode()) < len(page.encode()) + 3_000_000


def test_sites_are_drawn_sized_by_capacity_with_their_popup(demo_tx, sample_codes) -> None:
    from gridmap import sites

    village = maps.load(demo_tx, sample_codes["village"])
    anchor = village.outlines["village"].geometry.iloc[0].representative_point()
    given = [
        sites.SiteIn(
            code=f"M{i}",
            name=f"地图测试避难场所{i}",
            kind="shelter",
            capacity_households=100 * (i + 1),
            capacity_persons=400 * (i + 1),
            geom=shapely.Point(anchor.x + 0.0005 * i, anchor.y),
        )
        for i in range(2)
    ]
    sites.add(demo_tx, given, county=COUNTY)
    data = maps.load(demo_tx, sample_codes["village"])
    assert [s["code"] for s in data.sites] == ["M0", "M1"]
    page = unescaped(maps.render(maps.draw(data)))
    assert "安置点 (2)" in page and "地图测试避难场所1" in page and "容量(户/人)" in page
