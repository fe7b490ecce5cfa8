"""Relocation plans on the demo county: who is affected, capacities kept, stored rows, moves
and registration (Liangshan's rule), lists and map; bad requests write nothing."""

from __future__ import annotations

import io
import json

import numpy as np
import openpyxl
import pytest
from sqlalchemy import func, select, text

import shapely

from gridmap import maps, sites
from gridmap.db.models import Household, RelocationPlan, Site
from gridmap.errors import InvalidCodeError, InvalidGeometryError, NotFoundError, UnknownCodeError
from gridmap.relocation import lists, plans, roads
from gridmap.vocabulary import DistanceKind, KeepTogether

COUNTY = "513401"


def village_centre(session, rank: int = 0) -> tuple[str, float, float]:
    """The ``rank``-th most populous village's code and a point inside it."""
    code, x, y = session.execute(
        text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit"
            " WHERE county_code = :c AND level = 'village' AND generation_high IS NULL"
            " ORDER BY households DESC, code OFFSET :k LIMIT 1"
        ),
        {"c": COUNTY, "k": rank},
    ).one()
    return code, x, y


def add_sites(
    session, spots, capacity: int = 400, kind: str = "shelter", prefix: str = "P"
) -> list[str]:
    given = [
        sites.SiteIn(
            code=f"{prefix}{i:02d}",
            name=f"测试场所{i}",
            kind=kind,
            capacity_households=capacity,
            capacity_persons=capacity * 6,
            geom=shapely.Point(x, y),
        )
        for i, (x, y) in enumerate(spots)
    ]
    return sites.add(session, given, county=COUNTY).codes


@pytest.fixture
def scene(demo_tx):
    """Four shelters in the next most populous villages, a hazard polygon over the first."""
    code, x, y = village_centre(demo_tx)
    spots = [village_centre(demo_tx, k)[1:] for k in range(1, 8)]
    far = [p for p in spots if np.hypot(p[0] - x, p[1] - y) > 0.01][:4]
    add_sites(demo_tx, far)
    hazard = shapely.Point(x, y).buffer(0.006)
    return demo_tx, code, hazard


def affected_count(session, hazard) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Household)
            .where(func.ST_Intersects(Household.geom, func.ST_GeomFromText(hazard.wkt, 4326)))
        )
    )


def test_every_household_in_the_hazard_gets_a_site_within_capacity(scene) -> None:
    session, _, hazard = scene
    result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
    frame = result.households
    assert len(frame) == affected_count(session, hazard) > 0
    assert result.summary["optimal"] and result.summary["method"] == "min_cost_flow"
    loads = frame.dropna(subset=["site_id"]).groupby("site_id").size()
    capacity = {s["id"]: s["capacity_households"] - s["occupied_households"] for s in result.sites}
    assert all(loads[i] <= capacity[i] for i in loads.index)
    served = frame["site_id"].notna()
    assert result.summary["assigned"] == int(served.sum())
    assert result.summary["unassigned"] == int((~served).sum())
    assert (frame.loc[~served, "reason"] == "over_capacity").all()
    assert result.summary["projection"] == "EPSG:4543"  # 102°E zone of CGCS2000 GK
    assert frame.loc[served, "distance_m"].between(100, 60_000).all()  # metres, in the county
    # The stored plan reads back the same.
    again = plans.load(session, result.id)
    assert again.summary == result.summary and len(again.households) == len(frame)


def test_a_site_inside_the_hazard_is_left_out(scene) -> None:
    session, _, hazard = scene
    centre = hazard.centroid
    add_sites(session, [(centre.x, centre.y)], capacity=10_000, prefix="IN")  # would take all
    result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
    used = {s["id"] for s in result.sites}
    assert all(not shapely.from_wkb(s["wkb"]).intersects(hazard) for s in result.sites)
    assert "inside the hazard area left out" in " ".join(result.summary["notes"])
    assert len(used) == 4


def test_villages_and_grids_select_their_households_and_groups_stay_whole(scene) -> None:
    session, village, _ = scene
    spots = [village_centre(session, k)[1:] for k in (9, 10)]
    add_sites(session, spots, capacity=5_000, prefix="BIG")  # room for the whole village
    grid = session.scalar(
        text("SELECT min(grid_code) FROM household WHERE village_code = :v"), {"v": village}
    )
    request = plans.PlanRequest(county=COUNTY, villages=(village,), keep_together=KeepTogether.GRID)
    result = plans.make(session, request, actor="t")
    frame = result.households
    assert set(frame["village_code"]) == {village}
    assert result.summary["groups_split"] == 0
    per_grid = frame.groupby("grid_code")["site_id"].nunique()
    assert (per_grid == 1).all()
    only_grid = plans.make(session, plans.PlanRequest(county=COUNTY, grids=(grid,)), actor="t")
    assert set(only_grid.households["grid_code"]) == {grid}


def test_a_maximum_distance_leaves_the_far_ones_out_with_their_reason(scene) -> None:
    session, _, hazard = scene
    request = plans.PlanRequest(county=COUNTY, hazard=hazard, max_distance_m=100)
    result = plans.make(session, request, actor="t")
    assert result.summary["assigned"] == 0
    assert set(result.households["reason"]) == {"beyond_max_distance"}
    assert result.summary["unassigned_by_reason"] == {"beyond_max_distance": len(result.households)}


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({}, Exception, "say who is affected"),
        ({"villages": ("513401999999",)}, UnknownCodeError, "no village 513401999999"),
        ({"villages": ("5134",)}, InvalidCodeError, "12 digits"),
        ({"grids": ("510101001001001",)}, InvalidCodeError, "not in county"),
        ({"site_codes": ("NOPE",), "villages": None}, UnknownCodeError, "no site NOPE"),
        ({"max_distance_m": float("nan"), "villages": None}, Exception, "max_distance_m"),
        (
            {"hazard": shapely.LineString([(102.2, 27.8), (102.3, 27.9)])},
            InvalidGeometryError,
            "Polygon",
        ),
        ({"hazard": shapely.box(116.3, 39.8, 116.4, 39.9)}, NotFoundError, "no households"),
    ],
)
def test_bad_requests_are_refused_and_write_nothing(scene, changes, error, words) -> None:
    session, village, _ = scene
    if changes.get("villages", ()) is None:
        changes["villages"] = (village,)
    before = session.scalar(select(func.count()).select_from(RelocationPlan))
    with pytest.raises(error, match=words):
        plans.make(session, plans.PlanRequest(county=COUNTY, **changes), actor="t")
    assert session.scalar(select(func.count()).select_from(RelocationPlan)) == before


def test_carry_out_then_register_moves_who_serves_the_household(scene) -> None:
    session, _, hazard = scene
    result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
    served = result.households.dropna(subset=["site_id"])
    moved = plans.carry_out(session, result.id, at=np.datetime64("2026-12-06T10:00").item())
    assert moved == len(served)
    assert plans.carry_out(session, result.id, at=np.datetime64("2026-12-06T11:00").item()) == 0
    occupied = dict(session.execute(select(Site.id, Site.occupied_households)).all())
    for site_id, count in served.groupby("site_id").size().items():
        assert occupied[int(site_id)] == count
    one = int(served["household_id"].iloc[0])
    row = session.execute(select(Household).where(Household.id == one)).scalar_one()
    assert row.destination_site_id is not None and not row.registered
    origin = row.village_code  # until registered, the origin serves it
    assert row.origin_village_code == origin
    assert plans.register(session, [one]) == 1
    session.expire_all()
    row = session.execute(select(Household).where(Household.id == one)).scalar_one()
    site_village = session.scalar(
        select(Site.village_code).where(Site.id == row.destination_site_id)
    )
    assert row.registered and row.village_code == site_village != origin
    assert row.grid_code.startswith(site_village) and row.origin_village_code == origin


def test_register_refuses_households_that_have_not_moved(demo_tx) -> None:
    one = demo_tx.scalar(select(func.min(Household.id)))
    with pytest.raises(Exception, match="has not moved"):
        plans.register(demo_tx, [one])


def test_lists_cover_every_household_once_with_chinese_headers(scene) -> None:
    session, _, hazard = scene
    result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
    by_worker = lists.worker_lists(session, result)
    listed = [i for _, frame in by_worker.values() for i in frame["household_id"]]
    assert sorted(listed) == sorted(result.households["household_id"])
    _, frame = next(iter(by_worker.values()))
    csv = lists.to_csv(frame).decode("utf-8-sig").splitlines()
    assert csv[0].startswith("网格编码,村（社区）编码,户编号,人数,重点人群,安置点编码")
    assert len(csv) == len(frame) + 1
    hidden = lists.to_csv(frame, hidden={"persons", "flags"}).decode("utf-8-sig")
    assert "人数" not in hidden.splitlines()[0] and "重点人群" not in hidden.splitlines()[0]
    sheets = {f"{w} {name}": f for w, (name, f) in by_worker.items()}
    book = openpyxl.load_workbook(io.BytesIO(lists.to_xlsx(sheets, summary=result.summary)))
    assert book.sheetnames[0] == "汇总" and len(book.sheetnames) == len(sheets) + 1
    body = lists.geojson(result, hidden={"persons", "flags", "geometry"})
    homes = [f for f in body["features"] if f["properties"]["feature"] == "household"]
    assert len(homes) == len(result.households)
    assert all(f["geometry"] is None and "persons" not in f["properties"] for f in homes)


def test_the_plan_map_draws_flows_and_sites_offline(scene) -> None:
    session, _, hazard = scene
    result = plans.make(session, plans.PlanRequest(county=COUNTY, hazard=hazard), actor="t")
    page = maps.render(maps.plan_map(session, result))
    for label in ("搬迁流向", "安置点 (4)", "风险区"):  # layer names, JSON-escaped or not
        assert label in page or json.dumps(label)[1:-1] in page
    assert not maps.external_urls(page)


def test_road_distances_run_over_the_network_and_are_never_shorter(scene) -> None:
    session, _, hazard = scene
    rows, _ = sites.listing(session, counties=[COUNTY], limit=1000)
    lon, lat = sites.anchors(rows)
    roads.build_synthetic(session, COUNTY, seed=3, extra=np.column_stack((lon, lat)))
    request = plans.PlanRequest(county=COUNTY, hazard=hazard, distance=DistanceKind.ROAD)
    result = plans.make(session, request, actor="t")
    served = result.households.dropna(subset=["site_id"])
    assert len(served) and served["route_m"].notna().all()
    assert (served["route_m"] >= served["distance_m"] - 0.5).all()
    assert result.summary["distance"] == "road"
