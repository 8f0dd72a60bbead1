"""/docs works with no network: Swagger UI's assets come from the API itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.serving.app import create_app
from services.serving.settings import Settings


def test_docs_page_loads_swagger_ui_from_the_api_itself() -> None:
    app = create_app(
        Settings(mlflow_tracking_uri="http://127.0.0.1:9"), registry=CollectorRegistry()
    )
    client = TestClient(app)  # no lifespan: the page needs no model
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(url.startswith("/docs/assets/") for url in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
