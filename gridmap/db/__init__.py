"""Everything that speaks SQL; callers write ``db.units.read(session, …)``."""

from gridmap.db import (
    accounts,
    audit,
    backup,
    categories,
    cell_index,
    cluster,
    exports,
    generations,
    households,
    incidents,
    maps,
    models,
    scope,
    session,
    units,
    workers,
)

__all__ = [
    "accounts",
    "audit",
    "backup",
    "categories",
    "cell_index",
    "cluster",
    "exports",
    "generations",
    "households",
    "incidents",
    "maps",
    "models",
    "scope",
    "session",
    "units",
    "workers",
]
