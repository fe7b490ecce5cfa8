"""Open311 failures: an ``errors`` document with an HTTP status, and the mapping from the
library's errors onto the statuses the spec knows.
"""

from __future__ import annotations

from api.errors import status_for
from gridmap.errors import GridmapError


class Open311Error(Exception):
    """A failure rendered as an Open311 ``errors`` document with this HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def translate(error: GridmapError, *, posting: bool) -> Open311Error:
    """A library error as an Open311 error: 400 for bad input (the spec has no 422); on POST
    a missing category or a point outside coverage is bad input too.
    """
    status = status_for(error)
    if status == 422 or (posting and status == 404):
        status = 400
    return Open311Error(status, str(error))
