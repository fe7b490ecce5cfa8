"""Vector tiles (矢量瓦片): grids and households cut as Mapbox vector tiles in PostGIS.

Served at :data:`TILE_ROUTE` ``/{layer}/{z}/{x}/{y}.pbf?under=CODE`` and drawn on the page by
Leaflet.VectorGrid; each layer is cut only from its :data:`TILE_MIN_ZOOM` on.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from gridmap import codes, db
from gridmap.db.scope import EVERYTHING, Scope
from gridmap.errors import InvalidCodeError, InvalidInputError, NotFoundError

# Where api/routers/maps.py serves vector tiles: {TILE_ROUTE}/{layer}/{z}/{x}/{y}.pbf
TILE_ROUTE = "/tiles"
# Smallest zoom each vector-tile layer is cut at (below it tiles come back empty): a z14 tile
# of a county seat holds ~300 kB of households, a z12 one over 2 MB.
TILE_MIN_ZOOM: dict[str, int] = {"grids": 8, "households": 15}
MAX_TILE_ZOOM = 22


def code_level(code: str) -> str:
    """The level of a well-formed division code (a map's subject, a tile's ``under``), else
    InvalidCodeError.

    Only ASCII digits count: "²".isdigit() is True, yet int("²") fails in gridmap.codes.
    """
    if not code.isascii():
        raise InvalidCodeError(
            f"code {code!r} is not a division code: expected 6 (county), 9 (township), "
            "12 (village) or 15 (grid) ASCII digits",
            code=code,
        )
    level = codes.level_of(code)
    codes.check_code(code, level)
    return level


def vector_tile(
    session: Session,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    under: str = "",
    scope: Scope = EVERYTHING,
    names: bool = True,
) -> bytes:
    """One Mapbox vector tile of ``layer`` (grids or households) under the code ``under``:
    households only inside ``scope``, grid workers' names only if ``names``.

    Below the layer's TILE_MIN_ZOOM the tile is empty: such tiles would be megabytes.
    """
    if layer not in TILE_MIN_ZOOM:
        raise NotFoundError(
            f"no vector tile layer {layer!r}: use one of {', '.join(TILE_MIN_ZOOM)}", layer=layer
        )
    if not 0 <= z <= MAX_TILE_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInputError(
            f"tile {z}/{x}/{y} does not exist: z must be 0–{MAX_TILE_ZOOM} and x, y 0–2^z−1",
            z=z,
            x=x,
            y=y,
        )
    if under:
        code_level(under)
    if z < TILE_MIN_ZOOM[layer]:
        return b""
    return db.maps.tile(session, layer, z, x, y, prefix=under, scope=scope, names=names)
