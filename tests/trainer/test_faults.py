"""The trainer under hostile input and failing dependencies: a clear error, the run marked
FAILED, nothing half-registered, and @prod never moved."""

import http.server
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from services.forecasting.data import DataError
from services.local.process import free_port, signal_group, start_tracking_server, stop
from services.trainer import fit as fit_module
from services.trainer.config import TrainConfig
from services.trainer.promote import Rule, promote
from services.trainer.run import train
from services.trainer.tracking import MlflowUnavailable
from tests.conftest import AIRLINE


def config(uri: str, name: str, **overrides) -> TrainConfig:
    return TrainConfig(
        mlflow_tracking_uri=uri,
        model_name=name,
        experiment_name="faults",
        **{"families": ("seasonal_naive",), **overrides},
    )


def _hourly(n: int) -> str:
    ds = pd.date_range("1900-01-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    return "ds,y\n" + "\n".join(f"{d},{i % 97}" for i, d in enumerate(ds)) + "\n"


def _monthly(values: list[str]) -> str:
    ds = pd.date_range("2000-01-01", periods=len(values), freq="MS").strftime("%Y-%m-%d")
    return "ds,y\n" + "\n".join(f"{d},{v}" for d, v in zip(ds, values, strict=True)) + "\n"


GOOD = [str(100 + i % 12 * 3 + i) for i in range(48)]
CORPUS: dict[str, tuple[bytes | str, str]] = {
    "empty": ("", "empty"),
    "header-only": ("ds,y\n", "header but no rows"),
    "binary-garbage": (bytes(range(256)) * 8, "not UTF-8|binary"),
    "wrong-delimiter": (_monthly(GOOD).replace(",", ";"), "missing column.*delimiter"),
    "mixed-date-formats": (_monthly(GOOD).replace("2001-03-01", "03/01/2001"), "unparseable date"),
    "a-million-rows": (_hourly(1_000_000), "1,000,000 rows, more than the limit"),
    "non-utf8": ("ds,y\n2000-01-01,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    "nan-values": (_monthly(GOOD[:40] + ["NaN"] * 8), "too many gaps"),
    "inf-values": (_monthly([*GOOD[:47], "inf"]), "infinite value"),
    "duplicate-dates": (_monthly(GOOD).replace("2000-02-01", "2000-01-01"), "duplicate timestamp"),
    "one-row": ("ds,y\n2000-01-01,5\n", "too few points"),
}


@pytest.fixture(scope="module")
def champion(mlflow_server) -> tuple[str, str]:
    name = "faults-champion"
    summary = train(config(mlflow_server.uri, name))
    return name, summary.version


def run_ids(uri: str) -> set[str]:
    """Every run of the tests' experiment so far."""
    experiment = MlflowClient(uri).get_experiment_by_name("faults")
    if experiment is None:
        return set()
    runs = MlflowClient(uri).search_runs([experiment.experiment_id], max_results=10_000)
    return {run.info.run_id for run in runs}


def new_run_status(uri: str, before: set[str]) -> str:
    """The status of the one run made since `before` (so a call that made none fails)."""
    (made,) = run_ids(uri) - before
    return MlflowClient(uri).get_run(made).info.status


@pytest.mark.parametrize("case", sorted(CORPUS), ids=str)
def test_bad_csv_gives_its_error_fails_the_run_and_leaves_prod(
    case, mlflow_server, champion, tmp_path
):
    name, prod = champion
    content, message = CORPUS[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    versions_before = len(MlflowClient(mlflow_server.uri).search_model_versions(f"name='{name}'"))
    runs_before = run_ids(mlflow_server.uri)
    with pytest.raises(DataError, match=message):
        train(config(mlflow_server.uri, name, data_uri=str(path)))
    client = MlflowClient(mlflow_server.uri)
    assert new_run_status(mlflow_server.uri, runs_before) == "FAILED"
    assert client.get_model_version_by_alias(name, "prod").version == prod
    assert len(client.search_model_versions(f"name='{name}'")) == versions_before


class _Failing(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that always answers 500."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        self.send_response(500)
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        self.wfile.write(b"<Error><Code>InternalError</Code><Message>boom</Message></Error>")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def failing_s3() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def silent_s3() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: a hung S3."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_failing_s3_is_retried_a_bounded_number_of_times_then_fails_cleanly(
    mlflow_server, monkeypatch
):
    name = "faults-s3-failing"
    runs_before = run_ids(mlflow_server.uri)
    with failing_s3() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with pytest.raises(
            DataError, match=r"could not read s3://bucket/airline.csv: InternalError"
        ):
            train(config(mlflow_server.uri, name, data_uri="s3://bucket/airline.csv"))
    assert 1 < _Failing.calls <= 5  # retried, but a bounded number of times
    assert new_run_status(mlflow_server.uri, runs_before) == "FAILED"
    assert MlflowClient(mlflow_server.uri).search_registered_models(f"name='{name}'") == []


def test_hung_s3_times_out_then_fails_cleanly(mlflow_server, monkeypatch):
    name = "faults-s3-hung"
    runs_before = run_ids(mlflow_server.uri)
    with silent_s3() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with pytest.raises(
            DataError, match=r"could not read s3://bucket/airline.csv: Read timeout on endpoint"
        ):
            train(
                config(
                    mlflow_server.uri,
                    name,
                    data_uri="s3://bucket/airline.csv",
                    data_timeout_seconds=0.5,
                )
            )
    assert new_run_status(mlflow_server.uri, runs_before) == "FAILED"
    assert MlflowClient(mlflow_server.uri).search_registered_models(f"name='{name}'") == []


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


def test_two_trainers_promoting_at_once_end_on_the_better_one(mlflow_server):
    """Both read the same champion before either moves the alias (forced with a barrier)."""
    name = "faults-race"
    uri = mlflow_server.uri
    champion = train(config(uri, name))  # seasonal naive holds @prod
    better = train(config(uri, name, families=("theta",), promote=False))
    worse = train(config(uri, name, families=("ets",), promote=False))
    assert better.smape < worse.smape < champion.smape
    barrier = threading.Barrier(2, timeout=60)
    scores = {
        champion.version: champion.smape,
        better.version: better.smape,
        worse.version: worse.smape,
    }
    client = MlflowClient(uri)

    def rescorer():
        first = [True]

        def champion_scores(champion):
            if first[0]:
                first[0] = False
                barrier.wait()  # both have read the same champion
            return {"y"}, {"y": scores[champion.version]}

        return champion_scores

    decisions = {}

    def run(summary):
        decisions[summary.version], _ = promote(
            MlflowClient(uri),
            name,
            "prod",
            summary.version,
            {"y": summary.smape},
            rescorer(),
            Rule(),
            settle_seconds=0.5,
        )

    threads = [threading.Thread(target=run, args=(s,)) for s in (worse, better)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert client.get_model_version_by_alias(name, "prod").version == better.version
    for summary in (better, worse):
        tags = client.get_model_version(name, summary.version).tags
        decision = decisions[summary.version]  # each version is tagged with its own decision
        assert tags["decision"] == ("promoted" if decision.promoted else "rejected")
        assert tags["reason"] == decision.reason
    assert decisions[better.version].promoted


def test_validation_properties_hold_for_any_row_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from services.forecasting.data import parse_csv, validate

    base = pd.read_csv(AIRLINE, dtype=str)
    reference = validate(parse_csv(AIRLINE.read_bytes()))

    @settings(max_examples=25, deadline=None)
    @given(st.permutations(range(len(base))))
    def check(order):
        shuffled = base.iloc[list(order)].to_csv(index=False).encode()
        series = validate(parse_csv(shuffled))
        assert series.fingerprint == reference.fingerprint
        np.testing.assert_array_equal(series.y, reference.y)

    check()


def test_validation_names_the_line_of_any_junk_value():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from services.forecasting.data import parse_csv, validate

    junk = st.text(
        alphabet=st.characters(whitelist_categories=("L",)), min_size=1, max_size=8
    ).filter(lambda s: s.lower() not in {"na", "nan", "null", "none", "inf", "infinity", "e"})

    @settings(max_examples=25, deadline=None)
    @given(st.integers(min_value=0, max_value=143), junk)
    def check(row, value):
        frame = pd.read_csv(AIRLINE, dtype=str)
        frame.loc[row, "y"] = value
        with pytest.raises(DataError, match=rf"non-numeric value\(s\) at line {row + 2} "):
            validate(parse_csv(frame.to_csv(index=False).encode()))

    check()


class _OnLog(logging.Handler):
    """Calls `action` once, the first time a record's message contains `text`."""

    def __init__(self, text: str, action: Callable[[], None]) -> None:
        super().__init__()
        self.text, self.action, self.done = text, action, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage() and not self.done.is_set():
            self.done.set()
            self.action()


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

        real_select = fit_module.select

        def select_after_mlflow_dies(*args: Any, **kwargs: Any) -> Any:
            signal_group(servers[-1].pid, signal.SIGKILL)  # killed, not stopped: no goodbye
            stop(servers[-1])
            return real_select(*args, **kwargs)

        # MLflow comes back only once the trainer has given up on it and waits to mark the run.
        restarted = threading.Thread(
            target=lambda: servers.append(start_tracking_server(root, port)[1])
        )
        handler = _OnLog("marking the run FAILED once MLflow answers", restarted.start)
        # One series fits in this process, so the fitting is where MLflow dies.
        monkeypatch.setattr(fit_module, "select", select_after_mlflow_dies)
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
