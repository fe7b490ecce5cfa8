"""RFC 7946 GeoJSON bodies assembled from PostGIS's own GeoJSON text (lon, lat order)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """JSON served as ``application/geo+json`` (RFC 7946), so OpenAPI files schemas under it."""

    media_type = GEOJSON


def feature(properties: dict[str, Any], geometry_json: str) -> bytes:
    """One Feature; the geometry text from ST_AsGeoJSON is spliced in without re-parsing."""
    props = orjson.dumps(properties)
    return (
        b'{"type":"Feature","geometry":' + geometry_json.encode() + b',"properties":' + props + b"}"
    )


def feature_collection(features: list[bytes], **members: Any) -> bytes:
    """A FeatureCollection with extra top-level members (paging counts, links)."""
    head = orjson.dumps({"type": "FeatureCollection", **members})[:-1]
    return head + b',"features":[' + b",".join(features) + b"]}"
