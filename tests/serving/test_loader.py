"""Loading versions: our forecaster straight from its JSON file (no MLflow import), any other
pyfunc through MLflow, and MLflow's client credentials honoured on the plain REST calls."""

from __future__ import annotations

import http.server
import json
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import mlflow
import orjson
import pandas as pd
import pytest
import yaml  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.forecasting import forecasters
from services.forecasting.forecaster import FORMAT_KEY, Forecaster
from services.forecasting.forecasters import CorruptArtifact
from services.serving import protocol
from services.serving.app import create_app
from services.serving.loader import ForeignRefused, MlflowLoader, load_folder
from services.serving.models import ForeignPyfunc, OwnForecasters
from services.serving.rules import Limits
from tests.conftest import TrackingServer
from tests.factories import wait_for
from tests.forecasting.m3 import artifact_lines
from tests.trainer.test_formats import log_json1_version

from .conftest import Promoted
from .factories import settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_trained_version_is_loaded_and_served_without_importing_mlflow(
    promoted: Promoted,
) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from services.serving.loader import MlflowLoader
        loader = MlflowLoader({promoted.uri!r})
        model = loader.load(loader.resolve({promoted.name!r}, "prod"))
        forecast = model.forecast(None, 3, None)
        print(json.dumps([type(model).__name__, len(json.loads(forecast.body)),
                          sorted(m for m in sys.modules if m.split(".")[0] == "mlflow")]))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    kind, rows, mlflow_modules = json.loads(run.stdout.strip().splitlines()[-1])
    assert (kind, rows, mlflow_modules) == ("OwnForecasters", 3, [])


def test_the_json_forecaster_answers_what_its_mlflow_pyfunc_answers(promoted: Promoted) -> None:
    loader = MlflowLoader(promoted.uri)
    model = loader.load(loader.resolve(promoted.name, "prod"))  # type: ignore[arg-type]
    assert isinstance(model, OwnForecasters)
    for horizon, level in [(1, None), (7, 0.8), (30, 0.99)]:
        frame = {"n_periods": [horizon], **({"level": [level]} if level else {})}
        expected = model.pyfunc.predict(pd.DataFrame(frame))
        assert (
            model.forecast(None, horizon, level).body
            == ForeignPyfunc(model.pyfunc).forecast(None, horizon, level).body
        )
        assert json.loads(model.forecast(None, horizon, level).body) == expected.to_dict("records")


class _Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return pd.DataFrame({"yhat": [1.0] * int(model_input["n_periods"].iloc[0])})


def log_pickled_pyfunc(tracking_uri: str, name: str) -> str:
    """A pickled pyfunc of another kind registered as `name`, @prod on it; its version."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("loader-tests")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Constant(), registered_model_name=name
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, "prod", version)
    return version


def test_any_other_pyfunc_is_refused_unless_foreign_models_are_allowed(
    mlflow_server: TrackingServer, model_name: str
) -> None:
    log_pickled_pyfunc(mlflow_server.uri, model_name)
    refusing = MlflowLoader(mlflow_server.uri)
    with pytest.raises(ForeignRefused, match="ALLOW_FOREIGN_MODELS=true"):
        refusing.load(refusing.resolve(model_name, "prod"))  # type: ignore[arg-type]
    allowing = MlflowLoader(mlflow_server.uri, allow_foreign=True)
    model = allowing.load(allowing.resolve(model_name, "prod"))  # type: ignore[arg-type]
    assert isinstance(model, ForeignPyfunc)
    assert json.loads(model.forecast(None, 2, None).body) == [{"yhat": 1.0}, {"yhat": 1.0}]


def test_a_version_holding_a_pickle_is_served_from_its_json_and_the_pickle_never_fetched(
    mlflow_server: TrackingServer, model_name: str, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(mlflow_server.uri)
    version = log_json1_version(model_name, tmp_path)  # logged with a pickled ForecastModel
    loader = MlflowLoader(mlflow_server.uri)
    model = loader.load(loader.resolve(model_name, "prod"))  # type: ignore[arg-type]
    assert isinstance(model, OwnForecasters)
    fetched = {p.relative_to(model.folder).as_posix() for p in model.folder.rglob("*")}
    assert {p for p in fetched if "." in p.rsplit("/", 1)[-1]} == {"artifacts/forecaster.json"}
    assert "MLmodel" in fetched and version
    # MLflow's own scoring (CSV) answers from the pyfunc built here, with its signature.
    scored = protocol.score(b"n_periods\n3\n", "text/csv", model, Limits(10, 3, 30))
    assert scored.status == 200, scored.body
    assert orjson.loads(scored.body)["predictions"] == json.loads(
        model.forecast(None, 3, None).body
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"MLFLOW_TRACKING_TOKEN": "t0k"}, {"Authorization": "Bearer t0k"}),
        (
            {"MLFLOW_TRACKING_USERNAME": "ada", "MLFLOW_TRACKING_PASSWORD": "pw"},
            {"Authorization": "Basic YWRhOnB3"},
        ),
        ({"MLFLOW_TRACKING_USERNAME": "ada"}, {}),  # a user without a password sends nothing
    ],
)
def test_registry_calls_carry_mlflows_client_credentials(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, str]
) -> None:
    for key in ("TOKEN", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"MLFLOW_TRACKING_{key}", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen: list[str | None] = []

    class Registry(http.server.BaseHTTPRequestHandler):
        """Records each call's Authorization header; answers "no such model"."""

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no model"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        assert MlflowLoader(uri).resolve("m", "prod") is None
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [expected.get("Authorization")]


def test_an_unknown_model_reads_as_unset_not_as_an_outage(mlflow_server: TrackingServer) -> None:
    assert MlflowLoader(mlflow_server.uri).resolve("no-such-model-anywhere", "prod") is None


def model_folder(folder: Path, texts: list[str]) -> Path:
    """A downloaded model folder of many series as the API reads it (MLmodel and artifact)."""
    (folder / "artifacts").mkdir()
    (folder / "artifacts" / "forecasters.jsonl").write_text("".join(t + "\n" for t in texts))
    artifacts = {forecasters.ARTIFACT: {"path": "artifacts/forecasters.jsonl"}}
    mlmodel = {
        "flavors": {"python_function": {"artifacts": artifacts}},
        "metadata": {FORMAT_KEY: forecasters.FORMAT},
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder


def test_a_model_of_many_series_forecasts_each_as_when_every_series_was_built_at_load(
    tmp_path: Path,
) -> None:
    lines = artifact_lines(step=600)
    model = load_folder(model_folder(tmp_path, [lines[k] for k in sorted(lines)]))
    built = {uid: Forecaster.from_json(text) for uid, text in lines.items()}
    eager = OwnForecasters(built, tmp_path)
    assert isinstance(model, OwnForecasters) and model.ids == eager.ids == tuple(sorted(lines))
    for uid in reversed(model.ids):
        for horizon, level in [(1, None), (12, 0.8)]:
            assert (
                model.forecast(uid, horizon, level).body == eager.forecast(uid, horizon, level).body
            )
    frame = pd.DataFrame({"unique_id": list(model.ids[:2]), "n_periods": [3, 2]})
    lazy = forecasters.Forecasters(model.by_id).predict(frame)
    pd.testing.assert_frame_equal(lazy, forecasters.Forecasters(built).predict(frame))


def test_a_model_of_many_series_with_an_id_twice_does_not_load_and_names_the_line(
    tmp_path: Path,
) -> None:
    lines = artifact_lines(step=1500)
    first, second = sorted(lines)[:2]
    folder = model_folder(tmp_path, [lines[first], lines[second], lines[first]])
    with pytest.raises(
        CorruptArtifact, match=rf"forecasters.jsonl: line 3: series '{first}' again"
    ):
        load_folder(folder)


def test_a_pickled_pyfunc_at_prod_is_refused_and_the_served_version_kept(
    mlflow_server: TrackingServer, model_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mlflow.set_tracking_uri(mlflow_server.uri)
    ours = log_json1_version(model_name, tmp_path)
    app = create_app(settings(mlflow_server.uri, model_name), registry=CollectorRegistry())
    with caplog.at_level(logging.WARNING, logger="mlstack.serving"), TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="our version to load")
        foreign = log_pickled_pyfunc(mlflow_server.uri, model_name)

        def refused() -> bool:
            return any(f"version {foreign} " in r.getMessage() for r in caplog.records)

        wait_for(refused, what="the foreign version to be refused")
        assert client.get("/model").json()["version"] == ours
        assert client.post("/predict", json={"horizon": 2}).status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if f"version {foreign} " in r.getMessage()]
    assert "ALLOW_FOREIGN_MODELS" in line and f"still serving version {ours}" in line
