from tests.api.test_units import assert_problem


def test_qa_report_for_a_bundled_county(client):
    body = client.get("/api/v1/qa/513401").json()
    assert body["county_code"] == "513401"
    assert body["units"]["county"] == 1
    assert set(body["counts"]) >= {"gap", "overlap", "crosses_village"}


def test_qa_unknown_county(client):
    assert_problem(client.get("/api/v1/qa/513499"), 404, "UnknownCodeError")
    assert_problem(client.get("/api/v1/qa/5134"), 422, "InvalidCodeError")
