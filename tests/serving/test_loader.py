"""Loading versions: our forecaster straight from its JSON file (no MLflow import), any other
pyfunc through MLflow, and MLflow's client credentials honoured on the plain REST calls."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml  # type: ignore[import-untyped]

from services.forecasting import forecasters
from services.forecasting.forecaster import FORMAT_KEY, Forecaster
from services.forecasting.forecasters import CorruptArtifact
from services.serving.loader import MlflowLoader, load_folder
from services.serving.models import ForeignPyfunc, OwnForecasters
from tests.conftest import TrackingServer
from tests.forecasting.m3 import artifact_lines

from .conftest import Promoted

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


def test_any_other_pyfunc_is_loaded_through_mlflow(
    mlflow_server: TrackingServer, model_name: str
) -> None:
    mlflow.set_tracking_uri(mlflow_server.uri)
    mlflow.set_experiment("loader-tests")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Constant(), registered_model_name=model_name
        )
    client = mlflow.MlflowClient(mlflow_server.uri)
    client.set_registered_model_alias(model_name, "prod", str(info.registered_model_version))
    loader = MlflowLoader(mlflow_server.uri)
    model = loader.load(loader.resolve(model_name, "prod"))  # type: ignore[arg-type]
    assert isinstance(model, ForeignPyfunc)
    assert json.loads(model.forecast(None, 2, None).body) == [{"yhat": 1.0}, {"yhat": 1.0}]


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
