"""The supervisor under a real `mlstack up`: a killed service is restarted with backoff while the
rest keeps serving, one that keeps dying is given up on and named with its log, and `mlstack
status` says what each service is doing and which model is served now."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest

from contract.tracking import READER, WRITER, client_env
from services.local import credentials, process
from services.local.served import served_model
from services.local.state import ServiceEntry, StackState, is_supervisor
from services.registry import Connection
from tests.factories import wait_for

from .factories import MLSTACK, leftovers, up_command

pytestmark = pytest.mark.slow

MAX_RESTARTS = 2
MODEL = "ForecastModel"


@dataclass(frozen=True)
class Running:
    state_dir: Path
    urls: dict[str, str]

    def entry(self, name: str) -> ServiceEntry:
        state = StackState.load(self.state_dir)
        assert state is not None
        (entry,) = [entry for entry in state.services if entry.name == name]
        return entry

    def status(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MLSTACK, "status", "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def up_log(self) -> str:
        return (self.state_dir / "logs" / "up.log").read_text()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state_dir = tmp_path_factory.mktemp("supervised") / ".mlstack"
    started = subprocess.run(
        [*up_command(state_dir), "--detach", "--max-restarts", str(MAX_RESTARTS)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = StackState.load(state_dir)
        assert state is not None
        yield Running(state_dir, {s.name: s.url for s in state.services if s.url})
    finally:
        subprocess.run([MLSTACK, "down", "--state-dir", str(state_dir)], check=True)
    assert leftovers(state_dir) == []


def row(status: str, name: str) -> list[str]:
    """A service's line of `mlstack status`, split into its columns."""
    (line,) = [line for line in status.splitlines() if line.split()[:1] == [name]]
    return re.split(r"\s{2,}", line.strip())


def predict(api_url: str) -> int:
    request = urllib.request.Request(
        f"{api_url}/predict",
        data=json.dumps({"horizon": 3}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_status_shows_the_version_the_api_serves_now_not_the_one_at_start_up(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = credentials.load_or_create(running.state_dir).writer_password
    for name, value in client_env(WRITER, writer).items():  # as the trainer promotes
        monkeypatch.setenv(name, value)
    client = mlflow.MlflowClient(running.urls["mlflow"])
    first = client.get_model_version_by_alias(MODEL, "prod")
    # A second version of the same model, moved to @prod as a promotion would move it.
    mlflow.set_tracking_uri(running.urls["mlflow"])
    second = mlflow.register_model(first.source, MODEL)
    client.set_registered_model_alias(MODEL, "prod", second.version)
    served = f"{MODEL}@prod = version {second.version} (served by the API)"
    # The API follows the alias within its poll interval (10 s in the local stack).
    status = wait_for(
        lambda: running.status().stdout,
        "status to name it",
        120,
        every=1,
        done=lambda out: served in out,
    )
    assert row(status, "model") == ["model", served]
    state = StackState.load(running.state_dir)
    assert state is not None and state.model == f"{MODEL}@prod = version {first.version}"


def test_status_asks_the_registry_when_the_api_does_not_answer(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = credentials.load_or_create(running.state_dir)
    for name, value in client_env(READER, made.reader_password).items():
        monkeypatch.setenv(name, value)
    prod = mlflow.MlflowClient(running.urls["mlflow"]).get_model_version_by_alias(MODEL, "prod")
    nobody = f"http://127.0.0.1:{process.free_port()}"
    reader = Connection(username=READER, password=made.reader_password)
    assert served_model(nobody, running.urls["mlflow"], MODEL, reader) == (
        f"{MODEL}@prod = version {prod.version} (from the registry; the API does not answer)"
    )
    assert served_model(nobody, nobody, MODEL).startswith("unknown")


def test_a_killed_mlflow_is_restarted_with_backoff_while_the_rest_keeps_serving(
    running: Running,
) -> None:
    before = {name: running.entry(name).pid for name in running.urls}
    os.kill(before["mlflow"], signal.SIGKILL)
    assert predict(running.urls["api"]) == 200  # at once, from the model the API has loaded
    mlflow_now = wait_for(
        lambda: running.entry("mlflow"),
        "MLflow restarted",
        300,
        every=0.5,
        done=lambda entry: entry.state == "up" and entry.restarts == 1,
    )
    assert mlflow_now.pid != before["mlflow"]
    assert process.answers(f"{running.urls['mlflow']}/health")
    others = {name: running.entry(name).pid for name in running.urls if name != "mlflow"}
    assert others == {name: pid for name, pid in before.items() if name != "mlflow"}
    assert predict(running.urls["api"]) == 200
    assert f"mlflow was killed by SIGKILL: restarting it in 1s (try 1 of {MAX_RESTARTS})" in (
        running.up_log()
    )
    status = running.status()
    assert row(status.stdout, "mlflow") == ["mlflow", "up", "restarts 1", running.urls["mlflow"]]
    assert row(status.stdout, "api") == ["api", "up", running.urls["api"]]


@pytest.fixture
def demo_port_taken(running: Running) -> Iterator[int]:
    """The demo killed and its port taken by another program, so that each restart fails."""
    demo = running.entry("demo")
    port = urlparse(demo.url).port
    assert port is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        os.killpg(demo.pid, signal.SIGKILL)
        # Bound the moment the port is free: the supervisor restarts the demo a second later
        # at the earliest (its first backoff), so waiting for the whole group could lose the race.
        wait_for(lambda: _bound(squatter, port), "the demo's port free", 30, every=0.01)
        squatter.listen()
        yield port


def _bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def test_a_service_that_keeps_dying_is_given_up_on_named_with_its_log_and_the_rest_stays_up(
    running: Running, demo_port_taken: int
) -> None:
    demo = wait_for(
        lambda: running.entry("demo"),
        "the supervisor to give up on the demo",
        300,
        every=0.5,
        done=lambda entry: entry.state == "gave up",
    )
    assert demo.restarts == MAX_RESTARTS
    log = running.state_dir / "logs" / "demo.log"
    up_log = running.up_log()
    assert f"demo was killed by SIGKILL: restarting it in 1s (try 1 of {MAX_RESTARTS})" in up_log
    assert f"demo exited with code 1: restarting it in 2s (try 2 of {MAX_RESTARTS})" in up_log
    assert (
        f"giving up on it; the rest of the stack runs on. Read its log with `tail -n 50 {log}`"
        in (up_log)
    )
    assert f"Port {demo_port_taken} is not available" in up_log  # the demo's own last words
    status = running.status()
    assert status.returncode == 1
    assert row(status.stdout, "demo")[:3] == ["demo", "gave up", f"restarts {MAX_RESTARTS}"]
    assert f"gave up on demo: read its log with `tail -n 50 {log}`" in status.stdout
    assert row(status.stdout, "api")[1] == row(status.stdout, "mlflow")[1] == "up"
    state = StackState.load(running.state_dir)
    assert state is not None and state.status == "up" and is_supervisor(state.pid)
    assert predict(running.urls["api"]) == 200
