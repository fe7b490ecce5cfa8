"""A named catalog of canonical and broken shapes (lon/lat in 西昌), with the error each raises."""

from __future__ import annotations

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gridmap.errors import CoordinateOutOfRangeError, InvalidGeometryError

X0, Y0 = 102.15, 27.65  # inside 西昌市 (WGS84)
D = 0.01


def square(x: float = X0, y: float = Y0, d: float = D) -> Polygon:
    """An axis-aligned square with its lower-left corner at (x, y)."""
    return shapely.box(x, y, x + d, y + d)


GOOD = {
    "square": square(),
    "polygon_with_hole": Polygon(
        square().exterior.coords, [square(X0 + D / 4, Y0 + D / 4, D / 2).exterior.coords]
    ),
    "two_parts": MultiPolygon([square(), square(X0 + 2 * D)]),
    "with_z": shapely.force_3d(square(), 1500.0),
}

# (geometry, error class, words the message must contain)
BROKEN = {
    "empty": (Polygon(), InvalidGeometryError, "empty"),
    "point": (Point(X0, Y0), InvalidGeometryError, "not a polygon"),
    "line": (LineString([(X0, Y0), (X0 + D, Y0)]), InvalidGeometryError, "not a polygon"),
    "nan_vertex": (
        Polygon([(X0, Y0), (float("nan"), Y0), (X0 + D, Y0 + D)]),
        CoordinateOutOfRangeError,
        "NaN",
    ),
    "swapped_lat_lon": (
        shapely.box(Y0, X0, Y0 + D, X0 + D),
        CoordinateOutOfRangeError,
        "swapped",
    ),
    "projected_metres": (
        shapely.box(500000, 3080000, 501000, 3081000),
        CoordinateOutOfRangeError,
        "projected",
    ),
    "outside_china": (square(2.35, 48.85), CoordinateOutOfRangeError, "outside China"),
    "latitude_930": (square(X0, 930.0), CoordinateOutOfRangeError, "lat"),
}

BOWTIE = Polygon([(X0, Y0), (X0 + D, Y0 + D), (X0 + D, Y0), (X0, Y0 + D), (X0, Y0)])
