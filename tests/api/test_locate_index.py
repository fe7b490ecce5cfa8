from tests.api.test_units import assert_problem


def test_locate_returns_the_grid_from_the_index(client):
    body = client.get("/api/v1/locate", params={"lon": 102.264, "lat": 27.894}).json()
    assert body["grid"] and body["grid"].startswith(body["village"])
    assert body["names"]["grid"].endswith("网格")


def test_batch_locate_columns_and_outside_count(client):
    points = [[102.264, 27.894], [116.39, 39.91], [102.51, 28.64]]
    body = client.post("/api/v1/locate/batch", json={"points": points}).json()
    assert body["count"] == 3 and body["outside"] == 1
    assert body["grid"][0] and body["county"][1] is None and body["county"][2] == "513434"
    single = client.get("/api/v1/locate", params={"lon": 102.264, "lat": 27.894}).json()
    assert body["grid"][0] == single["grid"]


def test_batch_gcj02(client):
    from gridmap import crs

    glon, glat = (float(v) for v in crs.wgs84_to_gcj02(102.264, 27.894))
    body = client.post(
        "/api/v1/locate/batch", json={"points": [[glon, glat]], "crs": "gcj02"}
    ).json()
    single = client.get("/api/v1/locate", params={"lon": 102.264, "lat": 27.894}).json()
    assert body["grid"][0] == single["grid"]


def test_batch_bad_inputs(client):
    assert_problem(
        client.post("/api/v1/locate/batch", json={"points": []}), 422, "RequestValidationError"
    )
    assert_problem(
        client.post("/api/v1/locate/batch", json={"points": [[102.2, 930]]}),
        422,
        "CoordinateOutOfRangeError",
    )
    assert_problem(
        client.post("/api/v1/locate/batch", json={"points": [["a", 1]]}),
        422,
        "RequestValidationError",
    )
    assert_problem(
        client.post("/api/v1/locate/batch", json={"points": [[1, 2]], "crs": "x"}),
        422,
        "UnknownCRSError",
    )
    too_many = {"points": [[102.2, 27.8]] * 100_001}
    assert_problem(client.post("/api/v1/locate/batch", json=too_many), 413, "PayloadTooLargeError")


def test_locate_past_generation_uses_postgis(client):
    body = client.get(
        "/api/v1/locate", params={"lon": 102.264, "lat": 27.894, "generation": 1}
    ).json()
    assert body["county"] == "513401" and body["grid"] is None  # generation 1: counties only
