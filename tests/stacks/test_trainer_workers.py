"""`trainer_workers: N`: a Dask scheduler and N workers for the trainer, closed to everyone else,
and nothing at all at 0 (the default)."""

from __future__ import annotations

from typing import Any

import pytest
from k8s.harness import (
    EKS_SETTINGS,
    Graph,
    Recorded,
    containers,
    eks,
    env_of,
    minikube,
    program,
    run_program,
    signature,
)

from contract.service import SCRATCH
from contract.trainer import (
    DASK_NANNY_PORT,
    DASK_SCHEDULER,
    DASK_SCHEDULER_PORT,
    DASK_WORKER,
    DASK_WORKER_PORT,
    TRAINER,
)
from infra import pod
from infra import trainer as trainer_pod
from infra.naming import selector_labels

WORKERS = {"trainer_workers": 3}
NAMESPACE = "mlstack"
ADDRESS = f"tcp://mlstack-dask-scheduler.{NAMESPACE}.svc.cluster.local:{DASK_SCHEDULER_PORT}"
SCHEDULER = selector_labels(DASK_SCHEDULER.name, "training")
WORKER = selector_labels(DASK_WORKER.name, "training")
TRAINER_PODS = selector_labels(TRAINER.name, "training")
DASK_TYPES = {
    ("kubernetes:apps/v1:Deployment", "mlstack-dask-scheduler"),
    ("kubernetes:apps/v1:Deployment", "mlstack-dask-worker"),
    ("kubernetes:core/v1:Service", "mlstack-dask-scheduler"),
    ("kubernetes:core/v1:ServiceAccount", "mlstack-dask"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlstack-dask-scheduler-network"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlstack-dask-worker-network"),
    ("mlops:infra:DaskCluster", "mlstack"),
}
GRAPHS = {
    "minikube": lambda: program("minikube", WORKERS),
    "eks": lambda: program("eks", {**EKS_SETTINGS, **WORKERS}),
}


@pytest.fixture(params=sorted(GRAPHS))
def graph(request: pytest.FixtureRequest) -> Graph:
    return GRAPHS[request.param]()


def named(graph: Graph, kind: str, name: str) -> Recorded:
    return graph.one(
        f"kubernetes:{kind}", lambda r: r.manifest.get("metadata", {}).get("name") == name
    )


def pod_template(deployment: Recorded) -> dict[str, Any]:
    template: dict[str, Any] = deployment.manifest["spec"]["template"]
    return template


def labelled(graph: Graph, selector: dict[str, str]) -> set[str]:
    """The names of the containers of every pod template the selector picks."""
    picked = set()
    for owner, spec in graph.pod_specs():
        tmpl = owner.manifest["spec"]
        if owner.manifest["kind"] == "CronJob":
            tmpl = tmpl["jobTemplate"]["spec"]
        if selector.items() <= tmpl["template"]["metadata"]["labels"].items():
            picked |= {c["name"] for c in spec["containers"]}
    return picked


@pytest.mark.parametrize(
    ("stack", "settings"), [("minikube", {}), ("eks", EKS_SETTINGS)], ids=["minikube", "eks"]
)
def test_zero_workers_or_no_key_at_all_declares_exactly_todays_graph(
    stack: str, settings: dict[str, Any]
) -> None:
    absent = run_program(stack, settings, unset=("trainer_workers",))
    zero = program(stack, {**settings, "trainer_workers": 0})
    default = minikube() if stack == "minikube" else eks()
    assert {(r.typ, r.name) for r in absent.resources} == {(r.typ, r.name) for r in zero.resources}
    assert signature(absent) == signature(zero) == signature(default)
    assert not {(r.typ, r.name) for r in default.resources} & DASK_TYPES
    for container in containers(default, "trainer"):
        assert "DASK_SCHEDULER_ADDRESS" not in env_of(container)


def test_workers_add_exactly_the_dask_cluster(graph: Graph) -> None:
    today = minikube() if "eks:index:Cluster" not in graph.types() else eks()
    added = {(r.typ, r.name) for r in graph.resources} - {(r.typ, r.name) for r in today.resources}
    assert added == DASK_TYPES


def test_one_scheduler_behind_a_cluster_ip_service_on_8786(graph: Graph) -> None:
    scheduler = named(graph, "apps/v1:Deployment", "mlstack-dask-scheduler")
    spec = scheduler.manifest["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}  # never two schedulers behind the Service
    (main,) = pod_template(scheduler)["spec"]["containers"]
    assert [*main["command"], *main["args"]] == list(DASK_SCHEDULER.args)
    assert env_of(main)["SCHEDULER_PORT"] == str(DASK_SCHEDULER_PORT)
    assert main["ports"] == [{"name": "dask", "containerPort": DASK_SCHEDULER_PORT}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["tcpSocket"] == {"port": "dask"}
    service = named(graph, "core/v1:Service", "mlstack-dask-scheduler").manifest["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "dask", "port": DASK_SCHEDULER_PORT, "targetPort": "dask"}]
    assert service["selector"] == SCHEDULER
    assert labelled(graph, service["selector"]) == {DASK_SCHEDULER.name}


def test_three_single_threaded_workers_on_pinned_ports_connect_to_the_service(
    graph: Graph,
) -> None:
    workers = named(graph, "apps/v1:Deployment", "mlstack-dask-worker")
    assert workers.manifest["spec"]["replicas"] == 3
    (main,) = pod_template(workers)["spec"]["containers"]
    argv = [*main["command"], *main["args"]]
    assert argv == list(DASK_WORKER.args)
    assert argv[:3] == ["dask", "worker", "$(DASK_SCHEDULER_ADDRESS)"]
    assert argv[-1] == "--no-dashboard"
    flags = dict(zip(argv[3:-1:2], argv[4:-1:2], strict=True))
    assert flags["--nworkers"] == flags["--nthreads"] == "1"
    env = env_of(main)
    # Each worker may use its pod's memory, not Dask's share of it by threads per CPU.
    assert flags["--memory-limit"] == "$(MEMORY_LIMIT)"
    assert env["MEMORY_LIMIT"] == main["resources"]["limits"]["memory"]
    assert env["DASK_SCHEDULER_ADDRESS"] == ADDRESS
    assert (env["WORKER_PORT"], env["NANNY_PORT"]) == (str(DASK_WORKER_PORT), str(DASK_NANNY_PORT))
    assert main["ports"] == [
        {"name": "worker", "containerPort": DASK_WORKER_PORT},
        {"name": "nanny", "containerPort": DASK_NANNY_PORT},
    ]
    assert main["readinessProbe"]["tcpSocket"] == {"port": "worker"}
    assert main["livenessProbe"]["tcpSocket"] == {"port": "nanny"}
    # Scratch space on the emptyDir the read-only root leaves writable.
    assert env["WORKER_DIRECTORY"].startswith(SCRATCH + "/")
    scratch = {v["name"] for v in pod_template(workers)["spec"]["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    assert mounts[SCRATCH] in scratch


def test_workers_get_only_the_scheduler_address_and_their_memory_no_data_or_mlflow_access(
    graph: Graph,
) -> None:
    # Tasks carry their batch of series: workers read no data, reach neither MLflow nor S3.
    (main,) = containers(graph, DASK_WORKER.name)
    assert set(env_of(main)) == {
        "DASK_SCHEDULER_ADDRESS",
        "MEMORY_LIMIT",
        *DASK_WORKER.env,
        *pod.SCRATCH_ENV,
    }
    workers = named(graph, "apps/v1:Deployment", "mlstack-dask-worker")
    spec = pod_template(workers)["spec"]
    assert spec["serviceAccountName"] == "mlstack-dask"
    assert spec["automountServiceAccountToken"] is False
    account = named(graph, "core/v1:ServiceAccount", "mlstack-dask").manifest
    assert account["automountServiceAccountToken"] is False
    assert not account["metadata"].get("annotations")  # no IRSA role on EKS either


def test_dask_pods_run_the_trainer_image_at_the_trainer_size(graph: Graph) -> None:
    (trainer,) = containers(graph, TRAINER.name)
    (scheduler,) = containers(graph, DASK_SCHEDULER.name)
    (worker,) = containers(graph, DASK_WORKER.name)
    for main in (scheduler, worker):
        assert main["image"] == trainer["image"]
        assert main["imagePullPolicy"] == trainer["imagePullPolicy"]
        assert main["securityContext"] == trainer["securityContext"]
    size = trainer_pod.RESOURCES
    assert (
        worker["resources"]
        == trainer["resources"]
        == {
            "requests": {"cpu": size.cpu_request, "memory": size.memory_request},
            "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit},
        }
    )


def test_the_trainer_fits_on_the_cluster_once_its_workers_are_up(graph: Graph) -> None:
    (job,) = graph.of_type("kubernetes:batch/v1:Job")
    assert graph.waits_on(job.name, "mlstack-dask-worker")
    assert graph.waits_on("mlstack-dask-worker", "mlstack-dask-scheduler")
    for container in containers(graph, TRAINER.name):
        assert env_of(container)["DASK_SCHEDULER_ADDRESS"] == ADDRESS


def test_a_scheduled_trainer_fits_on_the_cluster_too() -> None:
    graph = program("minikube", {**WORKERS, "trainer_schedule": "0 3 * * 0"})
    found = containers(graph, TRAINER.name)
    assert len(found) == 2  # the Job and the CronJob
    assert {env_of(c)["DASK_SCHEDULER_ADDRESS"] for c in found} == {ADDRESS}


def policy(graph: Graph, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = named(graph, "networking.k8s.io/v1:NetworkPolicy", name).manifest["spec"]
    return spec


def peers(rule: dict[str, Any], key: str = "from") -> list[dict[str, str]]:
    return [peer["podSelector"]["matchLabels"] for peer in rule[key]]


def by_port(rules: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each rule by its one port."""
    assert all(len(rule["ports"]) == 1 for rule in rules)
    return {rule["ports"][0]["port"]: rule for rule in rules}


def test_only_the_trainer_and_the_workers_reach_the_scheduler(graph: Graph) -> None:
    spec = policy(graph, "mlstack-dask-scheduler-network")
    assert spec["podSelector"]["matchLabels"] == SCHEDULER
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": DASK_SCHEDULER_PORT, "protocol": "TCP"}]
    assert peers(rule) == [TRAINER_PODS, WORKER]
    assert [labelled(graph, p) for p in peers(rule)] == [{TRAINER.name}, {DASK_WORKER.name}]
    # It reaches its workers and their nannies, nothing else.
    (out,) = spec["egress"]
    assert peers(out, "to") == [WORKER]
    assert [p["port"] for p in out["ports"]] == [DASK_WORKER_PORT, DASK_NANNY_PORT]


def test_workers_admit_the_scheduler_trainer_and_peers_and_nannies_the_scheduler_only(
    graph: Graph,
) -> None:
    spec = policy(graph, "mlstack-dask-worker-network")
    assert spec["podSelector"]["matchLabels"] == WORKER
    ingress = by_port(spec["ingress"])
    assert set(ingress) == {DASK_WORKER_PORT, DASK_NANNY_PORT}
    assert peers(ingress[DASK_WORKER_PORT]) == [SCHEDULER, TRAINER_PODS, WORKER]
    assert peers(ingress[DASK_NANNY_PORT]) == [SCHEDULER]
    # The policies name ports the selected pods declare.
    (worker,) = containers(graph, DASK_WORKER.name)
    assert set(ingress) == {p["containerPort"] for p in worker["ports"]}
    # Workers reach the scheduler and each other only: no MLflow, no S3.
    egress = by_port(spec["egress"])
    assert {port: peers(rule, "to") for port, rule in egress.items()} == {
        DASK_SCHEDULER_PORT: [SCHEDULER],
        DASK_WORKER_PORT: [WORKER],
    }


def test_dask_pods_may_not_reach_mlflow(graph: Graph) -> None:
    (rule,) = policy(graph, "mlstack-mlflow-network")["ingress"]
    reach = set().union(*(labelled(graph, p) for p in peers(rule)))
    assert reach == {"api", TRAINER.name}
