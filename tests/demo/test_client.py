"""The demo's API client against real APIs: answers as dicts, every failure as one sentence."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.demo import client
from services.local import process

from .conftest import PanelApi, ServedApi

TOKEN = "s3cret-demo-token-of-32-characters"  # API_TOKEN: at least 32 characters


def test_model_reports_the_served_version_and_training_smape(served_api: ServedApi) -> None:
    model = client.get_model(client.Api(served_api.url))
    assert (model["name"], model["version"]) == (served_api.model_name, served_api.version)
    assert model["metrics"]["smape"] > 0


def test_forecast_returns_one_row_per_period_with_its_interval(served_api: ServedApi) -> None:
    result = client.forecast(client.Api(served_api.url), horizon=7, level=0.8)
    assert result["model"]["version"] == served_api.version
    rows = result["forecast"]
    assert len(rows) == 7
    assert all(row["yhat_lower"] <= row["yhat"] <= row["yhat_upper"] for row in rows)


def test_a_down_api_is_reported_as_not_reachable() -> None:
    api = client.Api(f"http://127.0.0.1:{process.free_port()}", timeout=2)
    with pytest.raises(client.ApiError, match="not reachable") as raised:
        client.get_model(api)
    assert raised.value.status is None


def test_an_api_without_a_model_is_reported_as_503(modelless_api: str) -> None:
    with pytest.raises(client.ApiError, match="no model loaded yet") as raised:
        client.forecast(client.Api(modelless_api), horizon=3, level=0.9)
    assert raised.value.status == 503


def test_a_rejected_horizon_is_one_sentence_naming_the_field(served_api: ServedApi) -> None:
    with pytest.raises(client.ApiError) as raised:
        client.forecast(client.Api(served_api.url), horizon=0, level=0.9)
    assert str(raised.value) == "The horizon must be a whole number of periods, at least 1."
    assert raised.value.status == 422 and not raised.value.retryable


def test_a_horizon_over_the_apis_limit_says_the_limit_in_a_sentence(served_api: ServedApi) -> None:
    with pytest.raises(client.ApiError) as raised:
        client.forecast(client.Api(served_api.url), horizon=1000, level=0.9)
    assert str(raised.value) == "The API forecasts at most 365 periods ahead: ask for 365 or fewer."
    assert raised.value.horizon_max == 365 and not raised.value.retryable


@pytest.fixture
def openapi_server() -> Iterator[str]:
    """A stand-in API whose OpenAPI schema states the horizon's maximum, as FastAPI writes a
    field's `le`; the serving API may not state it (then the limit comes from its 422)."""
    schema = {
        "components": {"schemas": {"PredictRequest": {"properties": {"horizon": {"maximum": 48}}}}}
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(schema).encode()
            self.send_response(200 if self.path == "/openapi.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_horizon_limit_is_read_from_the_openapi_schema(openapi_server: str) -> None:
    assert client.horizon_limit(client.Api(openapi_server)) == 48
    gone = client.Api(f"http://127.0.0.1:{process.free_port()}", timeout=2)
    assert client.horizon_limit(gone) is None  # the box is then bounded by the API's 422


def test_api_url_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "http://api.example:8000/")
    monkeypatch.setenv("API_TOKEN", TOKEN)
    assert client.Api.from_env() == client.Api("http://api.example:8000", TOKEN)
    monkeypatch.delenv("API_URL")
    monkeypatch.delenv("API_TOKEN")
    assert client.Api.from_env() == client.Api(client.DEFAULT_URL, None)


def test_the_token_is_sent_as_a_bearer_and_its_absence_is_explained(token_api: str) -> None:
    assert len(client.forecast(client.Api(token_api, TOKEN), horizon=2, level=0.9)["forecast"]) == 2
    with pytest.raises(client.ApiError, match="Set API_TOKEN") as raised:
        client.forecast(client.Api(token_api), horizon=2, level=0.9)
    assert raised.value.status == 401


def test_series_pages_through_every_id_of_a_model_of_several(panel_api: PanelApi) -> None:
    api = client.Api(panel_api.url)
    assert client.get_model(api)["series"] == len(panel_api.trained.ids)
    assert client.series(api, page=2) == panel_api.trained.ids
    assert client.series(api, page=2, most=3) == panel_api.trained.ids[:3]


def test_forecast_of_one_series_names_it_on_every_row(panel_api: PanelApi) -> None:
    some = panel_api.trained.ids[1]
    rows = client.forecast(client.Api(panel_api.url), horizon=4, level=0.8, series=some)
    assert [row["unique_id"] for row in rows["forecast"]] == [some] * 4
    with pytest.raises(client.ApiError, match="series") as raised:
        client.forecast(client.Api(panel_api.url), horizon=4, level=0.8)
    assert raised.value.status == 422
