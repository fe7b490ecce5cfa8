"""Shared fixtures: a real PostGIS (never a mock), its schema built by the real migrations.

DATABASE_URL points at any PostGIS; otherwise the project's own private cluster is started
(``gridmap db up`` does the same). No database means the run FAILS with the fix, never skips.
Each test runs inside a transaction that is rolled back; commits become savepoints.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gridmap import db, hierarchy, lookup
from gridmap.db import migrations
from gridmap.errors import DatabaseUnavailableError
from gridmap.settings import Settings

BOUNDARIES = hierarchy.bundled_boundaries()
TEMPLATE = "gridmap_test_template"


@pytest.fixture(scope="session")
def cluster() -> db.cluster.Cluster | None:
    """The private cluster (started if needed), or None when DATABASE_URL is given."""
    if os.environ.get("DATABASE_URL"):
        return None
    settings = Settings()
    try:
        found = db.cluster.locate(settings.home, settings.pg_port, settings.pg_bin)
        db.cluster.up(found, database="postgres")
    except DatabaseUnavailableError as error:
        pytest.fail(f"no PostGIS for the tests: {error}. Run `make test` or `gridmap db up`.")
    # A template built by the real migrations; each test database is a cheap copy of it.
    db.cluster.drop_database(found, TEMPLATE)
    db.cluster.ensure_database(found, TEMPLATE)
    migrations.upgrade(found.url(TEMPLATE))
    return found


@pytest.fixture(scope="session")
def database_url(cluster: db.cluster.Cluster | None) -> Iterator[str]:
    """URL of the session's test database (fresh from the template)."""
    if cluster is None:
        url = os.environ["DATABASE_URL"]
        migrations.upgrade(url)
        yield url
        return
    name = f"gridmap_test_{os.getpid()}"
    db.cluster.drop_database(cluster, name)
    db.cluster.ensure_database(cluster, name, template=TEMPLATE)
    yield cluster.url(name)
    db.cluster.drop_database(cluster, name)


@pytest.fixture
def scratch_url(cluster: db.cluster.Cluster | None, database_url: str) -> Iterator[str]:
    """A throwaway database for tests that commit (CLI, server): copied from the template."""
    if cluster is None:
        yield database_url
        return
    name = f"gridmap_scratch_{uuid.uuid4().hex[:8]}"
    db.cluster.ensure_database(cluster, name, template=TEMPLATE)
    yield cluster.url(name)
    db.cluster.drop_database(cluster, name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Engine on the session's test database."""
    engine = db.session.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, commits included."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        yield session
        session.close()
        outer.rollback()


@pytest.fixture
def liangshan(session: Session) -> Session:
    """The session with the 17 bundled 凉山 counties imported (GCJ-02 → WGS84)."""
    import_liangshan(session)
    return session


def import_liangshan(session: Session) -> None:
    """Import the 17 bundled 凉山 counties (GCJ-02 → WGS84) into ``session``."""
    from gridmap import hierarchy

    files = sorted(BOUNDARIES.glob("5134*.geojson"))
    hierarchy.import_files(session, files, level="county", crs_name="gcj02")


DEMO_COUNTY, DEMO_SEED = "513401", 1


def load_demo(url: str) -> None:
    """凉山's counties, a synthetic 西昌市 (seed 1) with grids, the index and workers: committed."""
    from gridmap import demo

    engine = db.session.make_engine(url)
    with Session(engine) as session, session.begin():
        demo.load_counties(session, sorted(BOUNDARIES.glob("5134*.geojson")), resolution=10)
    with Session(engine) as session, session.begin():
        demo.load_synthetic_county(session, DEMO_COUNTY, seed=DEMO_SEED)
        demo.load_workers(session, DEMO_COUNTY, seed=DEMO_SEED)
    engine.dispose()


@pytest.fixture(scope="session")
def served_url(cluster: db.cluster.Cluster | None, database_url: str) -> Iterator[str]:
    """A committed demo database (counties, synthetic 西昌市, grids, index) for read-only tests."""
    if cluster is None:
        load_demo(database_url)
        yield database_url
        return
    name = f"gridmap_api_{os.getpid()}"
    db.cluster.drop_database(cluster, name)
    db.cluster.ensure_database(cluster, name, template=TEMPLATE)
    url = cluster.url(name)
    load_demo(url)
    yield url
    db.cluster.drop_database(cluster, name)


@pytest.fixture(scope="session")
def client(served_url: str) -> Iterator[object]:
    """An HTTP client on the real app (lifespan run) over the committed 凉山 database."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    app = create_app(Settings(database_url=served_url))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def demo_engine(served_url: str) -> Iterator[Engine]:
    """Engine on the committed demo database."""
    engine = db.session.make_engine(served_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_index(demo_engine: Engine) -> lookup.Index:
    """The lookup index of the demo database."""
    with Session(demo_engine) as session:
        return lookup.load_index(session)


@pytest.fixture
def demo_tx(demo_engine: Engine) -> Iterator[Session]:
    """A session on the demo database (grids, index, workers) whose work is rolled back."""
    with demo_engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        yield session
        session.close()
        outer.rollback()


@pytest.fixture(scope="session")
def demo_session(served_url: str) -> Iterator[Session]:
    """A read-only session on the committed demo database."""
    engine = db.session.make_engine(served_url)
    with Session(engine) as session:
        yield session
    engine.dispose()
