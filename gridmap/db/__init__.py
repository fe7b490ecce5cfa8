"""Everything that speaks SQL; callers write ``db.units.read(session, …)``."""

from gridmap.db import cell_index, cluster, generations, households, models, session, units

__all__ = [
    "cell_index",
    "cluster",
    "generations",
    "households",
    "models",
    "session",
    "units",
]
