"""gridmap: geospatial grid management for grassroots governance (网格化管理)."""

__version__ = "0.1.0"
