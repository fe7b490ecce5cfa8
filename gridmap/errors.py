"""Domain errors: every deliberate gridmap failure derives from GridmapError.

Each class also subclasses a builtin (ValueError, LookupError…) so plain Python callers can catch
them idiomatically; ``api/errors.py`` maps them to HTTP statuses in one table.
"""

from __future__ import annotations


class GridmapError(Exception):
    """Something the caller can fix; carries structured context for logs and API bodies."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.context = context


class InvalidGeometryError(GridmapError, ValueError):
    """Input geometry is not a usable polygon or point (NaN, empty, wrong type, unrepairable)."""


class CoordinateOutOfRangeError(GridmapError, ValueError):
    """A coordinate is NaN/inf, outside lon/lat ranges, or looks like swapped lat/lon."""


class UnknownCRSError(GridmapError, ValueError):
    """A coordinate reference system name that gridmap does not know."""


class InvalidCodeError(GridmapError, ValueError):
    """A division or grid code with the wrong length, digits or block for its level."""


class DuplicateCodeError(InvalidCodeError):
    """A code already used for another object of the same kind (a site in the same county)."""


class UnknownCodeError(GridmapError, LookupError):
    """A well-formed code that names no unit in the requested generation."""


class OutsideCoverageError(GridmapError, LookupError):
    """A point falls outside every unit of the requested level."""


class ImportFileError(GridmapError, ValueError):
    """A boundary file that cannot be read or lacks the fields the import needs."""


class HierarchyError(GridmapError, ValueError):
    """A unit whose parent cannot be found or whose code contradicts its parent."""


class DatabaseUnavailableError(GridmapError, RuntimeError):
    """No PostGIS can be reached; the message says which command starts one."""


class UnknownGenerationError(GridmapError, LookupError):
    """A generation number that does not exist."""


class PayloadTooLargeError(GridmapError, ValueError):
    """A request carries more items than the configured limit."""


class NotFoundError(GridmapError, LookupError):
    """An incident, worker or category id that does not exist (or is outside the caller's scope)."""


class InvalidTransitionError(GridmapError, ValueError):
    """A workflow action not allowed from the incident's current stage; lists the allowed ones."""


class ConcurrentUpdateError(GridmapError, RuntimeError):
    """Someone else changed the incident between reading and writing it; reload and retry."""


class SeparationOfDutiesError(GridmapError, PermissionError):
    """Verification (核查) by the person who handled or dispatched the case."""


class IdempotencyKeyReusedError(GridmapError, ValueError):
    """An Idempotency-Key sent again with a different request body."""


class IdempotencyKeyInProgressError(GridmapError, RuntimeError):
    """A request with this Idempotency-Key is still being processed; retry shortly."""


class InvalidInputError(GridmapError, ValueError):
    """A field value the API or CLI cannot accept (too long, malformed date, bad range)."""


class UnauthorizedError(GridmapError, PermissionError):
    """No credentials, or credentials that are not (or no longer) valid: log in again."""


class ForbiddenError(GridmapError, PermissionError):
    """The caller's role may not do this (whatever the object: scope misses are NotFoundError)."""


class CSRFError(ForbiddenError):
    """A cookie-authenticated write without the matching X-CSRF-Token header."""


class RateLimitedError(GridmapError, RuntimeError):
    """Too many requests (or login attempts) in a short time; ``retry_after_s`` says when."""


class AccountLockedError(RateLimitedError):
    """Repeated failed logins locked the account for a while; ``retry_after_s`` says how long."""
