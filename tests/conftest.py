"""Shared fixtures: a real PostGIS (never a mock), its schema built by the real migrations.

DATABASE_URL points at any PostGIS; otherwise the project's own private cluster is started
(``gridmap db up`` does the same). No database means the run FAILS with the fix, never skips.
Library tests run inside a transaction that is rolled back; commits become savepoints.

HTTP tests get one of three clients, all on the real app over copies of one committed demo
database built once per run:

* ``client``: shared by read-only tests; its database refuses writes, so a test that writes
  there fails instead of leaving rows for the others.
* ``tx_client``: the app's sessions join this test's transaction, rolled back afterwards
  (Open311, workers, workflow actions, categories, batches: everything but JSON intake).
* ``own_client``: a database of the test's own (``demo_url``, a ``CREATE DATABASE …
  TEMPLATE`` copy, 0.3–1.5 s), for intake: it commits through an async psycopg pool that no
  outer transaction can hold.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.orm import Session

from gridmap import db, hierarchy, lookup
from gridmap.db import migrations
from gridmap.errors import DatabaseUnavailableError
from gridmap.settings import Settings
from tests import identities

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
BOUNDARIES = hierarchy.bundled_boundaries()
TEMPLATE = "gridmap_test_template"


@pytest.fixture(scope="session")
def cluster() -> db.cluster.Cluster | None:
    """The private cluster (started if needed), or None when DATABASE_URL is given: the same
    resolution as the CLI and the API (``db.cluster.database_url``), from the same Settings."""
    settings = Settings()
    if settings.database_url:
        return None
    try:
        found = db.cluster.for_settings(settings)
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
        url = db.cluster.database_url(Settings())
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
    with rolled_back(engine) as session:
        yield session


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
    with Session(engine) as session, session.begin():
        identities.create_accounts(session, DEMO_COUNTY)
    engine.dispose()


class Server:
    """The PostgreSQL server the tests make databases on: the private cluster, or the one
    DATABASE_URL names (its role must be allowed to create databases)."""

    def __init__(self, url: str) -> None:
        self._url = make_url(db.session.normalize_url(url))

    def url(self, name: str) -> str:
        """SQLAlchemy URL of database ``name`` on this server."""
        return self._url.set(database=name).render_as_string(hide_password=False)

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/ALTER/DROP DATABASE need that)."""
        conninfo = self._url.set(drivername="postgresql", database=database)
        url = conninfo.render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(sql)  # type: ignore[arg-type]

    def copy(self, template: str, name: str) -> None:
        """Create ``name`` as a copy of ``template`` (which must have no open connections)."""
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop(self, name: str) -> None:
        """Drop ``name`` if it exists, closing its connections first."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server(cluster: db.cluster.Cluster | None) -> Server:
    """Where the run's demo databases are made."""
    return Server(cluster.url() if cluster is not None else db.cluster.database_url(Settings()))


@pytest.fixture(scope="session")
def demo_template(pg_server: Server, cluster: db.cluster.Cluster | None) -> Iterator[str]:
    """Name of the committed demo database every demo database of the run is copied from.

    Nothing stays connected to it: PostgreSQL refuses to copy a database in use.
    """
    name = f"gridmap_demo_{os.getpid()}"
    pg_server.drop(name)
    if cluster is not None:  # the migrated template is there already
        pg_server.copy(TEMPLATE, name)
    else:
        pg_server.execute(f'CREATE DATABASE "{name}"')
        pg_server.execute("CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        migrations.upgrade(pg_server.url(name))
    load_demo(pg_server.url(name))
    yield name
    pg_server.drop(name)


class DemoCopies:
    """Copies of the demo template, made ahead by a background thread and dropped by it.

    ``CREATE DATABASE … TEMPLATE`` writes the 177 MB demo out again: 0.25 s on a quiet machine,
    1.5 s on a busy one. Made while earlier tests run, a copy is usually waiting when a test
    asks for one, and dropping it afterwards does not hold up the next test either.
    """

    def __init__(self, server: Server, template: str, *, ahead: int = 3) -> None:
        self._server, self._template, self._ahead = server, template, ahead
        self._ready: list[str] = []
        self._used: list[str] = []
        self._error: BaseException | None = None
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="demo-copies", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        """Drop what was given back, else top the ready copies up to ``ahead``; stop on close."""
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._closing or bool(self._used) or len(self._ready) < self._ahead
                )
                if self._closing:
                    return
                used = self._used.pop() if self._used else None
            try:
                if used is not None:
                    self._server.drop(used)
                    continue
                name = f"gridmap_own_{uuid.uuid4().hex[:12]}"
                self._server.copy(self._template, name)
            except BaseException as error:  # handed to the test that waits for a copy
                with self._changed:
                    self._error = error
                    self._changed.notify_all()
                return
            with self._changed:
                self._ready.append(name)
                self._changed.notify_all()

    def take(self) -> str:
        """Name of a fresh copy, now the caller's (waits while one is being made)."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._ready) or self._error is not None)
            if not self._ready:
                raise RuntimeError("copying the demo database failed") from self._error
            name = self._ready.pop(0)
            self._changed.notify_all()
            return name

    def give_back(self, name: str) -> None:
        """Have ``name`` dropped (its connections are closed by the drop)."""
        with self._changed:
            self._used.append(name)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop the thread, then drop every copy still around."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        for name in self._ready + self._used:
            self._server.drop(name)


@pytest.fixture(scope="session")
def demo_copies(pg_server: Server, demo_template: str) -> Iterator[DemoCopies]:
    """The run's maker of demo copies (started with the shared demo database, see below)."""
    copies = DemoCopies(pg_server, demo_template)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def demo_copy(
    pg_server: Server, demo_copies: DemoCopies
) -> Callable[[], AbstractContextManager[str]]:
    """``with demo_copy() as url``: a fresh committed demo database, dropped afterwards."""

    @contextmanager
    def copy() -> Iterator[str]:
        name = demo_copies.take()
        try:
            yield pg_server.url(name)
        finally:
            demo_copies.give_back(name)

    return copy


@pytest.fixture(scope="session")
def served_url(pg_server: Server, demo_template: str, demo_copies: DemoCopies) -> Iterator[str]:
    """The committed demo database (counties, synthetic 西昌市, grids, index) shared by the run's
    read-only tests. It refuses writes: a test that commits anything here fails instead of
    changing what other tests see; rolled-back work opts in with ``SET TRANSACTION READ WRITE``.

    Asking for ``demo_copies`` starts copying while the read-only tests run.
    """
    name = f"gridmap_api_{os.getpid()}"
    pg_server.drop(name)
    pg_server.copy(demo_template, name)
    pg_server.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    yield pg_server.url(name)
    pg_server.drop(name)


@pytest.fixture
def demo_url(demo_copy: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    """This test's own committed demo database: commit freely, nobody else sees it."""
    with demo_copy() as url:
        yield url


@contextmanager
def app_client(
    url: str, index: lookup.Index | None = None, *, as_user: str | None = identities.DEFAULT
) -> Iterator[TestClient]:
    """An HTTP client on the real app (lifespan run) over ``url``; ``index`` skips loading it.
    It sends ``as_user``'s token on every request (None: anonymous).

    The escalation schedule is off: tests drive it with ``api.main.escalate_tick``. A person's
    rate is far above the default, since the shared client serves the whole session's tests;
    tests of the limit set their own.
    """
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = Settings(
        database_url=url,
        escalate_every_s=0,
        jwt_secret=identities.SECRET,
        account_per_minute=1_000_000,
    )
    app = create_app(settings, index=index)
    with TestClient(app) as test_client:
        if as_user is not None:
            test_client.headers.update(identities.bearer(url, as_user))
        yield test_client


@pytest.fixture(scope="session")
def client(served_url: str) -> Iterator[TestClient]:
    """An HTTP client on the real app over the shared read-only demo database (its writes
    fail); tests that write use ``own_client``."""
    with app_client(served_url) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def app_index(client: TestClient) -> lookup.Index:
    """The lookup index the shared app loaded and warmed at start-up. Every demo copy holds the
    same units and generation, so apps on copies use it instead of loading their own."""
    return client.app.state.index  # type: ignore[attr-defined]


@pytest.fixture
def own_client(demo_url: str, app_index: lookup.Index) -> Iterator[TestClient]:
    """An HTTP client on the real app over this test's own demo database (``demo_url``): for
    tests that store incidents through intake, whose async connection pool commits on its own
    connections, and for tests that need commits on several connections."""
    with app_client(demo_url, app_index) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tx_app_client(served_url: str, app_index: lookup.Index) -> Iterator[TestClient]:
    """A second app over the shared read-only demo database, for ``tx_client``."""
    with app_client(served_url, app_index) as test_client:
        yield test_client


@pytest.fixture
def tx_client(tx_app_client: TestClient, demo_engine: Engine) -> Iterator[TestClient]:
    """An HTTP client whose app's sessions all join this test's transaction, rolled back
    afterwards: for tests that write through the app's sessions (Open311, workers, workflow
    actions, categories, batches). Intake's connection pool stays on the read-only database,
    so a JSON report here fails loudly instead of being committed; those tests use
    ``own_client``. The app's clock is put back too."""
    app = tx_app_client.app
    sessions, clock = app.state.sessions, app.state.clock  # type: ignore[attr-defined]
    with rolled_back_connection(demo_engine) as connection:
        app.state.sessions = JoinedSessions(connection)  # type: ignore[attr-defined]
        try:
            yield tx_app_client
        finally:
            app.state.sessions, app.state.clock = sessions, clock  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def demo_engine(served_url: str) -> Iterator[Engine]:
    """Engine on the shared read-only demo database."""
    engine = db.session.make_engine(served_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_index(demo_engine: Engine) -> lookup.Index:
    """The lookup index of the demo database."""
    with Session(demo_engine) as session:
        return lookup.load_index(session)


@contextmanager
def rolled_back_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back when the block ends; it may write on
    the read-only demo database because nothing of it is ever committed."""
    with engine.connect() as connection:
        outer = connection.begin()
        connection.exec_driver_sql("SET TRANSACTION READ WRITE")
        try:
            yield connection
        finally:
            outer.rollback()


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back when the block ends."""
    with (
        rolled_back_connection(engine) as connection,
        Session(bind=connection, join_transaction_mode="create_savepoint") as session,
    ):
        yield session


class JoinedSessions:
    """Stands in for the app's sessionmaker (``app.state.sessions``): every session it opens
    is a savepoint inside one outer transaction, so what the app commits is rolled back with
    it. One session at a time: the app's threads (requests, the index refresh) take turns on
    the one connection instead of interleaving their savepoints."""

    WAIT_S = 10.0

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._turn = threading.Lock()

    @property
    def connection(self) -> Connection:
        """The test's connection; use it only inside :meth:`turn`."""
        return self._connection

    @contextmanager
    def turn(self) -> Iterator[Connection]:
        """The connection, for the test's own statements, while the app's threads (requests,
        the index and token-version refreshes) wait their turn."""
        if not self._turn.acquire(timeout=self.WAIT_S):
            raise RuntimeError("the app kept the test's connection too long")
        try:
            yield self._connection
        finally:
            self._turn.release()

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        if not self._turn.acquire(timeout=self.WAIT_S):
            raise RuntimeError(
                "the app opened a second session while one was open; a test transaction "
                "holds one connection, so use own_client for this test"
            )
        try:
            with Session(
                bind=self._connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,  # as db.session.sessionmaker_for
            ) as session:
                yield session
            # db.scope.enter's settings are transaction-local, and this transaction outlives
            # the app's session: drop them so the test's own queries run as the owner again.
            self._connection.exec_driver_sql(
                "RESET ROLE; SELECT set_config('gridmap.scope', '', true)"
            )
        finally:
            self._turn.release()


@pytest.fixture
def demo_tx(demo_engine: Engine) -> Iterator[Session]:
    """A session on the demo database (grids, index, workers) whose work is rolled back."""
    with rolled_back(demo_engine) as session:
        yield session


@pytest.fixture(scope="session")
def demo_session(served_url: str) -> Iterator[Session]:
    """A read-only session on the shared demo database."""
    engine = db.session.make_engine(served_url)
    with Session(engine) as session:
        yield session
    engine.dispose()
