"""The trainer when MLflow fails: each request bounded in time and retries as configured, and a
run MLflow failed during marked FAILED once MLflow is back, never left RUNNING, with nothing
registered and @prod unmoved."""

import http.server
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from services.local.process import free_port, signal_group, start_tracking_server, stop
from services.trainer import fit as fit_module
from services.trainer.run import train
from services.trainer.tracking import MlflowUnavailable
from tests.trainer.factories import config, new_run_status, run_ids


class _FlakyMlflow(http.server.BaseHTTPRequestHandler):
    """An MLflow whose /health answers but whose API answers 503, or (`hang`) never answers."""

    api_calls = 0
    hang = threading.Event()
    release = threading.Event()

    def _answer(self) -> None:
        if self.path == "/health":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")
            return
        type(self).api_calls += 1
        if self.hang.is_set():
            self.release.wait(60)
            return
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def flaky_mlflow(hang: bool = False) -> Iterator[str]:
    _FlakyMlflow.api_calls = 0
    _FlakyMlflow.release.clear()
    if hang:
        _FlakyMlflow.hang.set()
    else:
        _FlakyMlflow.hang.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyMlflow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # MLflow reads the settings the trainer hands it from os.environ: put it back after.
        with mock.patch.dict(os.environ):
            yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _FlakyMlflow.release.set()
        server.shutdown()
        server.server_close()


def test_a_failing_mlflow_request_is_retried_as_often_as_configured():
    with flaky_mlflow() as uri, pytest.raises(MlflowException, match="503"):
        train(config(uri, "faults-mlflow-503", mlflow_http_request_max_retries=1))
    assert _FlakyMlflow.api_calls == 2  # the first request and one retry (MLflow's default: 7)


def test_a_hung_mlflow_request_times_out_after_the_configured_seconds():
    started = time.monotonic()
    with flaky_mlflow(hang=True) as uri, pytest.raises(MlflowException, match="timed out"):
        train(
            config(
                uri,
                "faults-mlflow-hung",
                mlflow_http_request_timeout=1,
                mlflow_http_request_max_retries=0,
            )
        )
    assert time.monotonic() - started < 15  # MLflow's default: 120 s per request
    assert _FlakyMlflow.api_calls == 1


class _OnLog(logging.Handler):
    """Calls `action` once, the first time a record's message contains `text`."""

    def __init__(self, text: str, action: Callable[[], None]) -> None:
        super().__init__()
        self.text, self.action, self.done = text, action, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage() and not self.done.is_set():
            self.done.set()
            self.action()


@pytest.mark.slow  # its own MLflow server, killed and restarted: minutes
def test_mlflow_killed_during_a_run_fails_it_cleanly_and_marks_it_failed_once_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, port = tmp_path / "mlflow", free_port()
    uri, first_server = start_tracking_server(root, port)
    servers = [first_server]
    name = "faults-mlflow-killed"
    try:
        champion = train(config(uri, name)).version
        versions = {v.version for v in MlflowClient(uri).search_model_versions(f"name='{name}'")}
        before = run_ids(uri)

        real_fit_members = fit_module.fit_members

        def fit_after_mlflow_dies(*args: Any, **kwargs: Any) -> Any:
            signal_group(servers[-1].pid, signal.SIGKILL)  # killed, not stopped: no goodbye
            stop(servers[-1])
            return real_fit_members(*args, **kwargs)

        # MLflow comes back only once the trainer has given up on it and waits to mark the run.
        restarted = threading.Thread(
            target=lambda: servers.append(start_tracking_server(root, port)[1])
        )
        handler = _OnLog("marking the run FAILED once MLflow answers", restarted.start)
        # One series fits in this process, so the fitting is where MLflow dies.
        monkeypatch.setattr(fit_module, "fit_members", fit_after_mlflow_dies)
        logging.getLogger("mlstack.train").addHandler(handler)
        try:
            with pytest.raises(MlflowUnavailable, match=f"MLflow at {uri} failed during run "):
                train(config(uri, name))
        finally:
            logging.getLogger("mlstack.train").removeHandler(handler)
        restarted.join(timeout=300)
        assert handler.done.is_set()

        client = MlflowClient(uri)
        assert new_run_status(uri, before) == "FAILED"
        assert {v.version for v in client.search_model_versions(f"name='{name}'")} == versions
        assert client.get_model_version_by_alias(name, "prod").version == champion
    finally:
        for server in servers:
            stop(server)
