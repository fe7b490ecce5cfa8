"""Everything that speaks SQL; callers write ``db.units.read(session, …)``."""

from gridmap.db import cluster, generations, models, session, units

__all__ = ["cluster", "generations", "models", "session", "units"]
