"""Vendored assets: every script, stylesheet, image and font a map loads, served locally.

Everything lives under :data:`VENDOR_DIR` (``gridmap/static/vendor``, written by
``scripts/vendor_assets.sh``) and is served at :data:`ASSET_ROUTE`. :func:`localize` points a
folium map's links there (and refuses a resource with no vendored copy), :func:`inline_assets`
embeds them for a page opened from disk, and :func:`external_urls` finds any link that would
leave the serving host.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import branca.colormap
import folium
from branca.element import Figure, JavascriptLink

from gridmap.errors import NotFoundError

# Found through the package, not this file's place in it; gridmap is installed unzipped
# (wheel or editable), so this is a real directory.
VENDOR_DIR = Path(str(resources.files("gridmap") / "static" / "vendor")).resolve()
ASSET_ROUTE = "/static/vendor"  # where api/routers/maps.py serves VENDOR_DIR

# folium/branca resource name → vendored file under VENDOR_DIR. A name missing here makes
# unit_map fail loudly (a folium upgrade added an asset: vendor it, then map it here).
ASSETS: dict[str, str] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/js/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/css/bootstrap.min.css",
    "glyphicons_css": "glyphicons/css/bootstrap-glyphicons.css",
    "awesome_markers": "awesome-markers/leaflet.awesome-markers.js",
    "awesome_markers_css": "awesome-markers/leaflet.awesome-markers.css",
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_rotate_css": "awesome-markers/leaflet.awesome.rotate.min.css",
    "markerclusterjs": "markercluster/leaflet.markercluster.js",
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": "leaflet-heat/leaflet-heat.js",
    "vectorGrid": "vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "d3": "d3/d3.min.js",
}


def _elements(root: Any) -> Iterator[Any]:
    yield root
    for child in list(root._children.values()):
        yield from _elements(child)


def localize(m: folium.Map, asset_url: str) -> folium.Map:
    """Point every JS/CSS link of ``m`` and its plugins at the vendored copies under ``asset_url``.

    Raises RuntimeError for an asset with no vendored copy, so a folium upgrade that adds one
    fails in tests instead of silently loading from a CDN.
    """
    base = asset_url.rstrip("/")
    for element in _elements(m):
        for attribute in ("default_js", "default_css"):
            links = getattr(element, attribute, None)
            if not links:
                continue
            missing = [name for name, _ in links if name not in ASSETS]
            if missing:
                raise RuntimeError(
                    f"folium asset(s) {missing} have no vendored copy: add them to "
                    "scripts/vendor_assets.sh and gridmap.maps.ASSETS"
                )
            # An instance attribute: folium's add_js_link would mutate the class-wide list.
            setattr(element, attribute, [(name, f"{base}/{ASSETS[name]}") for name, _ in links])
    return m


class Legend(branca.colormap.StepColormap):
    """branca's step-colour legend, loading d3 from the vendored copy instead of a CDN."""

    def __init__(self, *args: Any, d3_url: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.d3_url = d3_url

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # branca returns None too
        """Render as branca does, then replace its CDN d3 link with the local one."""
        super().render(**kwargs)  # type: ignore[no-untyped-call]
        figure = self.get_root()
        assert isinstance(figure, Figure)
        figure.header.add_child(JavascriptLink(self.d3_url), name="d3")


# src/href attributes and CSS url(...) references in a page.
_URL_PATTERN = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']([^"']*)["'])|(?:url\(\s*["']?([^"')]*)["']?\s*\))""",
    re.IGNORECASE,
)


def page_urls(page: str) -> list[str]:
    """Every src/href attribute value and CSS ``url(...)`` in an HTML page, in order."""
    return [a or b for a, b in _URL_PATTERN.findall(page)]


def is_local_url(url: str) -> bool:
    """True for a URL the browser resolves without leaving the serving host (or a data: URI)."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return True
    return not parts.scheme and not parts.netloc  # relative or absolute path, no //host


def external_urls(page: str) -> list[str]:
    """The src/href/url(...) references of ``page`` that would leave the serving host."""
    return [url for url in page_urls(page) if url and not is_local_url(url)]


def asset_path(relative: str) -> Path:
    """The vendored file at ``relative`` (as served under ASSET_ROUTE); refuse paths outside it."""
    root = VENDOR_DIR
    try:
        candidate = (root / relative).resolve()
        found = candidate.is_relative_to(root) and candidate.is_file()
    except (ValueError, OSError):  # an embedded NUL byte, a name too long for the filesystem
        found = False
    if not found:
        raise NotFoundError(f"no vendored asset {relative!r}", path=relative)
    return candidate


# What a standalone page embeds; other font formats (ttf, eot, woff, svg fonts) are fallbacks
# for browsers without woff2, which Leaflet 1.9 does not support anyway.
_MEDIA_TYPES = {".png": "image/png", ".woff2": "font/woff2"}


def _data_uri(path: Path) -> str:
    media = _MEDIA_TYPES.get(path.suffix)
    if media is None:
        return "data:,"  # an empty fallback: valid CSS, never fetched while woff2 loads
    return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _inline_css(path: Path) -> str:
    """A vendored stylesheet with its images and fonts as data: URIs."""

    def embed(match: re.Match[str]) -> str:
        url = match.group(1)
        if url.startswith(("data:", "#")):
            return match.group(0)
        parts = urlsplit(url)
        target = (path.parent / parts.path).resolve()
        return f'url("{_data_uri(target)}")'

    return re.sub(r"url\(\s*['\"]?([^'\")]*)['\"]?\s*\)", embed, path.read_text(encoding="utf-8"))


def inline_assets(page: str, asset_url: str = ASSET_ROUTE) -> str:
    """Embed every vendored script and stylesheet of ``page`` (fonts and images as data: URIs).

    The result is one self-contained file that opens offline from any disk or USB stick;
    it weighs about 2.5 MB more than the linked page (Font Awesome's fonts are most of it).
    """
    base = re.escape(asset_url.rstrip("/"))

    def script(match: re.Match[str]) -> str:
        code = asset_path(match.group(1)).read_text(encoding="utf-8")
        return "<script>" + code.replace("</script", "<\\/script") + "</script>"

    def sheet(match: re.Match[str]) -> str:
        return "<style>" + _inline_css(asset_path(match.group(1))) + "</style>"

    page = re.sub(rf'<script src="{base}/([^"]+)"></script>', script, page)
    return re.sub(rf'<link rel="stylesheet" href="{base}/([^"]+)"\s*/?>', sheet, page)
