"""The shapely reference the lookup is checked against (tests, benchmarks, notebooks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridmap import geometry
from gridmap.lookup.layer import check_layer, check_points


def reference_locate(
    codes: Sequence[str] | ArrayLike, geoms: ArrayLike, lon: ArrayLike, lat: ArrayLike
) -> NDArray[np.int64]:
    """Locate points with shapely alone (exact ``covers``, lower code wins), to check ``locate``.

    Answers index the sorted ``codes``, as ``locate`` does; -1 outside every unit.
    """
    _, geoms_arr, _ = check_layer(codes, geoms)
    lon_arr, lat_arr, shape = check_points(lon, lat)
    return geometry.covering_index(lon_arr, lat_arr, geoms_arr).reshape(shape)
