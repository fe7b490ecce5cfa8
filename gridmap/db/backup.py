"""Backups (备份): ``pg_dump`` custom format out, ``pg_restore`` into a new database, and the
per-table row counts and checksums that prove a round trip lost nothing.

The tools are PostgreSQL's own, from the same binaries as the private cluster; gridmap adds
only the refusal to restore over an existing database and the comparison.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from gridmap.db.session import normalize_url
from gridmap.errors import InvalidInputError

# PostGIS's own catalogue of reference systems: created by the extension, not by gridmap.
NOT_DATA = {"spatial_ref_sys"}


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq (pg_dump, psycopg) reads it."""
    return (
        make_url(normalize_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def dump(url: str, path: Path, bin_dir: Path) -> int:
    """Write the database at ``url`` to ``path`` (pg_dump custom format); return its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _tool(bin_dir / "pg_dump", ["--format=custom", f"--file={path}", f"--dbname={libpq_url(url)}"])
    return path.stat().st_size


def restore(path: Path, url: str, bin_dir: Path) -> None:
    """Create the database of ``url`` (which must not exist) and restore ``path`` into it in
    one transaction; a failed restore drops the new database again, so none is left half made.
    """
    if not path.is_file():
        raise InvalidInputError(f"no backup file {path}")
    target = make_url(normalize_url(url))
    name = target.database
    if not name:
        raise InvalidInputError("the restore target names no database")
    admin = libpq_url(str(target.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise InvalidInputError(
                f"database {name!r} exists; restore into a new name (nothing was changed)"
            )
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            _tool(
                bin_dir / "pg_restore",
                [
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    f"--dbname={libpq_url(url)}",
                    str(path),
                ],
            )
        except InvalidInputError:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            raise


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent MD5 of every table's rows, by table."""
    with psycopg.connect(libpq_url(url)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
            if row[0] not in NOT_DATA
        ]
        found = {}
        for table in tables:
            count, digest = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                f'FROM (SELECT md5(t::text) AS h FROM "{table}" t) rows'
            ).fetchone() or (0, "")
            found[table] = (int(count), str(digest))
    return found


def _tool(program: Path, arguments: list[str]) -> None:
    """Run a PostgreSQL client tool; its own message when it fails."""
    done = subprocess.run([str(program), *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InvalidInputError(f"{program.name} failed: {done.stderr.strip()[-2000:]}")
