import pytest

from gridmap import crs
from tests.api.test_units import assert_problem


def test_locate_wgs84_point_in_xichang(client):
    body = client.get("/api/v1/locate", params={"lon": 102.26, "lat": 27.88}).json()
    assert body["county"] == "513401" and body["names"]["county"] == "西昌市"
    assert body["township"].startswith("513401") and body["grid"].startswith(body["village"])


def test_locate_gcj02_matches_wgs84(client):
    glon, glat = (float(v) for v in crs.wgs84_to_gcj02(102.26, 27.88))
    body = client.get("/api/v1/locate", params={"lon": glon, "lat": glat, "crs": "gcj02"}).json()
    assert body["county"] == "513401"
    assert body["lon"] == pytest.approx(102.26, abs=1e-8)
    assert body["lat"] == pytest.approx(27.88, abs=1e-8)


@pytest.mark.parametrize(
    ("params", "status", "code", "words"),
    [
        ({"lon": "nan", "lat": 27.88}, 422, "RequestValidationError", "finite"),
        ({"lon": "inf", "lat": 27.88}, 422, "RequestValidationError", "finite"),
        ({"lon": "east", "lat": 27.88}, 422, "RequestValidationError", "lon"),
        ({"lat": 27.88}, 422, "RequestValidationError", "lon"),
        ({"lon": 102.26, "lat": 930}, 422, "CoordinateOutOfRangeError", "lat"),
        ({"lon": 27.88, "lat": 102.26}, 422, "CoordinateOutOfRangeError", "swap"),
        ({"lon": 200, "lat": 27.88}, 422, "CoordinateOutOfRangeError", "lon"),
        ({"lon": 102.26, "lat": 27.88, "crs": "mercator"}, 422, "UnknownCRSError", "gcj02"),
        ({"lon": 116.39, "lat": 39.91}, 404, "OutsideCoverageError", "outside"),
    ],
)
def test_bad_points_get_clear_4xx(client, params, status, code, words):
    body = assert_problem(client.get("/api/v1/locate", params=params), status, code)
    assert words in body["detail"].lower()


def test_point_on_shared_county_edge_goes_to_lower_code_and_is_near_boundary(client):
    units = client.get("/api/v1/units/513401").json()["geometry"]["coordinates"]
    neighbour = client.get("/api/v1/units/513424").json()["geometry"]["coordinates"]
    shared = {tuple(p) for poly in units for ring in poly for p in ring} & {
        tuple(p) for poly in neighbour for ring in poly for p in ring
    }
    lon, lat = sorted(shared)[len(shared) // 2]
    body = client.get("/api/v1/locate", params={"lon": lon, "lat": lat}).json()
    assert body["county"] == "513401"
    assert body["near_boundary"] is True


def test_liveness_and_the_hot_path_answer_like_the_route(client):
    """/livez answers without the framework; GET /locate (hot path) equals the route's answer."""
    assert client.get("/livez").json() == {"status": "ok"}
    from api.routers.locate import locate_current

    params = {"lon": "102.27", "lat": "27.89", "crs": "gcj02"}
    answer = client.get("/api/v1/locate", params=params)
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == locate_current(client.app.state, params)
    blank = client.get("/api/v1/locate", params={"lon": "", "lat": "27.89"})
    assert blank.status_code == 422 and blank.json()["errors"][0]["loc"] == ["query", "lon"]
