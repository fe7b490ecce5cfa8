"""HTTP tests for /api/v1/sites and /api/v1/relocation on the demo database, each in its own
rolled-back transaction (``tx_client``): sites added and refused, a plan from a hazard polygon,
its lists, GeoJSON and map, carry-out and registration, and who may see and do what."""

from __future__ import annotations

import io

import openpyxl
import pytest

import shapely

from tests import identities

COUNTY = "513401"
PROBLEM = "application/problem+json"


def as_user(client, username: str) -> dict[str, str]:
    return identities.bearer(client.app.state.settings.database_url, username)


def site_feature(code: str, lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "code": code,
            "name": f"避难场所{code}",
            "kind": "shelter",
            "capacity_households": 3_000,
            "capacity_persons": 12_000,
            **props,
        },
    }


def assert_problem(response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert words in response.json()["detail"]


@pytest.fixture
def villages(tx_client) -> list[dict]:
    """The demo's villages, most households first."""
    body = tx_client.get("/api/v1/units", params={"level": "village", "limit": 1000}).json()
    features = body["features"]
    return sorted(features, key=lambda f: (-f["properties"]["households"], f["properties"]["code"]))


def centre(feature: dict) -> tuple[float, float]:
    point = shapely.geometry.shape(feature["geometry"]).representative_point()
    return point.x, point.y


@pytest.fixture
def plan_scene(tx_client, villages):
    """Three shelters in big villages, a hazard polygon over the biggest; the plan made."""
    first = centre(villages[0])
    for k, village in enumerate(villages[3:6]):
        created = tx_client.post("/api/v1/sites", json=site_feature(f"H{k}", *centre(village)))
        assert created.status_code == 201, created.text
    hazard = shapely.geometry.mapping(shapely.Point(*first).buffer(0.004))
    made = tx_client.post(
        "/api/v1/relocation/plans", json={"county_code": COUNTY, "hazard": hazard}
    )
    assert made.status_code == 201, made.text
    return made.json()


def test_a_site_is_added_listed_and_read(tx_client, villages) -> None:
    lon, lat = centre(villages[0])
    made = tx_client.post("/api/v1/sites", json=site_feature("A1", lon, lat, facilities=["学校"]))
    assert made.status_code == 201, made.text
    body = made.json()["sites"][0]
    assert body["village_code"].startswith(COUNTY) and body["facilities"] == ["school"]
    assert made.headers["location"] == f"/api/v1/sites/{body['id']}"
    one = tx_client.get(made.headers["location"])
    assert one.status_code == 200 and one.json()["properties"]["kind_label"] == "应急避难场所"
    listed = tx_client.get("/api/v1/sites", params={"county": COUNTY}).json()
    assert [f["properties"]["code"] for f in listed["features"]] == ["A1"]


def test_bad_sites_get_clear_problems_and_nothing_is_written(tx_client, villages) -> None:
    lon, lat = centre(villages[0])
    tx_client.post("/api/v1/sites", json=site_feature("D1", lon, lat))
    cases = [
        (site_feature("Z0", lon, lat, capacity_households=0), 422, "more than 0"),
        (site_feature("D1", lon, lat), 409, "already used in county 513401"),
        (site_feature("OUT", 102.75, 27.60, county_code=COUNTY), 422, "outside county 513401"),
        (site_feature("FAR", 116.4, 39.9), 404, "no loaded county"),
        (site_feature("SW", lat, lon), 422, "swapped"),
        (
            {
                **site_feature("L1", lon, lat),
                "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]},
            },
            422,
            "LineString",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    site_feature("OK1", lon, lat),
                    site_feature("BAD", lon, lat, capacity_persons=-1),
                ],
            },
            422,
            "more than 0",
        ),
    ]
    for body, status, words in cases:
        assert_problem(tx_client.post("/api/v1/sites", json=body), status, words)
    listed = tx_client.get("/api/v1/sites", params={"county": COUNTY}).json()
    assert [f["properties"]["code"] for f in listed["features"]] == ["D1"]  # OK1 rolled back
    assert (
        tx_client.post(
            "/api/v1/sites",
            json={**site_feature("K", lon, lat)}
            | {"properties": {**site_feature("K", lon, lat)["properties"], "kind": "hotel"}},
        ).status_code
        == 422
    )


def test_a_plan_from_a_hazard_polygon_with_its_lists_geojson_and_map(tx_client, plan_scene) -> None:
    summary = plan_scene["summary"]
    assert summary["households"] > 0 and summary["optimal"]
    assert summary["assigned"] + summary["unassigned"] == summary["households"]
    path = f"/api/v1/relocation/plans/{plan_scene['id']}"
    assert tx_client.get(path).json()["summary"] == summary
    book = tx_client.get(f"{path}/lists", params={"format": "xlsx"})
    assert book.status_code == 200 and "attachment" in book.headers["content-disposition"]
    sheets = openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames
    assert sheets[0] == "汇总" and len(sheets) >= 2
    csv = tx_client.get(f"{path}/lists", params={"format": "csv", "by": "site"})
    assert csv.content.decode("utf-8-sig").startswith("网格编码,")
    geo = tx_client.get(f"{path}/households")
    homes = [f for f in geo.json()["features"] if f["properties"]["feature"] == "household"]
    assert len(homes) == summary["households"] and "persons" in homes[0]["properties"]
    page = tx_client.get(f"{path}/map")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "cdn" not in page.text.lower()
    listed = tx_client.get("/api/v1/relocation/plans").json()["items"]
    assert listed[0]["id"] == plan_scene["id"]


def test_roles_see_and_do_only_what_they_may(tx_client, plan_scene) -> None:
    path = f"/api/v1/relocation/plans/{plan_scene['id']}"
    planner = as_user(tx_client, f"planner.{COUNTY}")
    lists = tx_client.get(f"{path}/lists", params={"format": "csv", "by": "site"}, headers=planner)
    header = lists.content.decode("utf-8-sig").splitlines()[0]
    assert "人数" not in header and "重点人群" not in header  # sensitive for planners
    geo = tx_client.get(f"{path}/households", headers=planner).json()
    home = next(f for f in geo["features"] if f["properties"]["feature"] == "household")
    assert home["geometry"] is None and "flags" not in home["properties"]
    assert tx_client.post(f"{path}/carry-out", headers=planner).status_code == 403
    viewer = as_user(tx_client, f"viewer.{COUNTY}")
    body = {"county_code": COUNTY, "villages": [plan_scene["summary"] and "513401001002"]}
    assert tx_client.post("/api/v1/relocation/plans", json=body, headers=viewer).status_code == 403
    grid = as_user(tx_client, f"grid.{COUNTY}")
    scope = tx_client.get("/api/v1/auth/me", headers=grid).json()["scope"]
    own = tx_client.get(f"{path}/households", headers=grid).json()
    mine = {
        f["properties"]["grid_code"]
        for f in own["features"]
        if f["properties"]["feature"] == "household"
    }
    assert all(any(g.startswith(code) for code in scope) for g in mine)  # their grids only
    outsider = as_user(tx_client, "admin.test")
    assert tx_client.get(f"{path}", headers=outsider).status_code == 200


def test_carry_out_and_register_over_http(tx_client, plan_scene) -> None:
    path = f"/api/v1/relocation/plans/{plan_scene['id']}"
    moved = tx_client.post(f"{path}/carry-out")
    assert moved.status_code == 200 and moved.json()["moved"] == plan_scene["summary"]["assigned"]
    sites = {s["id"]: s for s in tx_client.get(path).json()["sites"]}
    assert sum(s["occupied_households"] for s in sites.values()) == moved.json()["moved"]
    geo = tx_client.get(f"{path}/households").json()
    one = next(
        f["properties"]["household_id"]
        for f in geo["features"]
        if f["properties"]["feature"] == "household" and f["properties"]["site_id"]
    )
    done = tx_client.post("/api/v1/relocation/registrations", json={"household_ids": [one]})
    assert done.status_code == 200 and done.json() == {"registered": 1}
    again = tx_client.post("/api/v1/relocation/registrations", json={"household_ids": [10**12]})
    assert_problem(again, 422, "no household")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"county_code": COUNTY}, 422, "say who is affected"),
        ({"county_code": COUNTY, "hazard": {"type": "Polygon", "coordinates": "x"}}, 422, "hazard"),
        ({"county_code": COUNTY, "villages": ["513401999999"]}, 404, "no village"),
        ({"county_code": "110101", "villages": ["110101001001"]}, 404, "no county 110101"),
        (
            {"county_code": COUNTY, "villages": ["513401001002"], "sites": ["NOPE"]},
            404,
            "no site NOPE",
        ),
    ],
)
def test_bad_plan_requests_name_the_problem(tx_client, body, status, words) -> None:
    assert_problem(tx_client.post("/api/v1/relocation/plans", json=body), status, words)


def test_a_resettlement_site_becomes_a_community_over_http(tx_client, villages) -> None:
    x, y = centre(villages[0])
    outline = shapely.geometry.mapping(shapely.box(x - 0.003, y - 0.003, x + 0.003, y + 0.003))
    body = site_feature("AZX", x, y, kind="resettlement")
    body["geometry"] = outline
    made = tx_client.post("/api/v1/sites", json=body)
    assert made.status_code == 201, made.text
    path = f"{made.headers['location']}/community"
    planner = as_user(tx_client, f"planner.{COUNTY}")
    assert tx_client.post(path, headers=planner).status_code == 403
    done = tx_client.post(path, params={"name": "新安社区"})
    assert done.status_code == 200, done.text
    code = done.json()["community_code"]
    unit = tx_client.get(f"/api/v1/units/{code}")
    assert unit.status_code == 200 and unit.json()["properties"]["name"] == "新安社区"
    assert_problem(tx_client.post(path), 422, "already")
