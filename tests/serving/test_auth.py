"""With API_TOKEN set, prediction routes need the bearer token; health and metrics stay open."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.serving.app import create_app
from services.serving.deps import get_served
from services.serving.holder import Served
from tests.factories import wait_for

from .conftest import Promoted, ServedApp
from .factories import settings

TOKEN = "s3cret-token-for-tests"
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


@pytest.mark.parametrize("route", ["/healthz", "/readyz", "/metrics", "/model", "/openapi.json"])
def test_health_readiness_metrics_and_model_stay_open(client: TestClient, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 200
    assert TOKEN not in response.text


def test_openapi_declares_the_bearer_scheme_on_prediction_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/predict"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/readyz"]["get"]


def test_without_a_token_prediction_routes_are_open(served: ServedApp) -> None:
    response = served.client.post("/predict", json={"horizon": 1})
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "payload"), PREDICTIONS)
def test_the_fast_path_and_the_routes_answer_the_same_bytes(
    client: TestClient, path: str, payload: object
) -> None:
    # A body with its length is answered by the fast path; a chunked one (no length to check)
    # only by the routes, which alone take the served model through `get_served`.
    routed: list[str] = []

    async def counted(request: Request) -> Served:
        routed.append(request.url.path)
        return await get_served(request)

    body = orjson.dumps(payload)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    client.app.dependency_overrides[get_served] = counted  # type: ignore[attr-defined]
    try:
        fast = client.post(path, content=body, headers=headers)
        assert routed == []
        chunked = client.post(path, content=iter([body]), headers=headers)
        assert routed == [path]
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert fast.status_code == chunked.status_code == 200
    assert fast.content == chunked.content
    assert fast.headers["content-type"] == chunked.headers["content-type"]
