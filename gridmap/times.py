"""Times that clients send (设备时间, 定位时间): bounded, timezone-aware, stored in UTC.

A phone's clock can be wrong by years and a fuzzer's by millennia. PostgreSQL stores
``timestamptz`` from 4713 BC to 294276 AD, but Python's ``datetime`` ends at year 9999, so one
accepted far-future time made every read that returned it fail. Every client time therefore
passes :func:`check` before it is stored: it must carry an offset, and it must lie within
``[earliest, now + ahead]`` (by default 2000-01-01 to one day after the server's clock, both
configurable). What is stored is the same instant in UTC, whatever offset it came with
(RFC 3339 allows offsets PostgreSQL refuses, such as +15:59).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gridmap.errors import InvalidInputError

DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_AHEAD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The window a client time must fall in: from ``earliest`` to ``ahead`` after now."""

    earliest: datetime = DEFAULT_EARLIEST
    ahead: timedelta = DEFAULT_AHEAD

    def latest(self, now: datetime) -> datetime:
        """The latest acceptable time at ``now``."""
        return now.astimezone(UTC) + self.ahead


DEFAULT = Bounds()


def check(value: datetime, *, now: datetime, field: str, bounds: Bounds = DEFAULT) -> datetime:
    """``value`` in UTC, or InvalidInputError naming ``field`` and the window it missed.

    >>> from datetime import timezone
    >>> now = datetime(2026, 12, 3, tzinfo=UTC)
    >>> check(datetime(2026, 12, 2, 10, tzinfo=timezone(timedelta(hours=15, minutes=59))),
    ...       now=now, field="t").isoformat()
    '2026-12-01T18:01:00+00:00'
    >>> check(datetime(9999, 12, 31, tzinfo=UTC), now=now, field="device_time")
    Traceback (most recent call last):
    ...
    gridmap.errors.InvalidInputError: device_time 9999-12-31T00:00:00+00:00 is after \
2026-12-04T00:00:00+00:00 (now + 1 day, 0:00:00): check the phone's clock
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{field} needs a timezone offset (e.g. 2026-11-23T08:00:00+08:00)", field=field
        )
    latest = bounds.latest(now)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is in year 10000 in UTC
        raise InvalidInputError(
            f"{field} {value.isoformat()} is after {latest.isoformat()}: check the phone's clock",
            field=field,
        ) from None
    if utc < bounds.earliest:
        raise InvalidInputError(
            f"{field} {utc.isoformat()} is before {bounds.earliest.isoformat()}: "
            "check the phone's clock",
            field=field,
        )
    if utc > latest:
        raise InvalidInputError(
            f"{field} {utc.isoformat()} is after {latest.isoformat()} "
            f"(now + {bounds.ahead}): check the phone's clock",
            field=field,
        )
    return utc


def check_all(
    values: Sequence[datetime], *, now: datetime, field: str, bounds: Bounds = DEFAULT
) -> list[datetime]:
    """:func:`check` for each of ``values``; the error names the first bad one's position."""
    checked = []
    for n, value in enumerate(values):
        checked.append(check(value, now=now, field=f"{field}[{n}]", bounds=bounds))
    return checked
