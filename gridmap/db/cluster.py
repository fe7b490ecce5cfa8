"""The private PostGIS cluster (内置数据库): initdb + pg_ctl on the system's PostgreSQL binaries.

``gridmap db up`` makes a cluster under ``$GRIDMAP_HOME/pg`` listening on 127.0.0.1 only, with
trust authentication for the local ``gridmap`` superuser: a development and single-machine
default, never exposed beyond loopback. initdb and pg_ctl refuse to run as root, so when we are
root every server command runs as the unprivileged ``postgres`` system user (created by Debian's
postgresql package), which owns the data directory.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from gridmap.errors import DatabaseUnavailableError
from gridmap.settings import Settings

SUPERUSER = "gridmap"
DATABASE = "gridmap"
RUN_AS = "postgres"
INSTALL_HINT = (
    "install PostgreSQL 15 + PostGIS 3: on Debian/Ubuntu run `sudo scripts/install-system.sh` "
    "(apt-get install postgresql-15-postgis-3 gdal-bin); on macOS `brew install postgis`; "
    "anywhere with Docker `docker compose up -d db` and set DATABASE_URL"
)


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where a private cluster lives and how to reach it."""

    home: Path
    data_dir: Path
    port: int
    bin_dir: Path

    @property
    def socket_dir(self) -> Path:
        """Unix socket directory, private to this cluster."""
        return self.data_dir.parent / "run"

    @property
    def log_file(self) -> Path:
        """Server log, readable when start-up fails."""
        return self.data_dir.parent / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def find_bin_dir(explicit: Path | None = None) -> Path:
    """Return the directory holding initdb and pg_ctl, preferring PostgreSQL 15."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    candidates.sort(key=lambda p: "/15/" not in str(p))
    candidates += [Path("/opt/homebrew/bin"), Path("/usr/local/bin"), Path("/usr/bin")]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise DatabaseUnavailableError(
        f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}"
    )


def locate(home: Path, port: int, bin_dir: Path | None = None) -> Cluster:
    """Describe the cluster for ``home``: data in ``home/pg`` if the server user can reach it."""
    home = Path(home).resolve()
    data_root = home / "pg"
    if _is_root() and not _reachable_by_server_user(home):
        # The server user cannot traverse to home (e.g. it is under /root): keep data elsewhere,
        # at a path derived from home so every command finds the same cluster.
        digest = hashlib.sha1(str(home).encode()).hexdigest()[:12]
        data_root = Path("/var/tmp") / f"gridmap-pg-{digest}"
    return Cluster(home=home, data_dir=data_root / "data", port=port, bin_dir=find_bin_dir(bin_dir))


def for_settings(settings: Settings) -> Cluster:
    """The private cluster these settings describe (it may not be running)."""
    return locate(settings.home, settings.pg_port, settings.pg_bin)


def database_url(settings: Settings, *, start: bool = False, must_run: bool = True) -> str:
    """The one answer to "which database?": ``DATABASE_URL`` when set, else the private cluster.

    The CLI, the API, the tests and the notebooks all ask here. ``start`` starts the private
    cluster (initialising it once); otherwise ``must_run`` refuses a stopped one with the fix,
    and without it the URL is returned as is (the API then answers 503 until it runs).
    """
    if settings.database_url:
        return settings.database_url
    cluster = for_settings(settings)
    if start:
        return up(cluster)
    if must_run and not is_running(cluster):
        raise DatabaseUnavailableError(
            f"the private database under {cluster.home} (port {cluster.port}) is not running: "
            "start it with `gridmap db up`, point GRIDMAP_HOME at the folder `make demo` made, "
            "or set DATABASE_URL to another PostGIS",
            home=str(cluster.home),
        )
    return cluster.url()


def up(cluster: Cluster, *, database: str = DATABASE) -> str:
    """Initialise (once), start (if stopped) and prepare the cluster; return the database URL."""
    _check_postgis_installed(cluster.bin_dir)
    if not (cluster.data_dir / "PG_VERSION").exists():
        _initdb(cluster)
    if not is_running(cluster):
        _start(cluster)
    ensure_database(cluster, database)
    return cluster.url(database)


def down(cluster: Cluster) -> bool:
    """Stop the cluster if it runs; return whether it was running."""
    if not is_running(cluster):
        return False
    _run(
        cluster,
        [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast", "-w", "stop"],
    )
    return True


def restart(cluster: Cluster) -> None:
    """Restart the running cluster the way an operator would (``pg_ctl restart -m fast``):
    every connection is cut; clients must reconnect.
    """
    _run(
        cluster,
        [
            str(cluster.bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-m",
            "fast",
            "-w",
            "-l",
            str(cluster.log_file),  # the port and other options come from postmaster.opts
            "restart",
        ],
    )


def is_running(cluster: Cluster) -> bool:
    """Whether the server of this data directory accepts connections."""
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        [str(cluster.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port), "-q"],
        check=False,
    )
    return result.returncode == 0 and (cluster.data_dir / "postmaster.pid").exists()


def status(cluster: Cluster) -> dict[str, object]:
    """A summary for ``gridmap db status``."""
    return {
        "data_dir": str(cluster.data_dir),
        "initialised": (cluster.data_dir / "PG_VERSION").exists(),
        "running": is_running(cluster),
        "port": cluster.port,
        "url": cluster.url(),
        "bin_dir": str(cluster.bin_dir),
    }


def ensure_database(cluster: Cluster, database: str, *, template: str | None = None) -> None:
    """Create ``database`` with PostGIS enabled if it does not exist yet."""
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{database}"{clause}')
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname=database, autocommit=True
    ) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def drop_database(cluster: Cluster, database: str) -> None:
    """Drop ``database`` (tests use throwaway databases), closing its connections first."""
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _initdb(cluster: Cluster) -> None:
    root = cluster.data_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    cluster.socket_dir.mkdir(parents=True, exist_ok=True)
    if _is_root():
        _chown_tree(root, RUN_AS)
    _run(
        cluster,
        [
            str(cluster.bin_dir / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
    )
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# gridmap private cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {cluster.port}\n"
            f"unix_socket_directories = '{cluster.socket_dir}'\n"
            "shared_buffers = 256MB\n"
            "max_connections = 200\n"
            "work_mem = 32MB\n"
        )


def _start(cluster: Cluster) -> None:
    try:
        _run(
            cluster,
            [
                str(cluster.bin_dir / "pg_ctl"),
                "-D",
                str(cluster.data_dir),
                "-l",
                str(cluster.log_file),
                "-o",
                f"-p {cluster.port}",
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    except DatabaseUnavailableError as error:
        log = (
            cluster.log_file.read_text(errors="replace")[-2000:]
            if cluster.log_file.exists()
            else ""
        )
        raise DatabaseUnavailableError(
            f"{error}\nserver log ({cluster.log_file}):\n{log}", data_dir=str(cluster.data_dir)
        ) from error
    for _ in range(100):
        if is_running(cluster):
            return
        time.sleep(0.1)
    raise DatabaseUnavailableError(
        f"the cluster in {cluster.data_dir} did not start; see {cluster.log_file}"
    )


def _check_postgis_installed(bin_dir: Path) -> None:
    share = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if share and not list(Path(share, "extension").glob("postgis.control")):
        raise DatabaseUnavailableError(
            f"PostgreSQL is installed but PostGIS is not: {INSTALL_HINT}"
        )


def _run(cluster: Cluster, command: list[str]) -> None:
    if _is_root():
        runuser = shutil.which("runuser")
        command = (
            [runuser, "-u", RUN_AS, "--", *command]
            if runuser
            else ["su", RUN_AS, "-s", "/bin/sh", "-c", " ".join(command)]
        )
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    if result.returncode != 0:
        raise DatabaseUnavailableError(
            f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}",
            data_dir=str(cluster.data_dir),
        )


def _is_root() -> bool:
    return os.geteuid() == 0


def _reachable_by_server_user(path: Path) -> bool:
    """Whether the server user can traverse every directory down to ``path``."""
    try:
        server = pwd.getpwnam(RUN_AS)
    except KeyError as error:
        raise DatabaseUnavailableError(
            f"running as root needs the unprivileged '{RUN_AS}' user to own the cluster: "
            f"{INSTALL_HINT}"
        ) from error
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        if not current.exists():
            return True  # created by us later, with our permissions
        stat = current.stat()
        if stat.st_uid == server.pw_uid:
            mode = stat.st_mode >> 6
        elif stat.st_gid == server.pw_gid:
            mode = stat.st_mode >> 3
        else:
            mode = stat.st_mode
        if not mode & 0o1:
            return False
    return True


def _chown_tree(root: Path, user: str) -> None:
    record = pwd.getpwnam(user)
    for directory, _, files in os.walk(root):
        os.chown(directory, record.pw_uid, record.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), record.pw_uid, record.pw_gid)
