"""Engine and sessionmaker from a database URL; nothing else."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """Create a psycopg 3 engine; plain ``postgresql://`` URLs get the psycopg driver.

    ``pre_ping=False`` saves a round trip per request on hot servers; a dropped connection
    then fails one request (503) and the pool replaces it.
    """
    return create_engine(
        normalize_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=pre_ping
    )


def normalize_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver, whatever postgres scheme it came with."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sessionmaker_for(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire on commit, so returned rows stay readable."""
    return sessionmaker(bind=engine, expire_on_commit=False)
