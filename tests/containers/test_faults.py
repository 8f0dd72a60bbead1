"""Container faults on the minikube stack's pods under podman: MLflow killed while a trainer pod
runs, the API container killed and restarted while MLflow is down, and MLflow's data volume
mounted read-only. Pods come from the rendered manifests (tests/containers/stack.py); a fault is
what a node would do to them: `podman kill` (SIGKILL; like the kubelet's back-off, nothing
restarts the container until the test starts it again) or the volume mounted read-only.
"""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from containers.kube import pod_spec
from containers.podman import Podman
from containers.stack import (
    READY_SECONDS,
    TRAIN_SECONDS,
    Rendered,
    Stack,
    alias_version,
    call,
    env_value,
    post,
    running_stack,
)
from contract.api import MODEL_CACHE_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

# The API polls the alias every MODEL_POLL_SECONDS (30 s) and backs off to four polls while the
# registry is down: how long it may take to notice MLflow is back.
FOLLOW_SECONDS = 300


def with_env(job: dict[str, Any], **values: str) -> dict[str, Any]:
    """A copy of `job` with these variables set, as a user re-running the Job would set them."""
    changed = copy.deepcopy(job)
    (container,) = pod_spec(changed)["containers"]
    env = [e for e in container["env"] if e["name"] not in values]
    container["env"] = env + [{"name": k, "value": v} for k, v in values.items()]
    return changed


@pytest.fixture(scope="module")
def stack(podman: Podman, images: dict[str, str], rendered: Rendered) -> Iterator[Stack]:
    """MLflow, a first version at @prod (the fastest family, for time), and the API serving it."""
    quick = with_env(rendered.one("Job", "trainer"), FAMILIES="seasonal_naive")
    with running_stack(podman, images, rendered, quick) as stack:
        yield stack


@pytest.fixture(autouse=True)
def all_up(stack: Stack) -> Stack:
    """Each fault starts from MLflow and the API ready, whatever the test before it did."""
    for key in ("mlflow", "api"):
        if not stack.podman.inspect(stack.containers[key])["State"]["Running"]:
            stack.start(key)
        stack.wait_ready(key)
    return stack


def full_logs(stack: Stack, container: str) -> str:
    result = stack.podman.run("logs", container, check=False)
    return result.stdout + result.stderr


def wait_log(stack: Stack, container: str, pattern: str, seconds: float = TRAIN_SECONDS) -> str:
    """The first match of `pattern` in the container's output, once it appears."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(pattern, full_logs(stack, container), re.M)
        if found:
            return found.group(0)
        time.sleep(1)
    pytest.fail(f"no {pattern!r} in {container}'s output:\n{full_logs(stack, container)[-3000:]}")


def wait_for(what: str, probe: Any, seconds: float = FOLLOW_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}")


def get(url: str) -> Any:
    status, body = call(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


def versions(mlflow: str, model: str) -> set[str]:
    query = urllib.parse.urlencode({"filter": f"name='{model}'", "max_results": 1000})
    found = get(f"{mlflow}/api/2.0/mlflow/model-versions/search?{query}")
    return {str(v["version"]) for v in found.get("model_versions", [])}


def served(stack: Stack) -> dict[str, Any]:
    status, body = call(stack.url("api", "/model"))
    return dict(json.loads(body)) if status == 200 else {}


def test_mlflow_killed_while_a_trainer_runs_fails_it_cleanly_and_moves_nothing(
    stack: Stack, rendered: Rendered
) -> None:
    mlflow, job = stack.url("mlflow"), rendered.one("Job", "trainer")
    model = env_value(job, "MODEL_NAME")
    prod, before = alias_version(mlflow, model), versions(mlflow, model)
    # The rendered Job as it is (every family: minutes of fitting, so the kill lands mid-run).
    stack.play("trainer-killed", job, name="mlstack-trainer-mlflow-killed")
    trainer = stack.containers["trainer-killed"]
    started = wait_log(stack, trainer, r"run [0-9a-f]{32} in experiment")
    run_id = started.split()[1]
    stack.kill("mlflow")
    # MLflow stays down until the trainer has given up on it and waits to mark its run.
    wait_log(stack, trainer, "marking the run FAILED once MLflow answers")
    stack.start("mlflow")
    stack.wait_ready("mlflow")
    waited = stack.podman.run("wait", trainer, timeout=TRAIN_SECONDS)
    code, logs = int(waited.stdout.split()[-1]), full_logs(stack, trainer)
    assert code == 1, logs[-3000:]
    assert re.search(rf"^error: MLflow at \S+ failed during run {run_id}: ", logs, re.M), logs
    assert "Traceback" not in logs
    run = get(f"{mlflow}/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]
    assert run["info"]["status"] == "FAILED"
    assert versions(mlflow, model) == before  # nothing registered
    assert alias_version(mlflow, model) == prod


def test_the_api_killed_and_restarted_while_mlflow_is_down_serves_its_cached_version(
    stack: Stack,
) -> None:
    was = wait_for("the API serving the registry's version", lambda: served(stack))
    assert was["source"] == "registry"
    entries = stack.podman.run("exec", stack.containers["api"], "ls", MODEL_CACHE_DIR).stdout
    assert f"{was['name']}@prod.json" in entries.split()

    stack.kill("mlflow")
    stack.kill("api")
    stack.start("api")
    stack.wait_ready("api")
    now = served(stack)
    assert (now["version"], now["run_id"], now["source"]) == (
        was["version"],
        was["run_id"],
        "cache",
    )
    status, answer = post(stack.url("api", "/predict"), {"horizon": 6})
    assert status == 200 and answer["model"]["version"] == was["version"], answer
    _, metrics = call(stack.url("api", "/metrics"))
    assert re.search(
        rf'^model_info{{[^}}]*model_version="{was["version"]}"[^}}]*source="cache"}} 1\.0$',
        metrics.decode(),
        re.M,
    )

    # MLflow back: the API follows the registry again, without a restart.
    stack.start("mlflow")
    stack.wait_ready("mlflow")
    back = wait_for("the registry's copy", lambda: served(stack).get("source") == "registry")
    assert back and served(stack)["version"] == was["version"]


def read_only_data(deployment: dict[str, Any]) -> dict[str, Any]:
    """The MLflow Deployment with its data volume mounted read-only, the one change."""
    changed = copy.deepcopy(deployment)
    (container,) = pod_spec(changed)["containers"]
    (data,) = [m for m in container["volumeMounts"] if m["name"] == "data"]
    data["readOnly"] = True
    return changed


def test_a_read_only_mlflow_volume_stops_mlflow_at_start_with_a_readable_error(
    stack: Stack, rendered: Rendered
) -> None:
    was = served(stack)
    deployment = rendered.one("Deployment", "mlflow")
    ip = stack.podman.ip(stack.played["mlflow"].pod, stack.network)
    stack.play("mlflow", read_only_data(deployment), ip=ip)  # the same pod, its volume read-only
    try:
        mlflow = stack.containers["mlflow"]
        wait_log(
            stack,
            mlflow,
            r"^error: the backend store sqlite:////data/mlflow\.db is not writable: /data: "
            r"Read-only file system$",
            seconds=READY_SECONDS,
        )
        logs = full_logs(stack, mlflow)
        assert "MLflow is not started" in logs and "Traceback" not in logs
        info = stack.podman.inspect(mlflow)
        assert info["State"]["ExitCode"] == 1 or info["RestartCount"] > 0  # a crash loop
        with pytest.raises(OSError):  # nothing listens: the server never started
            call(stack.url("mlflow", "/health"))

        # The API keeps serving what it has.
        assert call(stack.probe("api", "readinessProbe"))[0] == 200
        status, answer = post(stack.url("api", "/predict"), {"horizon": 3})
        assert status == 200 and answer["model"]["version"] == was["version"], answer
    finally:  # the volume read-write again, at the same address, for whatever runs next
        stack.play("mlflow", deployment, ip=ip)
        stack.wait_ready("mlflow")
