"""The two formats of every Open311 resource, XML (required by the spec) and JSON, chosen by the
path suffix; failures as the spec's ``errors`` document, never a 500.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request, Response

from api.deps import json_response
from api.open311.arguments import check_query
from api.open311.errors import Open311Error, translate
from gridmap.errors import GridmapError

FORMATS = ("xml", "json")
MEDIA_TYPES = ["text/xml", "application/json"]
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
# XML element names of list items, by the element holding the list.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
}
# What /openapi.json says of every Open311 resource: the document in either format, and the
# spec's errors document (not problem+json) for any 4xx.
_ERRORS_JSON = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "the resource, as XML (.xml) or JSON (.json)",
        "content": {
            "application/json": {"schema": {"type": ["array", "object"]}},
            "text/xml": {"schema": {"type": "string"}},
        },
    },
    "4XX": {
        "description": "GeoReport v2 errors document: [{code, description}]",
        "content": {
            "application/json": {"schema": _ERRORS_JSON},
            "text/xml": {"schema": {"type": "string"}},
        },
    },
}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> str | None:
    """Element text: booleans as the spec writes them, characters XML 1.0 forbids dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("", str(value))


def _element(name: str, value: Any) -> ET.Element:
    """One element: mappings become children, lists become repeated items named by ITEM_NAMES."""
    element = ET.Element(name)
    if isinstance(value, Mapping):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        element.extend(_element(ITEM_NAMES[name], item) for item in value)
    else:
        element.text = _xml_text(value)
    return element


def render(kind: str, root: str, body: Any, status: int = 200) -> Response:
    """``body`` as JSON, or as XML under the ``root`` element the spec names."""
    if kind == "json":
        return json_response(body, status)
    document = XML_DECLARATION + ET.tostring(_element(root, body), encoding="utf-8")
    return Response(document, status_code=status, media_type=XML_MEDIA_TYPE)


def render_error(kind: str, error: Open311Error) -> Response:
    """The spec's error document: ``[{code, description}]`` / ``<errors><error>…``."""
    body = [{"code": error.code, "description": error.description}]
    return render(kind, "errors", body, error.code)


async def serve(
    request: Request,
    format: str,
    root: str,
    work: Callable[[], Awaitable[Any]],
    *,
    status: int = 200,
    posting: bool = False,
) -> Response:
    """Check the format suffix and the query, run ``work`` and render its answer or failure."""
    kind = format.lower()
    if kind not in FORMATS:
        message = f"unknown format {format!r}; add .xml or .json to the resource"
        return render_error("xml", Open311Error(404, message))
    try:
        check_query(request)
        body = await work()
    except Open311Error as error:
        return render_error(kind, error)
    except GridmapError as error:
        return render_error(kind, translate(error, posting=posting))
    return render(kind, root, body, status)
