"""`trainer_workers: 2` run for real: the minikube stack's Dask scheduler and its two workers,
played with `podman kube play` from the trainer image as rendered, with MLflow, and the trainer
Job's pod fitting a panel of real M3 series on them.

As in test_pods, the objects are the ones `pulumi up -s minikube` would send with that key set,
and `kube.for_kube_play` changes only what podman cannot take: the Deployment of two workers is
played twice (podman runs one replica), and the pods reach the scheduler's Service by its
hostnames, mapped to the scheduler pod's address. NetworkPolicies are not enforced here (the
job of .github/workflows/e2e.yml).
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from containers.kube import PROBES, Probe, for_kube_play, pod_spec, service_hostnames, untouched
from containers.podman import Podman
from containers.stack import Rendered, Stack, alias_version, env_value, pod_network
from contract.trainer import DASK_SCHEDULER_ENV, DASK_WORKER_PORT
from services.forecasting import forecasters
from services.registry import ClientRegistry
from tests.panels import FAST, m3_monthly, series_table

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WORKERS = 2
SERIES = 36  # a few dozen real monthly series: seconds of fitting with one fast family
# Run in a worker's container: the memory its cgroups allow, as Dask reads them.
CGROUP_LIMIT = "import distributed.system as s; print(s.memory_limit())"
STARTED_WITH = ("cat", "/proc/1/cmdline")  # the container's process: `dask worker` and its flags


@dataclass(frozen=True)
class Trained:
    stack: Stack
    job: dict[str, Any]  # the trainer Job as it ran
    ids: list[str]  # the panel's series
    logs: str  # the trainer pod's


@pytest.fixture(scope="module")
def rendered_dask() -> Rendered:
    """The minikube stack's Kubernetes objects with `trainer_workers: 2`."""
    from k8s.harness import program

    graph = program("minikube", {"trainer_workers": WORKERS})
    return Rendered.of(graph)


def panel_job(job: dict[str, Any], data_uri: str) -> dict[str, Any]:
    """The rendered trainer Job on the panel; the differences are what a user re-running it on
    other data would set: DATA_URI, and one fast family to keep the test's cost small."""
    job = copy.deepcopy(job)
    (container,) = pod_spec(job)["containers"]
    for env in container["env"]:
        if env["name"] == "DATA_URI":
            env["value"] = data_uri
    container["env"].append({"name": "FAMILIES", "value": ",".join(FAST)})
    return job


@pytest.mark.parametrize("app", ["dask-scheduler", "dask-worker"])
def test_conversion_keeps_the_dask_pods_as_rendered_and_hands_over_their_tcp_probes(
    rendered_dask: Rendered, app: str
) -> None:
    obj = rendered_dask.one("Deployment", app)
    (container,) = pod_spec(obj)["containers"]
    ports = {p["containerPort"]: 40000 + i for i, p in enumerate(container["ports"])}
    played = for_kube_play(obj, {container["image"]: "localhost/x:y"}, {}, ports, name="again")
    assert untouched(played.manifest) == untouched(obj)
    assert played.manifest["metadata"]["name"] == "again" and played.pod == "again-pod-0"
    assert played.manifest["spec"]["replicas"] == 1  # one play, one replica
    by_name = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = played.probes[container["name"]]
    for kind in PROBES:
        assert probes[kind] == Probe(port=by_name[container[kind]["tcpSocket"]["port"]])
    assert played.ports == ports


@pytest.fixture(scope="module")
def trained(podman: Podman, images: dict[str, str], rendered_dask: Rendered) -> Iterator[Trained]:
    """MLflow ready, the scheduler and both workers ready, the panel served from the host,
    the trainer Job's pod exited 0; all of it removed afterwards, whether the tests passed or
    not."""
    rendered = rendered_dask
    stack = Stack(podman, pod_network(podman, "mlstack-dask"), images)
    try:
        stack.secrets(rendered)
        ip = stack.service_ip()
        stack.play(
            "mlflow",
            rendered.one("Deployment", "mlflow"),
            extra=[rendered.one("PersistentVolumeClaim", "mlflow")],
            ip=ip,
        )
        stack.wait_ready("mlflow")
        stack.hosts.update({h: ip for h in service_hostnames(rendered.one("Service", "mlflow"))})
        stack.play("scheduler", rendered.one("Deployment", "dask-scheduler"))
        stack.wait_ready("scheduler")
        scheduler_ip = podman.ip(stack.played["scheduler"].pod, stack.network)
        service = rendered.one("Service", "dask-scheduler")
        stack.hosts.update({h: scheduler_ip for h in service_hostnames(service)})
        workers = rendered.one("Deployment", "dask-worker")
        assert workers["spec"]["replicas"] == WORKERS
        for i in range(WORKERS):
            stack.play(f"worker-{i}", workers, name=f"{workers['metadata']['name']}-{i}")
        for i in range(WORKERS):  # the Job waits for the workers' Deployment to be ready
            stack.wait_ready(f"worker-{i}")
        frame = m3_monthly(SERIES, start=200)
        with stack.data_server(frame.to_csv(index=False).encode()) as data_uri:
            job = panel_job(rendered.one("Job", "trainer"), data_uri)
            code, logs = stack.run_job("trainer", job)
        assert code == 0, f"the trainer pod exited {code}:\n{logs}"
        yield Trained(stack, job, sorted(frame["unique_id"].unique()), logs)
    finally:
        left = podman.cleanup()
        assert left == [], f"left behind: {left}"


def test_trainer_pod_fitted_the_panel_on_the_scheduler_and_both_worker_pods(
    trained: Trained,
) -> None:
    stack, address = trained.stack, env_value(trained.job, DASK_SCHEDULER_ENV)
    model = env_value(trained.job, "MODEL_NAME")
    client = MlflowClient(stack.url("mlflow"))
    (version,) = client.search_model_versions(f"name='{model}'")
    tags = client.get_run(version.run_id).data.tags
    assert tags["fitted_on"] == f"dask {address} ({WORKERS} workers)", trained.logs
    assert f"fitting on the Dask cluster at {address} ({WORKERS} worker(s)" in trained.logs
    assert f"{SERIES}/{SERIES} series (100%)" in trained.logs
    # The scheduler registered each worker pod (at its pod address, on the pinned worker port)
    # and the trainer as its client.
    scheduler = stack.podman.logs(stack.containers["scheduler"])
    registered = set(re.findall(r"Register worker addr: tcp://([\d.]+):(\d+)", scheduler))
    pods = {
        (stack.podman.ip(stack.played[f"worker-{i}"].pod, stack.network), str(DASK_WORKER_PORT))
        for i in range(WORKERS)
    }
    assert registered == pods, scheduler
    assert "Receive client connection" in scheduler, scheduler


def test_each_worker_may_use_its_pods_memory_limit(trained: Trained) -> None:
    """Each worker is started with `--memory-limit` at its container's limit, not Dask's `auto`
    share (threads / CPUs of it: half, with one thread in two CPUs). Dask caps that at the
    smallest cgroup limit it sees, which under podman is the request (a soft limit, which the
    kubelet does not set), so the worker reports the lesser of the two."""
    from dask.utils import format_bytes, parse_bytes

    stack = trained.stack
    (container,) = pod_spec(stack.played["worker-0"].manifest)["containers"]
    limit = parse_bytes(container["resources"]["limits"]["memory"])
    for i in range(WORKERS):
        name = stack.containers[f"worker-{i}"]
        assert stack.podman.inspect(name)["HostConfig"]["Memory"] == limit  # as podman set it
        argv = stack.podman.run("exec", name, *STARTED_WITH).stdout.rstrip("\0").split("\0")
        assert [Path(argv[1]).name, argv[2]] == ["dask", "worker"], argv
        flag = parse_bytes(argv[argv.index("--memory-limit") + 1])
        assert flag == limit, argv
        seen = stack.podman.run("exec", name, "python3", "-c", CGROUP_LIMIT).stdout
        expected = format_bytes(min(flag, int(seen)))
        logs = stack.podman.logs(name)
        assert re.search(rf"Memory: +{re.escape(expected)}$", logs, re.M), logs


def test_one_version_holds_every_series_and_the_series_table_lists_them(
    trained: Trained,
) -> None:
    stack, model = trained.stack, env_value(trained.job, "MODEL_NAME")
    uri = stack.url("mlflow")
    client = MlflowClient(uri)
    (version,) = client.search_model_versions(f"name='{model}'")
    assert alias_version(uri, model) == version.version  # the first version: promoted
    with tempfile.TemporaryDirectory() as tmp:
        folder = ClientRegistry(client).download(model, version.version, Path(tmp))
        assert sorted(forecasters.load(folder)) == trained.ids
    table = series_table(uri, version.run_id)
    assert sorted(table["unique_id"]) == trained.ids
    assert set(table["status"]) == {"trained"}, table
