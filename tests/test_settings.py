"""Settings: where the private cluster is found, whichever folder a command runs from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gridmap import settings
from gridmap.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_the_nearest_gridmap_folder_above_wins(tmp_path: Path) -> None:
    (tmp_path / ".gridmap").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert settings.default_home(deep) == tmp_path / ".gridmap"


def test_elsewhere_the_checkouts_home_is_used(tmp_path: Path) -> None:
    found = settings.default_home(tmp_path)
    if (REPO / ".gridmap").is_dir():  # the private cluster of this checkout
        assert found == REPO / ".gridmap"
    else:  # DATABASE_URL runs: no private cluster anywhere
        assert found == tmp_path / ".gridmap"


def test_a_relative_home_is_made_absolute_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDMAP_HOME", "here")
    assert Settings().home == tmp_path / "here"


def test_the_cli_finds_the_running_cluster_from_another_folder(cluster, tmp_path: Path) -> None:
    """`gridmap db status` from an unrelated folder reports this checkout's running cluster
    (it used to look for .gridmap in the current folder and say it was not running)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRIDMAP_HOME", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "gridmap", "db", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout + done.stderr  # the status goes to stderr, like every human message
    if cluster is None:  # DATABASE_URL runs have no private cluster to find
        assert "running: False" in shown
        return
    assert f"data_dir: {cluster.data_dir}" in shown
    assert "running: True" in shown
