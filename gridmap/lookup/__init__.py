"""Point-to-unit lookup (定位): which county, township, village and grid hold a point.

The hot path is an in-memory H3 index: a ``Locator`` per layer of units (the counties, and each
county's finest layer), exact on edges and vertices (shapely's ``covers``, the lower code wins
on a shared edge), with ``near_boundary`` telling the caller to confirm near another unit.
``locate_point`` asks PostGIS instead, for any generation. The package's modules:

- ``layer``: one layer's exact cell table (``Locator``, ``build_locator``, ``locate``) and its
  persisted rows (``index_rows``, ``locator_from_rows``);
- ``_lattice``: H3's face lattice and the compiled point → unit kernel ``layer`` runs on;
- ``near``: ``near_boundary``, within some metres of another unit;
- ``index``: the county-sharded ``Index`` (``load_index``, ``rebuild_index``, ``warm``) and the
  answers with every level (``locate_points``, its scalar twin ``locate_one``);
- ``postgis``: ``locate_point`` through ``ST_Covers``;
- ``reference``: ``reference_locate``, shapely alone, which tests and benchmarks check against.
"""

from gridmap.lookup.index import (
    COUNTY_RESOLUTION,
    Index,
    Located,
    Location,
    load_index,
    locate_one,
    locate_points,
    rebuild_index,
    warm,
)
from gridmap.lookup.layer import Locator, build_locator, index_rows, locate, locator_from_rows
from gridmap.lookup.near import near_boundary
from gridmap.lookup.postgis import locate_point
from gridmap.lookup.reference import reference_locate

__all__ = [
    "COUNTY_RESOLUTION",
    "Index",
    "Located",
    "Location",
    "Locator",
    "build_locator",
    "index_rows",
    "load_index",
    "locate",
    "locate_one",
    "locate_point",
    "locate_points",
    "locator_from_rows",
    "near_boundary",
    "rebuild_index",
    "reference_locate",
    "warm",
]
