"""Tests for gridmap.workers: roster, assignment fallbacks, staffing, tracks and 走遍率.

Everything runs on the committed demo database (synthetic 西昌市 with its roster) inside a
transaction that is rolled back. Expectations are computed independently of the code under test:
distances with pyproj, H3 cells with the ``h3`` package, interior points with shapely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely
from h3.api import basic_int as h3i
from pyproj import Geod, Transformer

from gridmap import crs, db, incidents, lookup, workers
from gridmap.errors import (
    CoordinateOutOfRangeError,
    InvalidCodeError,
    InvalidInputError,
    NotFoundError,
    UnknownCRSError,
)
from gridmap.vocabulary import OPEN_STAGES, WorkerRole

COUNTY = "513401"
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=CST)
GEOD = Geod(ellps="WGS84")
TO_M = Transformer.from_crs(4326, 32648, always_xy=True)  # UTM 48N covers 西昌 (102°E)
TO_LL = Transformer.from_crs(32648, 4326, always_xy=True)
WALK_SPEED_M_S, FIX_EVERY_S = 1.2, 20
# The documented rules: resolution-11 cells; fixes up to 10 minutes and 2 km apart are joined.
RESOLUTION, MAX_GAP_S, MAX_JUMP_M = 11, 600.0, 2000.0
EXAMPLES = settings(max_examples=100, deadline=None)


# --- helpers ------------------------------------------------------------------------------------


def read_grids(session: Session) -> gpd.GeoDataFrame:
    grids = db.units.read(session, county=COUNTY, level="grid")
    return grids.sort_values("code").reset_index(drop=True)


def to_metres(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_M.transform(xy[:, 0], xy[:, 1])))


def to_lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LL.transform(xy[:, 0], xy[:, 1])))


def area_m2(geom: shapely.Geometry) -> float:
    return float(to_metres(geom).area)


def interior_point(geom: shapely.Geometry, inset_m: float = 40.0) -> tuple[float, float]:
    """A point at least ``inset_m`` inside the polygon (lon, lat)."""
    inner = to_metres(geom).buffer(-inset_m)
    assert not inner.is_empty
    point = to_lonlat(inner.representative_point())
    return float(point.x), float(point.y)


def interior_chord(
    geom: shapely.Geometry, inset_m: float = 30.0, max_m: float = 1500.0
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points well inside the polygon joined by a straight line lying inside it."""
    inner = to_metres(geom).buffer(-inset_m)
    centre = inner.representative_point()
    x0, y0, x1, y1 = inner.bounds
    best = None
    for angle in np.radians(np.arange(0, 180, 15)):
        dx, dy = np.cos(angle) * (x1 - x0 + y1 - y0), np.sin(angle) * (x1 - x0 + y1 - y0)
        line = shapely.LineString([(centre.x - dx, centre.y - dy), (centre.x + dx, centre.y + dy)])
        for part in shapely.get_parts(shapely.intersection(line, inner)):
            if part.geom_type == "LineString" and (best is None or part.length > best.length):
                best = part
    assert best is not None and best.length > 100
    if best.length > max_m:
        best = shapely.LineString([best.interpolate(0), best.interpolate(max_m)])
    a, b = to_lonlat(best).coords
    return (a[0], a[1]), (b[0], b[1])


def walk(
    start: tuple[float, float], end: tuple[float, float], t0: datetime = T0
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[datetime]]:
    """Fixes every 20 s at 1.2 m/s on the straight line (linear in lon/lat) from start to end."""
    _, _, length = GEOD.inv(*start, *end)
    step = WALK_SPEED_M_S * FIX_EVERY_S
    fraction = np.arange(int(length // step) + 1) * step / length
    lon = start[0] + (end[0] - start[0]) * fraction
    lat = start[1] + (end[1] - start[1]) * fraction
    times = [t0 + timedelta(seconds=FIX_EVERY_S * i) for i in range(len(fraction))]
    return lon, lat, times


def cell(lon: float, lat: float) -> int:
    return int(h3i.latlng_to_cell(float(lat), float(lon), RESOLUTION))


def segment_cells(lon: NDArray[np.float64], lat: NDArray[np.float64], step_m: float = 0.25) -> set:
    """Cells of the polyline through the points, sampled every ``step_m`` (without gridmap)."""
    found = {cell(x, y) for x, y in zip(lon, lat, strict=True)}
    for i in range(len(lon) - 1):
        _, _, length = GEOD.inv(lon[i], lat[i], lon[i + 1], lat[i + 1])
        fraction = np.linspace(0.0, 1.0, int(np.ceil(length / step_m)) + 1)
        xs = lon[i] + (lon[i + 1] - lon[i]) * fraction
        ys = lat[i] + (lat[i + 1] - lat[i]) * fraction
        found |= {cell(x, y) for x, y in zip(xs, ys, strict=True)}
    return found


def polygon_cells(geom: shapely.Geometry) -> set:
    """Resolution-11 cells whose centre lies in the polygon (h3's own polygon fill)."""
    return {int(c) for c in h3i.geo_to_cells(geom, RESOLUTION)}


def new_worker(session: Session, **fields) -> int:
    fields.setdefault("county_code", COUNTY)
    fields.setdefault("name", "测试网格员")
    (worker_id,) = workers.add(session, [workers.NewWorker(**fields)])
    return worker_id


def place(session: Session, worker_id: int, lon: float, lat: float) -> None:
    session.execute(
        text("UPDATE worker SET position = ST_SetSRID(ST_MakePoint(:x, :y), 4326) WHERE id = :w"),
        {"x": lon, "y": lat, "w": worker_id},
    )


def at_distance(
    lon: float, lat: float, metres: float, azimuth: float = 90.0
) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return float(x), float(y)


def all_off_duty(session: Session, prefix: str) -> None:
    session.execute(
        text(
            "UPDATE worker SET on_duty = false WHERE id IN "
            "(SELECT worker_id FROM worker_grid WHERE grid_code LIKE :p || '%')"
        ),
        {"p": prefix},
    )


def primary_of(session: Session, grid: str) -> list[int]:
    rows = session.execute(
        text("SELECT worker_id FROM worker_grid WHERE grid_code = :g AND duty = 'primary'"),
        {"g": grid},
    )
    return [int(r) for (r,) in rows]


def links(session: Session, worker_id: int) -> dict[str, str]:
    rows = session.execute(
        text("SELECT grid_code, duty FROM worker_grid WHERE worker_id = :w"), {"w": worker_id}
    )
    return dict(rows.all())


def report(session: Session, index: lookup.Index, lon: float, lat: float) -> int | None:
    made = incidents.report_incident(
        session, index, incidents.Report(lon=lon, lat=lat, category="0501")
    )
    return made.incident["worker_id"]


@dataclass(frozen=True)
class Scene:
    """A grid with a point well inside it, two other grids of its village, a grid of another
    village of the same township and a grid of another township."""

    grid: str
    lon: float
    lat: float
    village_grids: tuple[str, str]
    township_grid: str
    other_township_grid: str

    @property
    def village(self) -> str:
        return self.grid[:12]

    @property
    def township(self) -> str:
        return self.grid[:9]


@pytest.fixture
def scene(demo_tx: Session, demo_index: lookup.Index) -> Scene:
    grids = read_grids(demo_tx)
    village = grids["code"].str[:12]
    township = grids["code"].str[:9]
    for code, geom in zip(grids["code"], grids.geometry, strict=True):
        mates = grids["code"][(village == code[:12]) & (grids["code"] != code)].tolist()
        cousins = grids["code"][(township == code[:9]) & (village != code[:12])].tolist()
        strangers = grids["code"][township != code[:9]].tolist()
        if len(mates) < 2 or not cousins or not strangers or area_m2(geom) < 60_000:
            continue
        lon, lat = interior_point(geom)
        where = lookup.locate_one(demo_index, lon, lat)
        if where.grid != code or where.near_boundary:
            continue
        return Scene(code, lon, lat, (mates[0], mates[1]), cousins[0], strangers[0])
    pytest.fail("no suitable grid in the demo")


# --- roster -------------------------------------------------------------------------------------


def test_add_shows_grids_with_chinese_labels_and_takes_over_primary(demo_tx: Session) -> None:
    grids = read_grids(demo_tx)["code"].tolist()
    first, second, third = grids[10], grids[11], grids[500]
    (old_primary,) = primary_of(demo_tx, first)
    worker_id = new_worker(
        demo_tx,
        name="  李四  ",
        role="parttime",
        phone="13800000000",
        primary_grids=(first,),
        supporting_grids=(second, third),
    )
    shown = workers.require(demo_tx, worker_id)
    assert shown["name"] == "李四" and shown["phone"] == "13800000000"
    assert shown["role"] == "parttime" and shown["role_zh"] == "兼职网格员"
    assert shown["on_duty"] is True and shown["county_code"] == COUNTY
    assert shown["lon"] is None and shown["last_seen"] is None
    assert sorted(shown["grids"], key=lambda g: g["code"]) == [
        {"code": first, "duty": "primary", "duty_zh": "主责"},
        {"code": second, "duty": "supporting", "duty_zh": "协助"},
        {"code": third, "duty": "supporting", "duty_zh": "协助"},
    ]
    # The previous primary stays on the grid, demoted to supporting; one primary per grid.
    assert primary_of(demo_tx, first) == [worker_id]
    assert links(demo_tx, old_primary)[first] == "supporting"
    # The second grid kept its own primary.
    assert len(primary_of(demo_tx, second)) == 1 and primary_of(demo_tx, second) != [worker_id]

    # Giving the grid back makes the old primary primary again and demotes the new worker.
    workers.assign(demo_tx, old_primary, [first], duty="primary")
    assert primary_of(demo_tx, first) == [old_primary]
    assert links(demo_tx, worker_id) == {
        first: "supporting",
        second: "supporting",
        third: "supporting",
    }
    assert links(demo_tx, old_primary)[first] == "primary"


def test_roles_have_chinese_labels(demo_tx: Session) -> None:
    labels = {"fulltime": "专职网格员", "parttime": "兼职网格员", "cadre": "包联干部"}
    for role, label in labels.items():
        assert workers.require(demo_tx, new_worker(demo_tx, role=role))["role_zh"] == label


def test_every_grid_keeps_exactly_one_primary_after_reassignments(demo_tx: Session) -> None:
    grids = read_grids(demo_tx)["code"].tolist()
    chosen = grids[100:104]
    first = new_worker(demo_tx, primary_grids=tuple(chosen[:2]))
    second = new_worker(demo_tx, primary_grids=tuple(chosen[1:3]))
    workers.assign(demo_tx, first, chosen[2:], duty="primary")
    workers.assign(demo_tx, second, [chosen[0]], duty="supporting")
    counts = dict(
        demo_tx.execute(
            text(
                "SELECT u.code, count(wg.worker_id) FILTER (WHERE wg.duty = 'primary') "
                "FROM unit u LEFT JOIN worker_grid wg ON wg.grid_code = u.code "
                "WHERE u.level = 'grid' AND u.county_code = :c AND u.generation_high IS NULL "
                "GROUP BY u.code"
            ),
            {"c": COUNTY},
        ).all()
    )
    assert len(counts) == len(grids) and set(counts.values()) == {1}
    assert links(demo_tx, first) == {
        chosen[0]: "primary",
        chosen[1]: "supporting",
        chosen[2]: "primary",
        chosen[3]: "primary",
    }
    assert links(demo_tx, second) == {
        chosen[0]: "supporting",
        chosen[1]: "primary",
        chosen[2]: "supporting",
    }


def test_add_refuses_bad_input_and_stores_nothing(demo_tx: Session) -> None:
    grid = read_grids(demo_tx)["code"].iloc[0]
    before = demo_tx.execute(text("SELECT count(*) FROM worker")).scalar_one()
    unknown = COUNTY + "999999001"
    with pytest.raises(NotFoundError) as missing:
        new_worker(demo_tx, primary_grids=(grid,), supporting_grids=(unknown,))
    assert missing.value.context["grids"] == [unknown]
    with pytest.raises(InvalidInputError):  # a 西昌 grid for a 德昌县 worker
        new_worker(demo_tx, county_code="513424", supporting_grids=(grid,))
    with pytest.raises(InvalidInputError):
        new_worker(demo_tx, role="boss", primary_grids=(grid,))
    with pytest.raises(InvalidInputError):
        new_worker(demo_tx, name="   ")
    with pytest.raises(InvalidCodeError):
        new_worker(demo_tx, supporting_grids=(grid[:-1],))
    with pytest.raises(InvalidCodeError):
        new_worker(demo_tx, county_code="5134")
    assert demo_tx.execute(text("SELECT count(*) FROM worker")).scalar_one() == before
    # The failed calls left the grid's primary alone.
    assert len(primary_of(demo_tx, grid)) == 1


def test_assign_refuses_bad_duty_unknown_worker_and_foreign_grid(demo_tx: Session) -> None:
    grid = read_grids(demo_tx)["code"].iloc[3]
    worker_id = new_worker(demo_tx)
    with pytest.raises(InvalidInputError):
        workers.assign(demo_tx, worker_id, [grid], duty="boss")
    with pytest.raises(NotFoundError):
        workers.assign(demo_tx, 2_000_000_000, [grid], duty="supporting")
    with pytest.raises(NotFoundError):
        workers.assign(demo_tx, worker_id, [COUNTY + "999999001"], duty="supporting")
    with pytest.raises(InvalidInputError):
        workers.assign(demo_tx, worker_id, ["513424001001001"], duty="supporting")
    assert links(demo_tx, worker_id) == {}


def test_set_on_duty_toggles(demo_tx: Session) -> None:
    worker_id = new_worker(demo_tx)
    assert workers.set_on_duty(demo_tx, worker_id, False)["on_duty"] is False
    assert workers.require(demo_tx, worker_id)["on_duty"] is False
    assert workers.set_on_duty(demo_tx, worker_id, True)["on_duty"] is True
    on_duty = demo_tx.execute(text("SELECT on_duty FROM worker WHERE id = :w"), {"w": worker_id})
    assert on_duty.scalar_one() is True
    with pytest.raises(NotFoundError):
        workers.set_on_duty(demo_tx, 2_000_000_000, False)
    with pytest.raises(NotFoundError):
        workers.require(demo_tx, 2_000_000_000)
    assert workers.get(demo_tx, 2_000_000_000) is None


def test_search_by_village_code_and_duty(demo_tx: Session) -> None:
    grids = read_grids(demo_tx)
    village = grids["code"].iloc[40][:12]
    members = grids["code"][grids["code"].str.startswith(village)].tolist()
    mine = new_worker(demo_tx, role="cadre", on_duty=False, supporting_grids=(members[0],))
    rows = demo_tx.execute(
        text(
            "SELECT DISTINCT w.id, w.on_duty, w.role FROM worker w "
            "JOIN worker_grid wg ON wg.worker_id = w.id WHERE wg.grid_code LIKE :v || '%'"
        ),
        {"v": village},
    ).all()
    expected = {int(r.id) for r in rows}
    off = {int(r.id) for r in rows if not r.on_duty}
    cadres = {int(r.id) for r in rows if r.role == "cadre"}
    assert mine in off and mine in cadres

    total, found = workers.search(demo_tx, code=village, limit=1000)
    assert total == len(expected) and {w["id"] for w in found} == expected
    assert [w["id"] for w in found] == sorted(expected)
    for worker in found:  # every worker listed has a grid of the village, with labels
        assert any(g["code"].startswith(village) for g in worker["grids"])
        assert worker["role_zh"] == WorkerRole(worker["role"]).zh

    total, found = workers.search(demo_tx, code=village, on_duty=False, limit=1000)
    assert total == len(off) and {w["id"] for w in found} == off
    assert all(w["on_duty"] is False for w in found)
    total, found = workers.search(demo_tx, code=village, on_duty=True, limit=1000)
    assert total == len(expected - off) and {w["id"] for w in found} == expected - off
    total, found = workers.search(demo_tx, code=village, role="cadre", limit=1000)
    assert {w["id"] for w in found} == cadres

    # Paging keeps the total and walks through the same ids.
    total, first = workers.search(demo_tx, code=village, limit=2)
    _, rest = workers.search(demo_tx, code=village, limit=1000, offset=2)
    assert total == len(expected) and len(first) == min(2, total)
    assert [w["id"] for w in first + rest] == sorted(expected)

    # A grid code narrows to that grid's workers.
    grid_ids = {
        int(w)
        for (w,) in demo_tx.execute(
            text("SELECT worker_id FROM worker_grid WHERE grid_code = :g"), {"g": members[0]}
        )
    }
    assert {w["id"] for w in workers.search(demo_tx, code=members[0], limit=1000)[1]} == grid_ids
    assert workers.search(demo_tx, county="513424")[0] == 0


# --- assignment ---------------------------------------------------------------------------------


def test_primary_on_duty_gets_the_incident_even_with_someone_nearer(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene
) -> None:
    (primary,) = primary_of(demo_tx, scene.grid)
    workers.set_on_duty(demo_tx, primary, True)
    place(demo_tx, primary, *at_distance(scene.lon, scene.lat, 3000))
    nearer = new_worker(demo_tx, supporting_grids=(scene.grid,))
    place(demo_tx, nearer, scene.lon, scene.lat)
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == primary
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == primary  # load does not matter


def test_primary_off_duty_goes_to_nearest_of_village_balancing_open_cases(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene
) -> None:
    all_off_duty(demo_tx, scene.village)
    near = new_worker(demo_tx, role="parttime", supporting_grids=(scene.village_grids[0],))
    far = new_worker(demo_tx, role="cadre", supporting_grids=(scene.village_grids[1],))
    cousin = new_worker(demo_tx, supporting_grids=(scene.township_grid,))  # same township
    idle = new_worker(demo_tx, on_duty=False, supporting_grids=(scene.grid,))
    place(demo_tx, near, *at_distance(scene.lon, scene.lat, 100))
    place(demo_tx, far, *at_distance(scene.lon, scene.lat, 400, azimuth=200))
    place(demo_tx, cousin, *at_distance(scene.lon, scene.lat, 10))
    place(demo_tx, idle, scene.lon, scene.lat)

    where = lookup.locate_one(demo_index, scene.lon, scene.lat)
    assert where.grid == scene.grid
    assert workers.choose(demo_tx, where) == near
    # cost = metres + 500 per open case: near 100 → 600 → 1100, far 400 → 900
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == near  # near 100, far 400
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == far  # near 600, far 400
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == near  # near 600, far 900
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == far  # near 1100, far 900
    assert workers.choose(demo_tx, where) == near  # near 1100, far 1400


def test_position_is_used_before_grid_and_without_position_the_grid_counts(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene
) -> None:
    all_off_duty(demo_tx, scene.village)
    grids = read_grids(demo_tx).set_index("code")
    # No position: the distance is from a point inside the worker's grid of the village.
    here = new_worker(demo_tx, supporting_grids=(scene.grid,))
    there = new_worker(demo_tx, supporting_grids=(scene.village_grids[0],))
    where = lookup.locate_one(demo_index, scene.lon, scene.lat)
    surface = {
        code: shapely.point_on_surface(grids.geometry[code])
        for code in (scene.grid, scene.village_grids[0])
    }
    metres = {code: GEOD.inv(scene.lon, scene.lat, p.x, p.y)[2] for code, p in surface.items()}
    expected = here if metres[scene.grid] < metres[scene.village_grids[0]] else there
    assert workers.choose(demo_tx, where) == expected
    # A known position beats the grid: put the other one right at the incident.
    other = there if expected == here else here
    place(demo_tx, other, scene.lon, scene.lat)
    assert workers.choose(demo_tx, where) == other


def test_whole_village_off_duty_goes_to_the_township(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene
) -> None:
    all_off_duty(demo_tx, scene.township)
    cousin = new_worker(demo_tx, supporting_grids=(scene.township_grid,))
    second = new_worker(demo_tx, role="cadre", supporting_grids=(scene.township_grid,))
    stranger = new_worker(demo_tx, supporting_grids=(scene.other_township_grid,))
    place(demo_tx, cousin, *at_distance(scene.lon, scene.lat, 50))
    place(demo_tx, second, *at_distance(scene.lon, scene.lat, 300, azimuth=0))
    place(demo_tx, stranger, scene.lon, scene.lat)  # nearest, but of another township
    where = lookup.locate_one(demo_index, scene.lon, scene.lat)
    assert workers.choose(demo_tx, where) == cousin
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == cousin  # 50 vs 300
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == second  # 550 vs 300
    # The village has someone on duty again: the village comes first, however far.
    villager = new_worker(demo_tx, supporting_grids=(scene.village_grids[1],))
    place(demo_tx, villager, *at_distance(scene.lon, scene.lat, 5000))
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == villager


@pytest.mark.parametrize("level", ["village", "township"])
def test_fallback_matches_an_independent_cost(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene, level: str
) -> None:
    """With the demo roster and no positions: the cheapest on-duty worker of the village when
    only the primary is off duty, of the township when the whole village is."""
    (primary,) = primary_of(demo_tx, scene.grid)
    workers.set_on_duty(demo_tx, primary, False)
    if level == "township":
        all_off_duty(demo_tx, scene.village)
    prefix = scene.village if level == "village" else scene.township
    demo_tx.execute(
        text(
            "UPDATE worker SET position = NULL WHERE id IN "
            "(SELECT worker_id FROM worker_grid WHERE grid_code LIKE :p || '%')"
        ),
        {"p": scene.township},
    )
    grids = read_grids(demo_tx).set_index("code")
    rows = demo_tx.execute(
        text(
            "SELECT wg.worker_id, wg.grid_code FROM worker_grid wg JOIN worker w "
            "ON w.id = wg.worker_id WHERE w.on_duty AND wg.grid_code LIKE :p || '%'"
        ),
        {"p": prefix},
    ).all()
    assert rows
    distance: dict[int, float] = {}
    for worker_id, grid in rows:
        inside = shapely.point_on_surface(grids.geometry[grid])
        metres = GEOD.inv(scene.lon, scene.lat, inside.x, inside.y)[2]
        distance[int(worker_id)] = min(distance.get(int(worker_id), np.inf), metres)
    open_cases = dict(
        demo_tx.execute(
            text(
                "SELECT worker_id, count(*) FROM incident WHERE worker_id IS NOT NULL "
                "AND stage = ANY(:open) GROUP BY worker_id"
            ),
            {"open": list(OPEN_STAGES)},
        ).all()
    )
    cost = {w: d + 500.0 * open_cases.get(w, 0) for w, d in distance.items()}
    best = min(cost.values())
    where = lookup.locate_one(demo_index, scene.lon, scene.lat)
    chosen = workers.choose(demo_tx, where)
    assert chosen != primary
    assert chosen in cost and cost[chosen] <= best + 0.01
    grids_of_chosen = links(demo_tx, chosen)
    assert any(g.startswith(prefix) for g in grids_of_chosen)
    if level == "township":
        assert not any(g.startswith(scene.village) for g in grids_of_chosen)
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == chosen


def test_whole_township_off_duty_leaves_the_incident_unassigned(
    demo_tx: Session, demo_index: lookup.Index, scene: Scene
) -> None:
    stranger = new_worker(demo_tx, supporting_grids=(scene.other_township_grid,))
    place(demo_tx, stranger, scene.lon, scene.lat)
    all_off_duty(demo_tx, scene.township)
    where = lookup.locate_one(demo_index, scene.lon, scene.lat)
    assert workers.choose(demo_tx, where) is None
    made = incidents.report_incident(
        demo_tx, demo_index, incidents.Report(lon=scene.lon, lat=scene.lat, category="0501")
    )
    assert made.incident["worker_id"] is None and made.incident["grid_code"] == scene.grid
    # Back on duty, the grid's primary takes the next one.
    (primary,) = primary_of(demo_tx, scene.grid)
    workers.set_on_duty(demo_tx, primary, True)
    assert report(demo_tx, demo_index, scene.lon, scene.lat) == primary


# --- staffing -----------------------------------------------------------------------------------


def test_unstaffed_lists_exactly_the_grid_that_lost_its_fulltime_worker(demo_tx: Session) -> None:
    assert workers.unstaffed(demo_tx, COUNTY) == []
    grids = read_grids(demo_tx)
    target = grids["code"].iloc[77]
    demo_tx.execute(
        text(
            "DELETE FROM worker_grid WHERE grid_code = :g AND worker_id IN "
            "(SELECT id FROM worker WHERE role = 'fulltime')"
        ),
        {"g": target},
    )
    gaps = workers.unstaffed(demo_tx, COUNTY)
    assert [g["code"] for g in gaps] == [target]
    row = grids.set_index("code").loc[target]
    assert gaps[0]["name"] == row["name"] and gaps[0]["parent_code"] == target[:12]
    # A parttime worker does not staff it; a fulltime one as supporting does.
    new_worker(demo_tx, role="parttime", primary_grids=(target,))
    assert [g["code"] for g in workers.unstaffed(demo_tx, COUNTY)] == [target]
    new_worker(demo_tx, role="fulltime", supporting_grids=(target,))
    assert workers.unstaffed(demo_tx, COUNTY) == []


def test_unstaffed_checks_the_county_code(demo_tx: Session) -> None:
    with pytest.raises(InvalidCodeError):
        workers.unstaffed(demo_tx, "5134")
    # 德昌县 has no grids loaded, so none are unstaffed.
    assert workers.unstaffed(demo_tx, "513424") == []


# --- tracks -------------------------------------------------------------------------------------


def stored_fixes(session: Session, worker_id: int) -> list:
    return session.execute(
        text(
            "SELECT recorded_at, ST_X(geom) AS lon, ST_Y(geom) AS lat, h3_cell, accuracy_m, "
            "county_code FROM worker_position WHERE worker_id = :w ORDER BY recorded_at"
        ),
        {"w": worker_id},
    ).all()


def test_gcj02_track_is_stored_in_wgs84_with_its_cells(demo_tx: Session, scene: Scene) -> None:
    worker_id = new_worker(demo_tx, supporting_grids=(scene.grid,))
    lon = scene.lon + np.arange(5) * 0.0004
    lat = scene.lat + np.arange(5) * 0.0002
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert np.all(np.abs(glon - lon) > 1e-4)  # the offset is real here (hundreds of metres)
    times = [T0 + timedelta(seconds=30 * i) for i in range(5)]
    accuracy = [5.0, None, 8.0, 3.0, 12.0]
    added = workers.record_track(
        demo_tx, worker_id, list(glon), list(glat), times, crs_name="GCJ-02", accuracy_m=accuracy
    )
    assert added == 5
    rows = stored_fixes(demo_tx, worker_id)
    back_lon, back_lat = crs.gcj02_to_wgs84(glon, glat)
    assert np.allclose([r.lon for r in rows], back_lon, rtol=0, atol=1e-6)
    assert np.allclose([r.lat for r in rows], back_lat, rtol=0, atol=1e-6)
    assert np.allclose([r.lon for r in rows], lon, rtol=0, atol=1e-6)
    assert [r.recorded_at for r in rows] == times
    assert [r.accuracy_m for r in rows] == accuracy
    assert {r.county_code for r in rows} == {COUNTY}
    assert [r.h3_cell for r in rows] == [cell(r.lon, r.lat) for r in rows]
    shown = workers.require(demo_tx, worker_id)
    assert abs(shown["lon"] - back_lon[-1]) < 1e-6 and abs(shown["lat"] - back_lat[-1]) < 1e-6
    assert shown["last_seen"] == times[-1]

    # Resending stores nothing; a batch overlapping it stores only the new fix.
    assert (
        workers.record_track(demo_tx, worker_id, list(glon), list(glat), times, crs_name="gcj02")
        == 0
    )
    more = [*times[-2:], times[-1] + timedelta(seconds=30)]
    extra = workers.record_track(
        demo_tx, worker_id, [*glon[-2:], glon[-1]], [*glat[-2:], glat[-1]], more, crs_name="gcj02"
    )
    assert extra == 1 and len(stored_fixes(demo_tx, worker_id)) == 6


def test_last_position_moves_to_the_newest_fix_only(demo_tx: Session, scene: Scene) -> None:
    worker_id = new_worker(demo_tx)
    points = [at_distance(scene.lon, scene.lat, d) for d in (0, 100, 200)]
    times = [T0 + timedelta(minutes=m) for m in (5, 10, 0)]  # the middle point is the newest
    workers.record_track(demo_tx, worker_id, [p[0] for p in points], [p[1] for p in points], times)
    shown = workers.require(demo_tx, worker_id)
    assert (shown["lon"], shown["lat"]) == pytest.approx(points[1], abs=1e-9)
    assert shown["last_seen"] == times[1]
    # An older fix arriving late does not move the worker back.
    old = at_distance(scene.lon, scene.lat, 900)
    assert (
        workers.record_track(demo_tx, worker_id, [old[0]], [old[1]], [T0 + timedelta(minutes=7)])
        == 1
    )
    shown = workers.require(demo_tx, worker_id)
    assert (shown["lon"], shown["lat"]) == pytest.approx(points[1], abs=1e-9)
    assert shown["last_seen"] == times[1]
    # A newer one does.
    new = at_distance(scene.lon, scene.lat, 300)
    later = T0 + timedelta(minutes=11)
    workers.record_track(demo_tx, worker_id, [new[0]], [new[1]], [later])
    shown = workers.require(demo_tx, worker_id)
    assert (shown["lon"], shown["lat"]) == pytest.approx(new, abs=1e-9)
    assert shown["last_seen"] == later


def test_record_track_refuses_bad_fixes(demo_tx: Session, scene: Scene) -> None:
    worker_id = new_worker(demo_tx)
    lon, lat = [scene.lon, scene.lon], [scene.lat, scene.lat + 0.001]
    times = [T0, T0 + timedelta(seconds=20)]
    naive = [t.replace(tzinfo=None) for t in times]
    with pytest.raises(InvalidInputError):
        workers.record_track(demo_tx, worker_id, lon, lat, naive)
    with pytest.raises(InvalidInputError):
        workers.record_track(demo_tx, worker_id, lon, lat[:1], times)
    with pytest.raises(InvalidInputError):
        workers.record_track(demo_tx, worker_id, lon, lat, times[:1])
    with pytest.raises(CoordinateOutOfRangeError):
        workers.record_track(demo_tx, worker_id, lon, [scene.lat, 930.0], times)
    with pytest.raises(CoordinateOutOfRangeError):
        workers.record_track(demo_tx, worker_id, [scene.lon, float("nan")], lat, times)
    with pytest.raises(CoordinateOutOfRangeError):
        workers.record_track(demo_tx, worker_id, lon, [scene.lat, float("inf")], times)
    with pytest.raises(UnknownCRSError):
        workers.record_track(demo_tx, worker_id, lon, lat, times, crs_name="mercator")
    with pytest.raises(NotFoundError):
        workers.record_track(demo_tx, 2_000_000_000, lon, lat, times)
    too_many = workers.MAX_FIXES + 1
    with pytest.raises(InvalidInputError):
        workers.record_track(
            demo_tx, worker_id, [scene.lon] * too_many, [scene.lat] * too_many, [T0] * too_many
        )
    assert stored_fixes(demo_tx, worker_id) == []
    assert workers.require(demo_tx, worker_id)["last_seen"] is None
    assert workers.record_track(demo_tx, worker_id, [], [], []) == 0


# --- coverage -----------------------------------------------------------------------------------


@pytest.fixture
def walk_grid(demo_tx: Session) -> tuple[str, shapely.Geometry]:
    """A mid-sized grid (a few hundred cells at most) to walk across."""
    grids = read_grids(demo_tx)
    areas = np.array([area_m2(g) for g in grids.geometry])
    pick = int(np.flatnonzero((areas > 200_000) & (areas < 800_000))[0])
    return str(grids["code"].iloc[pick]), grids.geometry.iloc[pick]


def grid_row(session: Session, grid: str, worker_id: int | None, **period) -> dict:
    period.setdefault("since", T0 - timedelta(hours=1))
    period.setdefault("until", T0 + timedelta(hours=3))
    rows = workers.coverage(session, county=COUNTY, code=grid, worker_id=worker_id, **period)
    assert [r["grid"] for r in rows] == [grid]
    return rows[0]


def test_grid_cells_match_h3_polygon_fill(demo_tx: Session) -> None:
    grids = read_grids(demo_tx).iloc[::40]
    owner, cells = workers.grid_cells(np.asarray(grids.geometry.values, dtype=object))
    for position, geom in enumerate(grids.geometry):
        assert {int(c) for c in cells[owner == position]} == polygon_cells(geom)


def test_grid_smaller_than_a_cell_gets_the_cell_of_a_point_inside() -> None:
    lon, lat = 102.25, 27.88
    tiny = shapely.box(lon, lat, lon + 0.00005, lat + 0.00005)  # about 5 m by 5 m
    ring = shapely.box(lon + 0.01, lat, lon + 0.02, lat + 0.01)
    owner, cells = workers.grid_cells(np.array([tiny, ring], dtype=object))
    assert list(cells[owner == 0]) == [cell(tiny.centroid.x, tiny.centroid.y)]
    assert {int(c) for c in cells[owner == 1]} == polygon_cells(ring)


def test_coverage_of_a_straight_walk_across_a_grid(
    demo_tx: Session, walk_grid: tuple[str, shapely.Geometry]
) -> None:
    grid, geom = walk_grid
    start, end = interior_chord(geom)
    lon, lat, times = walk(start, end)
    assert len(lon) > 8
    worker_id = new_worker(demo_tx, supporting_grids=(grid,))
    assert workers.record_track(demo_tx, worker_id, list(lon), list(lat), times) == len(lon)

    inside = polygon_cells(geom)
    expected = segment_cells(lon, lat) & inside
    row = grid_row(demo_tx, grid, worker_id)
    assert row["cells"] == len(inside)
    assert abs(row["visited"] - len(expected)) <= 3
    assert row["visited"] >= len({cell(x, y) for x, y in zip(lon, lat, strict=True)} & inside)
    assert row["coverage"] == pytest.approx(row["visited"] / row["cells"], abs=1e-4)
    assert 0 < row["coverage"] < 1
    # Another worker's period and filter: nobody else walked here then.
    assert grid_row(demo_tx, grid, None)["visited"] == row["visited"]
    other = new_worker(demo_tx)
    assert grid_row(demo_tx, grid, other)["visited"] == 0


def test_coverage_counts_the_cells_between_fixes(
    demo_tx: Session, walk_grid: tuple[str, shapely.Geometry]
) -> None:
    """Two fixes at the ends of a chord: joined within 10 minutes, not joined after that."""
    grid, geom = walk_grid
    start, end = interior_chord(geom)
    _, _, length = GEOD.inv(*start, *end)
    assert length > 200
    lon, lat = np.array([start[0], end[0]]), np.array([start[1], end[1]])
    inside = polygon_cells(geom)
    ends = {cell(*start), cell(*end)} & inside
    line = segment_cells(lon, lat) & inside
    assert len(line) > len(ends) + 3

    joined = new_worker(demo_tx, supporting_grids=(grid,))
    times = [T0, T0 + timedelta(seconds=MAX_GAP_S)]
    workers.record_track(demo_tx, joined, list(lon), list(lat), times)
    assert abs(grid_row(demo_tx, grid, joined)["visited"] - len(line)) <= 3

    apart = new_worker(demo_tx, supporting_grids=(grid,))
    times = [T0, T0 + timedelta(seconds=MAX_GAP_S + 1)]
    workers.record_track(demo_tx, apart, list(lon), list(lat), times)
    assert grid_row(demo_tx, grid, apart)["visited"] == len(ends)

    # One fix of each of two workers, seconds apart: two tracks, never joined to each other.
    later = T0 + timedelta(days=1)
    first, second = new_worker(demo_tx), new_worker(demo_tx)
    workers.record_track(demo_tx, first, [start[0]], [start[1]], [later])
    workers.record_track(demo_tx, second, [end[0]], [end[1]], [later + timedelta(seconds=10)])
    both = grid_row(demo_tx, grid, None, since=later, until=later + timedelta(hours=1))
    assert both["visited"] == len(ends)


def test_walk_over_every_cell_centre_covers_a_small_grid(demo_tx: Session) -> None:
    grids = read_grids(demo_tx)
    counts = [len(polygon_cells(g)) for g in grids.geometry]
    pick = int(np.argmin(counts))
    grid, geom = str(grids["code"].iloc[pick]), grids.geometry.iloc[pick]
    cells = polygon_cells(geom)
    centres = sorted(h3i.cell_to_latlng(c) for c in cells)
    lat = np.array([c[0] for c in centres])
    lon = np.array([c[1] for c in centres])
    times = [T0 + timedelta(seconds=FIX_EVERY_S * i) for i in range(len(centres))]
    worker_id = new_worker(demo_tx, supporting_grids=(grid,))
    workers.record_track(demo_tx, worker_id, list(lon), list(lat), times)
    row = grid_row(demo_tx, grid, worker_id)
    assert row == {"grid": grid, "cells": len(centres), "visited": len(centres), "coverage": 1.0}
    # Half the period: the cells of its fixes and of the lines between them.
    half = len(centres) // 2
    row = grid_row(demo_tx, grid, worker_id, until=times[half])
    assert abs(row["visited"] - len(segment_cells(lon[:half], lat[:half]) & set(cells))) <= 2
    assert row["visited"] < len(centres)


def test_coverage_period_is_half_open_and_checked(
    demo_tx: Session, walk_grid: tuple[str, shapely.Geometry]
) -> None:
    grid, geom = walk_grid
    lon, lat, times = walk(*interior_chord(geom))
    worker_id = new_worker(demo_tx, supporting_grids=(grid,))
    workers.record_track(demo_tx, worker_id, list(lon), list(lat), times)
    after = grid_row(demo_tx, grid, worker_id, since=times[-1] + timedelta(seconds=1))
    assert after["visited"] == 0 and after["coverage"] == 0.0 and after["cells"] > 0
    before = grid_row(demo_tx, grid, worker_id, since=T0 - timedelta(days=1), until=times[0])
    assert before["visited"] == 0
    only_first = grid_row(demo_tx, grid, worker_id, until=times[0] + timedelta(seconds=1))
    assert only_first["visited"] == len({cell(lon[0], lat[0])} & polygon_cells(geom))
    with pytest.raises(InvalidInputError):
        workers.coverage(demo_tx, county=COUNTY, since=T0, until=T0)
    with pytest.raises(InvalidInputError):
        workers.coverage(demo_tx, county=COUNTY, since=T0, until=T0 - timedelta(hours=1))
    with pytest.raises(NotFoundError):
        workers.coverage(demo_tx, county="513424", since=T0, until=T0 + timedelta(hours=1))
    with pytest.raises(NotFoundError):
        workers.coverage(
            demo_tx, county=COUNTY, code=COUNTY + "999", since=T0, until=T0 + timedelta(hours=1)
        )
    with pytest.raises(InvalidCodeError):
        workers.coverage(demo_tx, county="5134", since=T0, until=T0 + timedelta(hours=1))


def test_coverage_by_village_code_lists_its_grids(
    demo_tx: Session, walk_grid: tuple[str, shapely.Geometry]
) -> None:
    grid, _ = walk_grid
    grids = read_grids(demo_tx)
    members = grids[grids["code"].str.startswith(grid[:12])]
    rows = workers.coverage(
        demo_tx, county=COUNTY, code=grid[:12], since=T0, until=T0 + timedelta(hours=1)
    )
    assert [r["grid"] for r in rows] == members["code"].tolist()
    assert [r["cells"] for r in rows] == [len(polygon_cells(g)) for g in members.geometry]
    assert all(type(r["coverage"]) is float and type(r["visited"]) is int for r in rows)


# --- visited_cells, property-based --------------------------------------------------------------


@st.composite
def tracks(draw: st.DrawFn) -> tuple[NDArray[np.float64], ...]:
    """Fixes of up to three workers around 西昌: per track time-sorted, some far apart."""
    size = draw(st.integers(1, 25))
    track = np.sort(np.array(draw(st.lists(st.integers(0, 2), min_size=size, max_size=size))))
    gaps = np.array(draw(st.lists(st.floats(0, 1500), min_size=size, max_size=size)))
    seconds = np.cumsum(gaps)
    step = st.floats(-0.012, 0.012, allow_nan=False)
    lon = 102.25 + np.cumsum(draw(st.lists(step, min_size=size, max_size=size)))
    lat = 27.88 + np.cumsum(draw(st.lists(step, min_size=size, max_size=size)))
    return lon, lat, seconds, track.astype(np.int64)


@EXAMPLES
@given(tracks())
def test_visited_cells_contain_every_fix_and_are_sorted_unique(data) -> None:
    lon, lat, seconds, track = data
    visited = workers.visited_cells(lon, lat, seconds, track)
    assert visited.dtype == np.uint64
    assert np.all(np.diff(visited.astype(np.int64)) > 0)
    own = {cell(x, y) for x, y in zip(lon, lat, strict=True)}
    assert own <= {int(c) for c in visited}
    # With every fix its own track nothing is joined: exactly the fixes' cells.
    alone = workers.visited_cells(lon, lat, seconds, np.arange(len(lon), dtype=np.int64))
    assert [int(c) for c in alone] == sorted(own)


@EXAMPLES
@given(
    st.floats(50, 1900),
    st.floats(0, 360),
    st.floats(0, MAX_GAP_S),
)
def test_visited_cells_join_close_fixes_along_the_line(metres, azimuth, gap) -> None:
    start = (102.25, 27.88)
    end = at_distance(*start, metres, azimuth)
    lon, lat = np.array([start[0], end[0]]), np.array([start[1], end[1]])
    visited = {
        int(c) for c in workers.visited_cells(lon, lat, np.array([0.0, gap]), np.zeros(2, np.int64))
    }
    line = segment_cells(lon, lat, step_m=0.1)
    assert visited <= line  # never a cell off the line
    assert len(line - visited) <= max(3, len(line) // 10)  # at most cells clipped at a corner


def test_visited_cells_do_not_join_jumps_or_gaps() -> None:
    start = (102.25, 27.88)
    far = at_distance(*start, MAX_JUMP_M + 500)
    lon, lat = np.array([start[0], far[0]]), np.array([start[1], far[1]])
    one = np.zeros(2, dtype=np.int64)
    assert {int(c) for c in workers.visited_cells(lon, lat, np.array([0.0, 60.0]), one)} == {
        cell(*start),
        cell(*far),
    }
    near = at_distance(*start, 400)
    lon, lat = np.array([start[0], near[0]]), np.array([start[1], near[1]])
    gap = MAX_GAP_S
    assert len(workers.visited_cells(lon, lat, np.array([0.0, gap + 1]), one)) == 2
    assert len(workers.visited_cells(lon, lat, np.array([0.0, gap]), one)) > 10
    empty = np.zeros(0)
    assert len(workers.visited_cells(empty, empty, empty, np.zeros(0, dtype=np.int64))) == 0


def test_one_call_cannot_give_a_grid_two_primaries(demo_tx) -> None:
    from gridmap.errors import InvalidInputError

    grid = db.units.read(demo_tx, county="513401", level="grid")["code"].iloc[0]
    new = [workers.NewWorker("513401", name, primary_grids=(grid,)) for name in ("甲", "乙")]
    with pytest.raises(InvalidInputError, match="two primary"):
        workers.add(demo_tx, new)
