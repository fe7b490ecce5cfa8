"""Division codes (统计用区划代码) and grid codes (网格编码).

County 6 digits (GB/T 2260), township 9 = county + 3, village 12 = township + 3, grid 15 =
village + 3. The 3-digit block says the kind: townships 001–099 街道 (subdistrict), 100–199 镇
(town), 200–399 乡 (township); villages 001–199 居委会/社区 (community), 200–399 村委会 (village).
Merged communities may carry codes from 400 up (CJ/T 349 uses 601+), which we accept as
community codes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridmap.errors import InvalidCodeError
from gridmap.vocabulary import Level, UnitKind

LEVEL_BY_LENGTH: dict[int, Level] = {level.code_length: level for level in Level}


def check_level(level: str) -> Level:
    """Return ``level`` as a :class:`Level` if it is known, else raise naming the valid ones.

    >>> check_level("village")
    <Level.VILLAGE: 'village'>
    """
    if level not in Level.values():
        raise InvalidCodeError(
            f"unknown level {level!r}: use one of {', '.join(Level)}", level=level
        )
    return Level(level)


def level_of(code: str) -> Level:
    """Return the level a code belongs to, from its length.

    Examples
    --------
    >>> level_of("513401")
    <Level.COUNTY: 'county'>
    >>> level_of("513401100201").zh
    '村级'
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
    return None if level_of(code) is Level.COUNTY else code[:-3]


def kind_of(code: str) -> UnitKind:
    """Return the kind a code's block implies (subdistrict/town/township, community/village).

    Examples
    --------
    >>> kind_of("513401001")
    <UnitKind.SUBDISTRICT: 'subdistrict'>
    >>> kind_of("513401102").zh
    '镇'
    >>> kind_of("513401102203")
    <UnitKind.VILLAGE: 'village'>
    """
    level = level_of(code)
    if level in (Level.COUNTY, Level.GRID):
        return UnitKind(level.value)
    block = int(code[-3:])
    if level is Level.TOWNSHIP:
        if 1 <= block <= 99:
            return UnitKind.SUBDISTRICT
        if 100 <= block <= 199:
            return UnitKind.TOWN
        if 200 <= block <= 399:
            return UnitKind.TOWNSHIP
        raise InvalidCodeError(
            f"township code {code} has block {code[-3:]}: townships use 001–099 (街道), "
            "100–199 (镇) or 200–399 (乡)",
            code=code,
        )
    if 1 <= block <= 199 or block >= 400:
        return UnitKind.COMMUNITY
    if 200 <= block <= 399:
        return UnitKind.VILLAGE
    raise InvalidCodeError(
        f"village code {code} has block 000: villages use 001–199 (社区) or 200–399 (村)",
        code=code,
    )


def check_code(code: str, level: str) -> str:
    """Return ``code`` if it is well formed for ``level``, else raise a clear error."""
    level = check_level(level)
    if (
        not isinstance(code, str)
        or not (code.isascii() and code.isdigit())
        or len(code) != level.code_length
    ):
        raise InvalidCodeError(
            f"{level} code {code!r} must be {level.code_length} digits", code=code, level=level
        )
    if level is Level.GRID and code.endswith("000"):
        raise InvalidCodeError(f"grid code {code} has sequence 000: grids start at 001", code=code)
    if level in (Level.TOWNSHIP, Level.VILLAGE):
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
