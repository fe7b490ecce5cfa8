"""Division codes (统计用区划代码) and grid codes (网格编码).

County 6 digits (GB/T 2260), township 9 = county + 3, village 12 = township + 3, grid 15 =
village + 3. The 3-digit block says the kind: townships 001–099 街道 (subdistrict), 100–199 镇
(town), 200–399 乡 (township); villages 001–199 居委会/社区 (community), 200–399 村委会 (village).
Merged communities may carry codes from 400 up (CJ/T 349 uses 601+), which we accept as
community codes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gridmap.errors import InvalidCodeError

Level = Literal["county", "township", "village", "grid"]
LEVELS: tuple[Level, ...] = ("county", "township", "village", "grid")
CODE_LENGTH: dict[str, int] = {"county": 6, "township": 9, "village": 12, "grid": 15}
LEVEL_BY_LENGTH: dict[int, Level] = {6: "county", 9: "township", 12: "village", 15: "grid"}
LEVEL_NAMES_ZH: dict[str, str] = {
    "county": "县级",
    "township": "乡级",
    "village": "村级",
    "grid": "网格",
}
KIND_NAMES_ZH: dict[str, str] = {
    "county": "县/区",
    "subdistrict": "街道",
    "town": "镇",
    "township": "乡",
    "community": "社区",
    "village": "行政村",
    "grid": "网格",
}
URBAN_RURAL_ZH: dict[str, str] = {
    "111": "主城区",
    "112": "城乡结合区",
    "121": "镇中心区",
    "122": "镇乡结合区",
    "123": "特殊区域",
    "210": "乡中心区",
    "220": "村庄",
}


def check_level(level: str) -> Level:
    """Return ``level`` if it is a known level, else raise naming the valid ones."""
    if level not in CODE_LENGTH:
        raise InvalidCodeError(
            f"unknown level {level!r}: use one of {', '.join(LEVELS)}", level=level
        )
    return level  # type: ignore[return-value]


def level_of(code: str) -> Level:
    """Return the level a code belongs to, from its length.

    Examples
    --------
    >>> level_of("513401")
    'county'
    >>> level_of("513401100201")
    'village'
    """
    if (
        not isinstance(code, str)
        or not (code.isascii() and code.isdigit())
        or len(code) not in LEVEL_BY_LENGTH
    ):
        raise InvalidCodeError(
            f"code {code!r} is not a division code: expected 6 (county), 9 (township), "
            "12 (village) or 15 (grid) digits",
            code=code,
        )
    return LEVEL_BY_LENGTH[len(code)]


def parent_of(code: str) -> str | None:
    """Return the code one level up (grid → village → township → county), None for a county.

    Examples
    --------
    >>> parent_of("513401001001001")
    '513401001001'
    >>> parent_of("513401001")
    '513401'
    >>> parent_of("513401") is None
    True
    """
    level = level_of(code)
    return None if level == "county" else code[:-3]


def kind_of(code: str) -> str:
    """Return the kind a code's block implies (subdistrict/town/township, community/village).

    Examples
    --------
    >>> kind_of("513401001")
    'subdistrict'
    >>> kind_of("513401102")
    'town'
    >>> kind_of("513401102203")
    'village'
    """
    level = level_of(code)
    if level in ("county", "grid"):
        return level
    block = int(code[-3:])
    if level == "township":
        if 1 <= block <= 99:
            return "subdistrict"
        if 100 <= block <= 199:
            return "town"
        if 200 <= block <= 399:
            return "township"
        raise InvalidCodeError(
            f"township code {code} has block {code[-3:]}: townships use 001–099 (街道), "
            "100–199 (镇) or 200–399 (乡)",
            code=code,
        )
    if 1 <= block <= 199 or block >= 400:
        return "community"
    if 200 <= block <= 399:
        return "village"
    raise InvalidCodeError(
        f"village code {code} has block 000: villages use 001–199 (社区) or 200–399 (村)",
        code=code,
    )


def check_code(code: str, level: str) -> str:
    """Return ``code`` if it is well formed for ``level``, else raise a clear error."""
    check_level(level)
    if (
        not isinstance(code, str)
        or not (code.isascii() and code.isdigit())
        or len(code) != CODE_LENGTH[level]
    ):
        raise InvalidCodeError(
            f"{level} code {code!r} must be {CODE_LENGTH[level]} digits", code=code, level=level
        )
    if level == "grid" and code.endswith("000"):
        raise InvalidCodeError(f"grid code {code} has sequence 000: grids start at 001", code=code)
    if level in ("township", "village"):
        kind_of(code)
    return code


def grid_code(village_code: str, sequence: int) -> str:
    """Return the 15-digit code of the ``sequence``-th grid (1-based) of a village.

    Examples
    --------
    >>> grid_code("513401102203", 7)
    '513401102203007'
    """
    check_code(village_code, "village")
    if not 1 <= sequence <= 999:
        raise InvalidCodeError(
            f"grid sequence {sequence} out of 1–999 in village {village_code}",
            village_code=village_code,
        )
    return f"{village_code}{sequence:03d}"


def reading_order(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """Order points north→south in rows, west→east inside a row (the grid numbering rule)."""
    if len(lon) <= 1:
        return np.arange(len(lon))
    # Rows are as tall as a typical spacing between points, so a slightly lower neighbour to the
    # east still counts as the same row.
    span = max(np.ptp(lat), 1e-9)
    row_height = span / max(1.0, np.sqrt(len(lat)))
    rows = np.floor((lat.max() - lat) / row_height).astype(np.int64)
    return np.lexsort((lon, rows))
