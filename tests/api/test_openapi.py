"""/openapi.json documents every body the API sends: responses validate against it, errors
are problem+json everywhere, and FastAPI's unused HTTPValidationError is gone."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

PROBLEM_JSON = "application/problem+json"
OPEN311 = "/open311/"  # GeoReport v2 has its own error format (an array of code/description)


@pytest.fixture(scope="module")
def spec(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if not path.startswith(OPEN311)
    ]


def test_every_error_is_documented_as_problem_json(spec):
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if status[0] in "45":
                content = response.get("content", {})
                assert list(content) == [PROBLEM_JSON], (method, path, status, list(content))
                assert content[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # never sent


def test_open311_documents_its_own_errors_document(spec):
    for path, ops in spec["paths"].items():
        if path.startswith(OPEN311):
            for method, op in ops.items():
                errors = op["responses"]["4XX"]["content"]
                assert set(errors) == {"application/json", "text/xml"}, (method, path)
                assert errors["application/json"]["schema"]["type"] == "array"


def test_every_success_has_a_body_schema(spec):
    """Every 2xx but 204 documents its body."""
    for method, path, op in _operations(spec):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            if status == "204":  # No Content: no body to describe
                assert not response.get("content"), (method, path)
                continue
            content = response.get("content", {})
            assert content, (method, path, status)
            assert all(media.get("schema") for media in content.values()), (method, path, status)


def test_routes_with_parameters_document_422(spec):
    for method, path, op in _operations(spec):
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], (method, path)


def _validate(spec: dict[str, Any], path: str, method: str, response: Any) -> None:
    """Check a real response against what /openapi.json says that operation answers."""
    documented = spec["paths"][path][method]["responses"][str(response.status_code)]
    media = response.headers["content-type"].split(";")[0]
    schema = documented["content"][media]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": spec["components"]})


def _first(client: Any, url: str, key: str = "items") -> Any:
    body = client.get(url).json()
    assert body[key], url
    return body[key][0]


def test_bodies_match_their_documented_schemas(own_client, spec):
    client = own_client  # it stores an incident: its own copy of the demo
    created = client.post(
        "/api/v1/incidents", json={"lon": 102.2643, "lat": 27.8945, "category": "0101"}
    )
    assert created.status_code == 201, created.text[:300]
    _validate(spec, "/api/v1/incidents", "post", created)
    incident = created.json()
    worker = _first(client, "/api/v1/workers?limit=1")
    requests = [
        ("/api/v1/incidents", "/api/v1/incidents?limit=5"),
        ("/api/v1/incidents/{incident_id}", f"/api/v1/incidents/{incident['id']}"),
        ("/api/v1/incidents/hotspots", "/api/v1/incidents/hotspots?county=513401&month=2026-11"),
        ("/api/v1/categories", "/api/v1/categories"),
        ("/api/v1/workers", "/api/v1/workers?limit=5&county=513401"),
        ("/api/v1/workers/{worker_id}", f"/api/v1/workers/{worker['id']}"),
        ("/api/v1/workers/staffing", "/api/v1/workers/staffing?county=513401"),
        (
            "/api/v1/workers/coverage",
            "/api/v1/workers/coverage?county=513401&since=2026-11-20T00:00:00%2B08:00"
            "&until=2026-12-20T00:00:00%2B08:00",
        ),
        ("/api/v1/qa/{county}", "/api/v1/qa/513422"),
        ("/api/v1/locate", "/api/v1/locate?lon=102.2643&lat=27.8945"),
        ("/api/v1/units", "/api/v1/units?level=township&limit=3"),
        ("/api/v1/units/{code}", "/api/v1/units/513401"),
        ("/health", "/health"),
    ]
    for path, url in requests:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        _validate(spec, path, "get", response)
    batch = client.post("/api/v1/locate/batch", json={"points": [[102.2643, 27.8945], [0, 0]]})
    assert batch.status_code == 200
    _validate(spec, "/api/v1/locate/batch", "post", batch)


@pytest.mark.parametrize(
    ("path", "url", "status"),
    [
        ("/api/v1/units/{code}", "/api/v1/units/513499", 404),
        ("/api/v1/locate", "/api/v1/locate?lon=0&lat=0", 404),
        ("/api/v1/incidents/{incident_id}", "/api/v1/incidents/9223372036854775807", 404),
        ("/api/v1/incidents", "/api/v1/incidents?stage=nonsense", 422),
        ("/api/v1/workers", "/api/v1/workers?role=boss", 422),
        ("/api/v1/qa/{county}", "/api/v1/qa/999999", 404),
    ],
)
def test_error_bodies_match_the_problem_schema(client, spec, path, url, status):
    response = client.get(url)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    _validate(spec, path, "get", response)
    assert response.json()["code"]


def test_wrong_method_is_a_problem_with_allow(client):
    response = client.request("TRACE", "/api/v1/categories")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["allow"] == "GET"


def test_unparsable_body_is_a_documented_problem(client, spec):
    response = client.post(
        "/api/v1/locate/batch", content=b"\x13\xff{", headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    _validate(spec, "/api/v1/locate/batch", "post", response)
