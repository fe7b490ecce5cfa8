import pytest

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    assert body["title"]  # Chinese title for the user
    return body


def test_health_is_trivial(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/db").json()
    assert ready["postgis"].startswith("3.")
    assert ready["index_generation"] == client.app.state.index.generation
    assert isinstance(ready["worker"], int)


def test_units_feature_collection_is_rfc7946_and_paged(client):
    response = client.get("/api/v1/units", params={"level": "county", "limit": 10})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 17 and body["numberReturned"] == 10
    assert body["links"][0]["rel"] == "next" and "offset=10" in body["links"][0]["href"]
    feature = body["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert 100 < lon < 104 and 26 < lat < 30  # lon, lat order
    assert len(str(lon).split(".")[1]) <= 6
    second = client.get(body["links"][0]["href"]).json()
    assert second["numberReturned"] == 7 and second["links"] == []


def test_units_bbox_filter(client):
    params = {"bbox": "102.2,27.8,102.3,27.9", "level": "county"}
    body = client.get("/api/v1/units", params=params).json()
    assert [f["properties"]["code"] for f in body["features"]] == ["513401"]


def test_unit_by_code(client):
    body = client.get("/api/v1/units/513401").json()
    assert body["properties"]["name"] == "西昌市"
    assert body["properties"]["generation_high"] is None


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/units/513499", {}, 404, "UnknownCodeError"),
        ("/api/v1/units/51349", {}, 422, "InvalidCodeError"),
        ("/api/v1/units", {"level": "province"}, 422, "InvalidCodeError"),
        ("/api/v1/units", {"bbox": "1,2,3"}, 422, "CoordinateOutOfRangeError"),
        ("/api/v1/units", {"bbox": "a,b,c,d"}, 422, "CoordinateOutOfRangeError"),
        ("/api/v1/units", {"bbox": "102,95,103,96"}, 422, "CoordinateOutOfRangeError"),
        ("/api/v1/units", {"generation": 999}, 404, "UnknownGenerationError"),
        ("/api/v1/units", {"generation": "x"}, 422, "RequestValidationError"),
        ("/api/v1/units", {"limit": 0}, 422, "RequestValidationError"),
        ("/api/v1/nothing-here", {}, 404, "HTTPException"),
    ],
)
def test_bad_requests_are_problem_json(client, path, params, status, code):
    assert_problem(client.get(path, params=params), status, code)


def test_unknown_code_suggests_neighbours(client):
    body = assert_problem(client.get("/api/v1/units/513438"), 404, "UnknownCodeError")
    assert "513437" in body["context"]["nearest"]


def test_oversize_body_is_413(client):
    response = client.post(
        "/api/v1/units", content=b"x" * 10, headers={"content-length": str(10**9)}
    )
    assert_problem(response, 413, "PayloadTooLargeError")


def test_docs_are_served_offline(client):
    for page, asset in (
        ("/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        html = client.get(page).text
        assert asset in html
        assert "cdn" not in html.lower() and "googleapis" not in html
        assert client.get(asset).status_code == 200
