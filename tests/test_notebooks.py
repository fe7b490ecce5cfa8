"""Every notebook runs end to end against a scratch database."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy.orm import Session

from gridmap import db
from tests.conftest import BOUNDARIES

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_end_to_end(path, scratch_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    # The kernel inherits DATABASE_URL: what the notebook imported is in the test's database
    # (a fresh copy of the empty template), not in a developer's cluster.
    engine = db.session.make_engine(scratch_url)
    try:
        with Session(engine) as session:
            counties = db.units.read(session, level="county")
    finally:
        engine.dispose()
    assert set(counties["code"]) == {p.stem for p in BOUNDARIES.glob("5134*.geojson")}


def test_there_are_notebooks():
    assert NOTEBOOKS
