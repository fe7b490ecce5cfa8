"""Open311 GeoReport v2 (placeholder, being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["open311"])
