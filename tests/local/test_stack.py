"""`mlstack up` as a newcomer runs it: real MLflow, trainer, API, demo and Prometheus processes."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.service import ServiceSpec
from services.local import process, prometheus
from services.local.config import DEFAULT_PORTS, LocalConfig
from services.local.signals import SignalGuard
from services.local.stack import Stack, StackError
from services.local.state import StackState
from tests.binaries import binary, have
from tests.factories import wait_for

from .factories import MLSTACK, leftovers, up_command, wait_until_up


@dataclass(frozen=True)
class FirstRun:
    state_dir: Path
    state: StackState  # as recorded while everything was up
    answers: dict[str, int]  # each service's readiness probe status while up
    anonymous: int  # MLflow's answer to a request without credentials while up
    output: str
    exit_code: int


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def _status(url: str) -> int:
    try:
        return _get(url)[0]
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """A fresh `mlstack up`, stopped with Ctrl-C (SIGINT) once everything is up."""
    state_dir = tmp_path_factory.mktemp("stack") / ".mlstack"
    log = state_dir.parent / "up.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(up_command(state_dir), stdout=out, stderr=subprocess.STDOUT)
        try:
            state = wait_until_up(state_dir, proc, log)
            answers = {s.name: _get(s.ready_url)[0] for s in state.services if s.ready_url}
            (mlflow,) = (s.url for s in state.services if s.name == "mlflow")
            anonymous = _status(f"{mlflow}/api/2.0/mlflow/registered-models/search")
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=120)
    return FirstRun(state_dir, state, answers, anonymous, log.read_text(), code)


@pytest.mark.slow
def test_up_starts_every_service_and_each_answers_its_readiness_probe(first_run: FirstRun) -> None:
    expected = {"mlflow", "api", "demo"} | ({"prometheus"} if have("prometheus") else set())
    assert set(first_run.answers) == expected
    assert set(first_run.answers.values()) == {200}
    assert first_run.state.model == "ForecastModel@prod = version 1"


@pytest.mark.slow
def test_up_trains_once_when_prod_is_unset_and_prints_one_table_of_urls(
    first_run: FirstRun,
) -> None:
    assert "ForecastModel@prod is unset: training once" in first_run.output
    for service in first_run.state.services:
        row = re.compile(rf"^ +{service.name} +{re.escape(str(service.url))}$", re.MULTILINE)
        assert len(row.findall(first_run.output)) == 1
    assert "/docs" in first_run.output


@pytest.mark.slow
def test_mlflow_asks_for_credentials_which_only_the_state_directory_holds(
    first_run: FirstRun,
) -> None:
    # The trainer (writer) registered and promoted, the API (reader) loaded @prod: both ready.
    assert first_run.anonymous == 401
    kept = first_run.state_dir / "credentials.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert f"its users' are in {kept}" in first_run.output
    assert json.loads(kept.read_text())["reader_password"] not in first_run.output


@pytest.mark.slow
def test_logs_are_streamed_with_the_service_name_in_front(first_run: FirstRun) -> None:
    prefixes = {
        line.split("|", 1)[0].strip() for line in first_run.output.splitlines() if "|" in line
    }
    assert {"mlflow", "trainer", "api", "demo", "mlstack"} <= prefixes
    assert (first_run.state_dir / "logs" / "api.log").stat().st_size > 0


@pytest.mark.slow
def test_up_scores_the_first_model_once_after_training_it(first_run: FirstRun) -> None:
    output = first_run.output
    assert "scoring ForecastModel@prod once on" in output
    assert output.index("training once") < output.index("scoring ForecastModel@prod once")
    assert any(line.split("|", 1)[0].strip() == "scorer" for line in output.splitlines())
    assert "warning: scorer exited" not in output  # scored, or "not enough new data"


def _scorer(code: int, says: str) -> ServiceSpec:
    """A stand-in for `mlstack score` that prints `says` and exits with `code` (this
    environment's python, as `process.start` runs console scripts)."""
    script = f"print({says!r}, flush=True); raise SystemExit({code})"
    return ServiceSpec(name="scorer", image="", extra="", args=("python", "-c", script))


@pytest.mark.parametrize(
    ("code", "says", "expected"),
    [
        (0, "scored 12 points of 1 series", None),
        (3, "Not enough new data to score version 1: no actuals after 1960-12", "carrying on"),
        (1, "MlflowException: boom", "warning: scorer exited with code 1"),
    ],
    ids=["scored", "no-new-data", "failed"],
)
def test_a_scoring_that_finds_nothing_new_or_fails_never_stops_the_stack(
    tmp_path: Path, code: int, says: str, expected: str | None
) -> None:
    console = io.StringIO()
    stack = Stack(LocalConfig(state_dir=tmp_path).resolved(), SignalGuard(), console)
    stack.cfg.logs.mkdir(parents=True)  # as preflight leaves it
    stack.score(_scorer(code, says))  # returns, whatever the scorer answered
    assert stack.started == []
    output = console.getvalue()
    assert "scoring ForecastModel@prod once" in output
    assert says in output  # the scorer's own words reach the console
    if expected is None:
        assert "warning" not in output and "carrying on" not in output
    else:
        assert expected in output


@pytest.mark.slow
def test_ctrl_c_stops_everything_and_keeps_the_state_directory(first_run: FirstRun) -> None:
    assert first_run.exit_code == 0
    assert "SIGINT received: stopping the stack" in first_run.output
    assert not [s.name for s in first_run.state.services if process.group_exists(s.pid)]
    assert leftovers(first_run.state_dir) == []
    assert (first_run.state_dir / "mlflow.db").exists()
    assert StackState.load(first_run.state_dir) is None


@pytest.mark.slow
def test_up_again_resumes_the_same_model_detached_and_down_stops_it(first_run: FirstRun) -> None:
    state_dir = first_run.state_dir
    started = subprocess.run(
        [*up_command(state_dir), "--detach"], capture_output=True, text=True, timeout=900
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "ForecastModel@prod = version 1" in started.stdout
        up_log = (state_dir / "logs" / "up.log").read_text()
        assert "ForecastModel@prod is version 1: no training needed" in up_log
        status = subprocess.run(
            [MLSTACK, "status", "--state-dir", str(state_dir)], capture_output=True, text=True
        )
        assert status.returncode == 0, status.stdout
        assert "DOWN" not in status.stdout
        again = subprocess.run(up_command(state_dir), capture_output=True, text=True)
        assert again.returncode == 1 and "already running" in again.stdout
        running = StackState.load(state_dir)
        assert running is not None
    finally:
        down = subprocess.run(
            [MLSTACK, "down", "--state-dir", str(state_dir)], capture_output=True, text=True
        )
    assert down.returncode == 0, down.stdout
    assert not [s.name for s in running.services if process.group_exists(s.pid)]
    assert leftovers(state_dir) == []


def _active_targets(prometheus_url: str) -> list[dict[str, object]]:
    targets: list[dict[str, object]] = json.loads(_get(f"{prometheus_url}/api/v1/targets")[1])[
        "data"
    ]["activeTargets"]
    return targets


@pytest.fixture
def detached(tmp_path: Path) -> Iterator[Path]:
    """A stack of the test's own started with `--detach` (one test kills its supervisor);
    stopped with `down` at the end whatever happened."""
    state_dir = tmp_path / ".mlstack"
    subprocess.run([*up_command(state_dir), "--detach"], check=True, capture_output=True)
    yield state_dir
    subprocess.run([MLSTACK, "down", "--state-dir", str(state_dir)], check=True)


@pytest.fixture
def prometheus_on_path() -> str:
    return binary("prometheus")


@pytest.mark.slow
def test_prometheus_loads_the_alert_rules_and_targets_the_api(
    prometheus_on_path: str, detached: Path
) -> None:
    state = StackState.load(detached)
    assert state is not None
    urls = {s.name: s.url for s in state.services}
    rules = json.loads(_get(f"{urls['prometheus']}/api/v1/rules")[1])
    groups = {group["name"] for group in rules["data"]["groups"]}
    assert {"mlstack-api", "mlstack-model"} <= groups
    # Target discovery runs after Prometheus reports ready, even for static targets.
    (target,) = wait_for(
        lambda: _active_targets(urls["prometheus"]), "the API scrape target", 120, every=0.2
    )
    assert target["labels"]["job"] == prometheus.JOB
    assert target["scrapeUrl"] == f"{urls['api']}/metrics"


@pytest.mark.slow
def test_down_stops_what_a_killed_supervisor_left_running(detached: Path) -> None:
    state = StackState.load(detached)
    assert state is not None
    os.kill(state.pid, signal.SIGKILL)  # no chance to clean up
    orphans = [s for s in state.services if process.group_exists(s.pid)]
    assert [s.name for s in orphans] == [s.name for s in state.services]
    down = subprocess.run(
        [MLSTACK, "down", "--state-dir", str(detached)], capture_output=True, text=True
    )
    assert down.returncode == 0, down.stdout
    assert not [s.name for s in state.services if process.group_exists(s.pid)]
    assert leftovers(detached) == []


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_is_named_and_nothing_is_started(tmp_path: Path, taken_port: int) -> None:
    state_dir = tmp_path / ".mlstack"
    result = subprocess.run(
        [*up_command(state_dir), "--api-port", str(taken_port)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"api: port {taken_port} on 127.0.0.1 is already in use" in result.stdout
    assert "--api-port" in result.stdout
    assert leftovers(state_dir) == []


@pytest.mark.slow
def test_a_service_failing_at_start_is_named_and_the_rest_is_stopped(tmp_path: Path) -> None:
    state_dir = tmp_path / ".mlstack"
    result = subprocess.run(
        [*up_command(state_dir), "--data", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1
    assert "error: trainer exited with code 1" in result.stdout
    assert "missing.csv" in result.stdout  # the trainer's own words, from the tail of its log
    assert "stopping mlflow" in result.stdout
    assert leftovers(state_dir) == []
    assert StackState.load(state_dir) is None


def test_a_missing_command_is_named_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for an environment without the mlflow extra; nothing else is faked.
    real = process.executable
    monkeypatch.setattr(
        process, "executable", lambda name: None if name == "mlflow" else real(name)
    )
    stack = Stack(LocalConfig(state_dir=tmp_path).resolved(), SignalGuard(), io.StringIO())
    with pytest.raises(StackError, match="mlflow: command `mlflow` not found"):
        stack.preflight()


def test_without_prometheus_on_path_the_stack_says_how_to_get_it_and_runs_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(MLSTACK).parent))
    assert not prometheus.available()
    console = io.StringIO()
    free = LocalConfig(state_dir=tmp_path, ports=dict.fromkeys(DEFAULT_PORTS, 0))
    stack = Stack(free.resolved(), SignalGuard(), console)
    assert [spec.name for spec, _env in stack.plan()] == ["mlflow", "api", "demo"]
    assert "apt-get install prometheus" in prometheus.HINT
    stack.preflight()  # what `up` runs before it starts anything
    assert "apt-get install prometheus" in console.getvalue()


def test_up_refuses_a_state_directory_another_stack_runs_from_and_leaves_its_state_alone(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / ".mlstack"
    state_dir.mkdir()
    # A live process whose command line says mlstack stands in for the other supervisor.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "mlstack"])
    try:
        StackState(pid=other.pid, status="up").save(state_dir)
        result = subprocess.run(up_command(state_dir), capture_output=True, text=True)
        assert result.returncode == 1
        assert f"a stack is already running from {state_dir} (pid {other.pid})" in result.stdout
        assert StackState.load(state_dir) == StackState(pid=other.pid, status="up")
    finally:
        other.kill()
        other.wait()
