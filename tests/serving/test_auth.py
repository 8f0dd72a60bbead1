"""With API_TOKEN set, the forecast routes, /model, /series, /docs and /openapi.json need the
bearer token; the probes and /metrics stay open."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.serving.app import create_app
from tests.factories import wait_for

from .conftest import Promoted, ServedApp
from .factories import settings

TOKEN = "s3cret-token-for-the-serving-tests"  # at least 32 characters
PREDICTIONS = [
    ("/predict", {"horizon": 2}),
    ("/invocations", {"inputs": {"n_periods": [2]}}),
]


@pytest.fixture(scope="module")
def client(promoted: Promoted) -> Iterator[TestClient]:
    app = create_app(
        settings(promoted.uri, promoted.name, api_token=TOKEN), registry=CollectorRegistry()
    )
    with TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        yield client


@pytest.mark.parametrize(("route", "body"), PREDICTIONS)
@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "]
)
def test_prediction_routes_answer_401_without_the_right_token(
    client: TestClient, route: str, body: object, header: str | None
) -> None:
    headers = {"authorization": header} if header else {}
    response = client.post(route, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


@pytest.mark.parametrize(("route", "body"), PREDICTIONS)
def test_prediction_routes_answer_with_the_right_token(
    client: TestClient, route: str, body: object
) -> None:
    response = client.post(route, json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("route", ["/healthz", "/readyz", "/ping", "/health", "/metrics"])
def test_the_probes_and_metrics_stay_open(client: TestClient, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 200
    assert TOKEN not in response.text


@pytest.mark.parametrize("route", ["/model", "/series", "/docs", "/openapi.json"])
def test_what_is_served_and_the_apis_description_need_the_token(
    client: TestClient, route: str
) -> None:
    refused = client.get(route)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert client.get(route, headers={"authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get(route, headers={"authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200
    assert TOKEN not in allowed.text


def test_openapi_declares_the_bearer_scheme_on_the_guarded_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, method in [("/predict", "post"), ("/model", "get"), ("/series", "get")]:
        assert spec["paths"][path][method]["security"] == [{"HTTPBearer": []}], path
    assert "security" not in spec["paths"]["/readyz"]["get"]


def test_without_a_token_prediction_routes_are_open(served: ServedApp) -> None:
    response = served.client.post("/predict", json={"horizon": 1})
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "payload"), PREDICTIONS)
def test_a_body_with_its_length_and_a_chunked_one_get_the_same_answer(
    client: TestClient, path: str, payload: object
) -> None:
    body = orjson.dumps(payload)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    sized = client.post(path, content=body, headers=headers)
    chunked = client.post(path, content=iter([body]), headers=headers)  # no length to check
    assert sized.status_code == chunked.status_code == 200
    assert sized.content == chunked.content
    assert sized.headers["content-type"] == chunked.headers["content-type"]


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
@pytest.mark.parametrize("body", [b'{"horizon": ', b"[]", b'{"inputs": "x"}'])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml"])
def test_a_missing_token_gets_401_whatever_the_body(
    client: TestClient, route: str, body: bytes, content_type: str
) -> None:
    response = client.post(route, content=body, headers={"content-type": content_type})
    assert response.status_code == 401
