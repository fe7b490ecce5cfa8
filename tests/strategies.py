"""Hypothesis strategies for lon/lat in and around China, shared by the test modules."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from gridmap.crs import in_mainland_china

# Bounding box of China's land (including Hainan, excluding the South China Sea islands).
china_lon = st.floats(73.5, 135.1, allow_nan=False)
china_lat = st.floats(18.1, 53.6, allow_nan=False)

# Boxes lying wholly inside the mainland polygon, well away from coasts and borders, so drawing
# from them almost never needs filtering (checked by tests/test_crs.py).
MAINLAND_BOXES: dict[str, tuple[float, float, float, float]] = {
    "sichuan": (103.5, 28.5, 107.5, 31.5),
    "hunan": (110.5, 25.8, 113.5, 29.0),
    "henan": (112.0, 32.5, 115.5, 35.5),
    "guangdong": (112.5, 23.3, 115.0, 24.5),
    "tarim": (80.0, 37.5, 88.0, 41.0),
    "tibet": (86.0, 29.5, 95.0, 33.0),
    "inner_mongolia": (108.0, 39.5, 112.0, 41.5),
    "heilongjiang": (124.0, 44.0, 128.0, 47.0),
}


@st.composite
def _box_point(draw: st.DrawFn) -> tuple[float, float]:
    """Draw a box, then a lon/lat inside it."""
    lon_min, lat_min, lon_max, lat_max = draw(st.sampled_from(list(MAINLAND_BOXES.values())))
    lon = draw(st.floats(lon_min, lon_max, allow_nan=False))
    lat = draw(st.floats(lat_min, lat_max, allow_nan=False))
    return lon, lat


def mainland_points() -> st.SearchStrategy[tuple[float, float]]:
    """Lon/lat points in mainland China (where GCJ-02 applies), spread over eight regions."""
    return _box_point().filter(lambda point: bool(in_mainland_china(*point)))


def mainland_arrays(
    max_size: int = 20,
) -> st.SearchStrategy[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Batches of mainland points as (lon, lat) float64 arrays, to exercise vectorized code."""
    points = st.lists(mainland_points(), min_size=1, max_size=max_size)
    return points.map(lambda rows: tuple(np.array(rows, dtype=np.float64).T))
