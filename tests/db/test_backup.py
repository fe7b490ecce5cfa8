"""Backups: a pg_dump/pg_restore round trip keeps every row (counts and checksums equal), an
existing database is never restored over, and a broken file leaves no database behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from gridmap import db
from gridmap.db import backup
from gridmap.errors import InvalidInputError


def _exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    admin = backup.libpq_url(url.rsplit("/", 1)[0] + "/postgres")
    with psycopg.connect(admin) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def test_a_round_trip_keeps_every_row(scratch_url: str, tmp_path: Path) -> None:
    with psycopg.connect(backup.libpq_url(scratch_url)) as conn:  # rows of its own to carry
        conn.execute(
            "INSERT INTO audit_log (actor, role, action, resource, resource_id) "
            "SELECT 'backup-test', 'county_admin', 'read', 'test', n::text "
            "FROM generate_series(1, 50) n"
        )
    bin_dir = db.cluster.find_bin_dir()
    file = tmp_path / "gridmap.dump"
    assert backup.dump(scratch_url, file, bin_dir) > 0
    target = scratch_url.rsplit("/", 1)[0] + f"/restored_{uuid.uuid4().hex[:8]}"
    backup.restore(file, target, bin_dir)
    try:
        before, after = backup.checksums(scratch_url), backup.checksums(target)
        assert after == before
        assert before["audit_log"][0] >= 50 and before["category"][0] > 0
        with pytest.raises(InvalidInputError, match="exists"):
            backup.restore(file, target, bin_dir)
        assert backup.checksums(target) == before  # the refused restore changed nothing
    finally:
        with psycopg.connect(
            backup.libpq_url(target.rsplit("/", 1)[0] + "/postgres"), autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_a_broken_file_leaves_no_database(scratch_url: str, tmp_path: Path) -> None:
    file = tmp_path / "broken.dump"
    file.write_bytes(b"PGDMP" + b"\x00" * 100)
    target = scratch_url.rsplit("/", 1)[0] + f"/restored_{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidInputError, match="pg_restore failed"):
        backup.restore(file, target, db.cluster.find_bin_dir())
    assert not _exists(target)
