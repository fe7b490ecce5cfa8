import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from gridmap import demo, hierarchy
from gridmap.db.models import CellIndex, Generation, Household, Unit
from gridmap.db.session import normalize_url
from tests.conftest import BOUNDARIES


def gridmap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "gridmap", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(normalize_url(url))
    with engine.connect() as connection:
        result = (
            connection.scalar(select(func.count()).select_from(Unit)),
            connection.scalar(select(func.count()).select_from(Generation)),
        )
    engine.dispose()
    return result


def test_import_then_qa_through_the_cli(scratch_url):
    files = [str(p) for p in sorted(BOUNDARIES.glob("5134*.geojson"))]
    done = gridmap(scratch_url, "import", *files, "--level", "county", "--crs", "gcj02", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["features"] == 17 and report["inserted"] == 17
    assert report["generation"] == 1  # one command is one generation, however many files
    assert counts(scratch_url) == (17, 1)

    qa = gridmap(scratch_url, "qa", "--county", "513401", "--json")
    assert qa.returncode == 0, qa.stderr
    assert json.loads(qa.stdout)["counts"]["overlap"] == 0

    where = gridmap(scratch_url, "locate", "102.26", "27.88", "--json")
    assert json.loads(where.stdout)["county"] == "513401"


def footprint(url: str) -> dict[str, int]:
    """Rows a grid run writes: units, generations, households given a grid, index cells."""
    engine = create_engine(normalize_url(url))
    with engine.connect() as connection:
        found = {
            "units": connection.scalar(select(func.count()).select_from(Unit)),
            "generations": connection.scalar(select(func.count()).select_from(Generation)),
            "households_in_grids": connection.scalar(
                select(func.count()).select_from(Household).where(Household.grid_code.is_not(None))
            ),
            "cells": connection.scalar(select(func.count()).select_from(CellIndex)),
        }
    engine.dispose()
    return found


def test_import_dry_run_reports_the_real_counts_and_writes_nothing(scratch_url):
    files = [str(p) for p in sorted(BOUNDARIES.glob("5134*.geojson"))]
    args = ("import", *files, "--level", "county", "--crs", "gcj02", "--json")
    before = footprint(scratch_url)
    dry = gridmap(scratch_url, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    rehearsed = json.loads(dry.stdout)
    assert rehearsed["dry_run"] is True and "nothing was written" in dry.stderr
    assert footprint(scratch_url) == before and counts(scratch_url) == (0, 0)

    done = gridmap(scratch_url, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "dry_run" not in report and "nothing was written" not in done.stderr
    same = ("level", "features", "inserted", "replaced", "unchanged", "repairs")
    assert {k: rehearsed[k] for k in same} == {k: report[k] for k in same}
    assert report["inserted"] == 17 and counts(scratch_url) == (17, 1)


def test_failed_dry_run_import_exits_2(scratch_url, tmp_path: Path):
    bad = json.loads((BOUNDARIES / "513422.geojson").read_text())
    bad["features"][0]["geometry"]["coordinates"][0][0][3] = [27.5, 101.2]  # a swapped vertex
    (tmp_path / "b.geojson").write_text(json.dumps(bad))
    args = ("import", str(tmp_path / "b.geojson"), "--level", "county", "--crs", "gcj02")
    done = gridmap(scratch_url, *args, "--dry-run")
    assert done.returncode == 2 and "513422" in done.stderr
    assert counts(scratch_url) == (0, 0)


def test_grids_dry_run_reports_the_real_counts_and_writes_nothing(scratch_url):
    engine = create_engine(normalize_url(scratch_url))
    with Session(engine) as session, session.begin():  # a small synthetic 西昌市, no grids yet
        hierarchy.import_files(
            session, [BOUNDARIES / "513401.geojson"], level="county", crs_name="gcj02"
        )
        demo.load_county(session, "513401", seed=3, scale=0.05)
        smallest = (
            select(Unit.code).where(Unit.level == "village").order_by(func.ST_Area(Unit.geom))
        )
        villages = session.scalars(smallest.limit(3)).all()  # the seat's communities: quick
    engine.dispose()
    before = footprint(scratch_url)
    assert before["households_in_grids"] == 0

    args = ("grids", "generate", *(f"--village={v}" for v in villages), "--json")
    dry = gridmap(scratch_url, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    rehearsed = json.loads(dry.stdout)
    assert rehearsed["dry_run"] is True and "nothing was written" in dry.stderr
    assert footprint(scratch_url) == before

    done = gridmap(scratch_url, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "dry_run" not in report
    same = ("villages", "grids", "households", "single_grid_villages", "grids_out_of_bounds")
    assert {k: rehearsed[k] for k in same} == {k: report[k] for k in same}
    assert rehearsed["index"]["cells"] == report["index"]["cells"]
    after = footprint(scratch_url)
    assert after["units"] == before["units"] + report["grids"]
    assert after["generations"] == before["generations"] + 1
    assert after["households_in_grids"] == report["households"] > 0


def test_failed_import_exits_2_and_writes_nothing(scratch_url, tmp_path: Path):
    good = json.loads((BOUNDARIES / "513401.geojson").read_text())
    bad = json.loads((BOUNDARIES / "513422.geojson").read_text())
    bad["features"][0]["geometry"]["coordinates"][0][0][3] = [27.5, 101.2]  # a swapped vertex
    (tmp_path / "a.geojson").write_text(json.dumps(good))
    (tmp_path / "b.geojson").write_text(json.dumps(bad))
    done = gridmap(
        scratch_url,
        "import",
        str(tmp_path / "a.geojson"),
        str(tmp_path / "b.geojson"),
        "--level",
        "county",
        "--crs",
        "gcj02",
    )
    assert done.returncode == 2
    assert "513422" in done.stderr and "error" in done.stderr
    assert counts(scratch_url) == (0, 0)


def test_unknown_crs_is_refused_before_reading(scratch_url):
    done = gridmap(
        scratch_url,
        "import",
        str(BOUNDARIES / "513401.geojson"),
        "--level",
        "county",
        "--crs",
        "mercator",
    )
    assert done.returncode == 2 and "wgs84" in done.stderr


@pytest.mark.parametrize("args", [["db", "url"], ["version"]])
def test_simple_commands(scratch_url, args):
    done = gridmap(scratch_url, *args)
    assert done.returncode == 0 and done.stdout.strip()


def test_categories_import_is_all_or_nothing(scratch_url, tmp_path: Path):
    good = {
        "categories": [
            {
                "code": "10",
                "name_zh": "森林防火",
                "name_en": "Forest fire watch",
                "tier": "township",
                "case_type": "immediate",
                "limit_hours": 2,
            }
        ]
    }
    bad = {
        "categories": [
            *good["categories"],
            {
                "code": "1001",
                "parent_code": "11",
                "name_zh": "x",
                "name_en": "x",
                "tier": "grid",
                "case_type": "promised",
                "limit_hours": 5,
            },
        ]
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    refused = gridmap(scratch_url, "categories", "import", str(tmp_path / "bad.json"))
    assert refused.returncode != 0 and "1001" in refused.stderr
    listed = json.loads(gridmap(scratch_url, "categories", "list", "--json").stdout)
    assert "10" not in {c["code"] for c in listed}
    (tmp_path / "good.json").write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    done = gridmap(scratch_url, "categories", "import", str(tmp_path / "good.json"), "--json")
    assert json.loads(done.stdout) == {"written": 1}
    listed = json.loads(gridmap(scratch_url, "categories", "list", "--json").stdout)
    assert {c["code"]: c["name_zh"] for c in listed}["10"] == "森林防火"


def test_escalate_needs_a_timezone_and_reports_counts(scratch_url):
    naive = gridmap(scratch_url, "incidents", "escalate", "--now", "2026-11-23T10:00:00")
    assert naive.returncode != 0 and "timezone" in naive.stderr
    done = gridmap(
        scratch_url, "incidents", "escalate", "--now", "2026-11-23T10:00:00+08:00", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"escalated": 0, "ids": []}
