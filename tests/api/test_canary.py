"""The canary: unique markers in every personal field, then every output as each role, and no
marker where that role may not see it.

Markers go into a reporter's name and photo URL (sensitive), a worker's phone and last position
(sensitive) and name (internal), and a household's flags (sensitive), inside the test's own
transaction (``tx_client``). Then JSON lists and details, every export format (unpacked and read
back), the summary tables, vector tiles, map pages and Open311 documents are fetched as the
viewer, the API client and the planner, and searched byte by byte. The county admin's answers
must show the markers: proof that the search would find a leak."""

from __future__ import annotations

import io
import math
import zipfile
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from gridmap import db, incidents, workers
from tests import identities

SENSITIVE = {
    "reporter": "金丝雀上报人QX7",
    "photo": "canary-photo-9Z4",
    "phone": "13900077123",
    "position": "102.2491357",
    "flags": "canary-flag-K2P",
}
INTERNAL = {"worker name": "金丝雀网格员W8"}
FORMATS = ("gpkg", "kml", "shp", "geojson", "csv", "parquet")


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def unpack(content: bytes) -> bytes:
    """Every byte a reader of this download could see: zips opened (recursively), Parquet
    decoded to text, everything else as is."""
    if content[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return b"\n".join(unpack(archive.read(name)) for name in archive.namelist())
    if content[:4] == b"PAR1":
        return str(pq.read_table(io.BytesIO(content)).to_pylist()).encode()
    return content


@pytest.fixture
def seeded(tx_client) -> dict[str, object]:
    """The markers, stored in the demo county inside the test's transaction."""
    app = tx_client.app
    with (
        app.state.sessions.turn() as connection,
        Session(bind=connection, join_transaction_mode="create_savepoint") as session,
    ):
        grid = db.units.read(session, county="513401", level="grid")["code"].iloc[3]
        geom = db.units.read(session, codes=[grid]).geometry.iloc[0]
        point = shapely.buffer(geom, -0.0002).representative_point()
        report = incidents.Report(
            lon=point.x,
            lat=point.y,
            category="0501",
            reporter=SENSITIVE["reporter"],
            photo_urls=(f"https://files.example.cn/{SENSITIVE['photo']}.jpg",),
        )
        incident = incidents.report_incident(session, app.state.index, report).incident["id"]
        (worker,) = workers.add(
            session,
            [
                workers.NewWorker(
                    county_code="513401",
                    name=INTERNAL["worker name"],
                    phone=SENSITIVE["phone"],
                    primary_grids=(grid,),
                )
            ],
        )
        lon, lat = float(SENSITIVE["position"]), 27.8871357
        workers.record_track(session, worker, [lon], [lat], [datetime.now(UTC)])
        session.execute(
            text(
                "UPDATE household SET flags = jsonb_build_object('note', CAST(:flag AS text)) "
                "WHERE id = (SELECT min(id) FROM household WHERE grid_code = :grid)"
            ),
            {"flag": SENSITIVE["flags"], "grid": grid},
        )
        session.commit()
    return {"incident": incident, "worker": worker, "grid": grid, "lon": lon, "lat": lat}


def outputs(tx_client, seeded: dict[str, object], username: str) -> dict[str, bytes]:
    """Every output as ``username``: name → the bytes a reader sees (refusals included)."""
    headers = identities.bearer(tx_client.app.state.settings.database_url, username)
    incident, worker, grid = seeded["incident"], seeded["worker"], seeded["grid"]
    x, y = _tile(float(seeded["lon"]), float(seeded["lat"]), 16)
    paths = [
        "/api/v1/incidents?limit=1000",
        f"/api/v1/incidents/{incident}",
        "/api/v1/workers?limit=1000&county=513401",
        f"/api/v1/workers/{worker}",
        *(f"/api/v1/exports/513401.{fmt}" for fmt in FORMATS),
        "/api/v1/exports/513401.gpkg?households=true",
        "/api/v1/exports/513401/summary.csv",
        "/api/v1/exports/513401/summary.xlsx",
        f"/tiles/grids/16/{x}/{y}.pbf",
        f"/tiles/households/16/{x}/{y}.pbf",
        "/maps/513401",
        f"/maps/{grid}",
        f"/maps/{str(grid)[:12]}",
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        f"/open311/v2/requests/{incident}.json",
        f"/open311/v2/requests/{incident}.xml",
    ]
    return {path: unpack(tx_client.get(path, headers=headers).content) for path in paths}


def found(answers: dict[str, bytes], markers: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (what, path)
        for path, content in answers.items()
        for what, marker in markers.items()
        if marker.encode() in content
    ]


@pytest.mark.parametrize("role", ["viewer", "client", "planner"])
def test_no_marker_reaches_a_role_that_may_not_see_it(tx_client, seeded, role: str) -> None:
    answers = outputs(tx_client, seeded, f"{role}.513401")
    forbidden = SENSITIVE | (INTERNAL if role != "planner" else {})
    assert found(answers, forbidden) == []
    # What they may see they do get: the incident itself, in their JSON and Open311 answers.
    assert str(seeded["incident"]).encode() in answers["/open311/v2/requests.json"]
    if role == "planner":  # names are internal: planners see who looks after a grid
        assert ("worker name", f"/api/v1/workers/{seeded['worker']}") in found(answers, INTERNAL)


def test_the_search_finds_markers_where_they_are_allowed(tx_client, seeded) -> None:
    answers = outputs(tx_client, seeded, "county.513401")
    seen = {what for what, _ in found(answers, SENSITIVE | INTERNAL)}
    assert {"reporter", "photo", "phone", "position", "worker name"} <= seen
    assert ("reporter", "/api/v1/exports/513401.gpkg") in found(answers, SENSITIVE)
