"""The trainer under hostile input and failing dependencies: a clear error, the run marked
FAILED, nothing half-registered, and @prod never moved."""

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from services.forecasting.data import DataError
from services.trainer.promote import Rule, promote
from services.trainer.run import train
from tests.trainer.factories import config, new_run_status, run_ids


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
    "mixed-date-formats": (
        _monthly(GOOD).replace("2001-03-01", "03/01/2001"),
        "more than one format",
    ),
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
