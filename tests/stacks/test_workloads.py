"""The workload set both targets deploy: wiring, probes, limits and pod security."""

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
)

from contract.api import API
from contract.tracking import TRACKING
from contract.trainer import DASK_SCHEDULER, DASK_WORKER, SCORER, TRAINER
from infra.mlflow_server import allowed_hosts
from infra.naming import labels, selector_labels

GRAPHS = {"minikube": minikube, "eks": eks}
# The same stacks with a Dask cluster for the trainer: the checks every pod must pass run on them.
WITH_DASK = {
    **GRAPHS,
    "minikube-dask": lambda: program("minikube", {"trainer_workers": 3}),
    "eks-dask": lambda: program("eks", {**EKS_SETTINGS, "trainer_workers": 3}),
}
NAMESPACE = "mlstack"
SPECS = {s.name: s for s in (TRACKING, TRAINER, SCORER, API, DASK_SCHEDULER, DASK_WORKER)}


@pytest.fixture(params=sorted(GRAPHS))
def graph(request: pytest.FixtureRequest) -> Graph:
    return GRAPHS[request.param]()


@pytest.fixture(params=sorted(WITH_DASK))
def any_graph(request: pytest.FixtureRequest) -> Graph:
    return WITH_DASK[request.param]()


def ours(graph: Graph) -> list[Recorded]:
    """The workload objects (monitoring's chart objects are tested with its component)."""
    return [
        o
        for o in graph.kubernetes_objects()
        if o.manifest["metadata"].get("namespace") == NAMESPACE
        or (o.manifest["kind"] == "Namespace" and o.manifest["metadata"]["name"] == NAMESPACE)
    ]


def pods(graph: Graph) -> list[tuple[Recorded, dict[str, Any], dict[str, str]]]:
    """(owner, pod spec, pod labels) for every pod template."""
    out = []
    for owner, spec in graph.pod_specs():
        tmpl = owner.manifest["spec"]
        if owner.manifest["kind"] == "CronJob":
            tmpl = tmpl["jobTemplate"]["spec"]
        out.append((owner, spec, tmpl["template"]["metadata"]["labels"]))
    return out


def test_every_namespaced_workload_object_is_in_the_stack_namespace(any_graph: Graph) -> None:
    kinds = {o.manifest["kind"] for o in ours(any_graph)}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "Job",
        "ServiceAccount",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds
    for obj in any_graph.kubernetes_objects():
        meta = obj.manifest["metadata"]
        if obj.manifest["kind"] in ("Namespace", "StorageClass"):
            continue
        assert meta.get("namespace") in (NAMESPACE, "monitoring"), obj.name


def test_every_service_selects_pods_that_carry_its_selector_labels(graph: Graph) -> None:
    pod_labels = [lab for _, _, lab in pods(graph)]
    services = [o for o in ours(graph) if o.manifest["kind"] == "Service"]
    assert len(services) == 2
    for service in services:
        selector = service.manifest["spec"]["selector"]
        matching = [lab for lab in pod_labels if selector.items() <= lab.items()]
        assert matching, f"{service.name} selects no pod"


def test_service_target_ports_are_named_container_ports(graph: Graph) -> None:
    for service in (o for o in ours(graph) if o.manifest["kind"] == "Service"):
        (port,) = service.manifest["spec"]["ports"]
        assert port["name"] == "http" and port["targetPort"] == "http"


def test_api_service_is_cluster_ip_port_80_with_monitoring_labels(graph: Graph) -> None:
    (api,) = [
        o
        for o in ours(graph)
        if o.manifest["kind"] == "Service" and o.manifest["metadata"]["name"] == "mlstack-api"
    ]
    spec = api.manifest["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"][0]["port"] == 80
    assert labels(API.name, "serving").items() <= api.manifest["metadata"]["labels"].items()


def test_trainer_and_api_reach_mlflow_at_its_service_dns_name_and_port(graph: Graph) -> None:
    (mlflow,) = [
        o
        for o in ours(graph)
        if o.manifest["kind"] == "Service" and o.manifest["metadata"]["name"] == "mlstack-mlflow"
    ]
    port = mlflow.manifest["spec"]["ports"][0]["port"]
    assert port == TRACKING.port
    expected = f"http://mlstack-mlflow.{NAMESPACE}.svc.cluster.local:{port}"
    for name in ("trainer", "api"):
        for container in containers(graph, name):
            assert env_of(container)["MLFLOW_TRACKING_URI"] == expected


def test_mlflow_allows_every_service_dns_name_and_port_forward(graph: Graph) -> None:
    (server,) = containers(graph, "mlflow")
    hosts = env_of(server)["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert hosts == allowed_hosts("mlstack-mlflow", NAMESPACE, 5000).split(",")
    for name in (
        "mlstack-mlflow",
        "mlstack-mlflow.mlstack",
        "mlstack-mlflow.mlstack.svc",
        "mlstack-mlflow.mlstack.svc.cluster.local",
    ):
        assert name in hosts and f"{name}:5000" in hosts
    assert "localhost:*" in hosts


def test_containers_run_the_spec_command_port_and_probes(any_graph: Graph) -> None:
    for _, spec, _ in pods(any_graph):
        for container in spec["containers"]:
            service = SPECS[container["name"]]
            assert container["command"] + container.get("args", []) == list(service.args)
            env = env_of(container)
            assert service.env.items() <= env.items()
            if service.port is not None:
                assert container["ports"] == [{"name": "http", "containerPort": service.port}]
                assert container["livenessProbe"]["httpGet"] == {
                    "path": service.live_path,
                    "port": "http",
                }
                assert container["readinessProbe"]["httpGet"] == {
                    "path": service.ready_path,
                    "port": "http",
                }


def test_spec_argument_variables_are_all_declared_in_the_container_env(any_graph: Graph) -> None:
    for _, spec, _ in pods(any_graph):
        for container in spec["containers"]:
            service = SPECS[container["name"]]
            declared = {e["name"] for e in container["env"]}
            needed = {a[2:-1] for a in service.args if a.startswith("$(")}
            assert needed <= declared, container["name"]


def test_api_probes_are_healthz_and_readyz(graph: Graph) -> None:
    (api,) = containers(graph, "api")
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_every_container_has_requests_and_limits(any_graph: Graph) -> None:
    for _, spec, _ in pods(any_graph):
        for container in spec["containers"]:
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}
            assert set(resources["limits"]) == {"cpu", "memory"}


def test_every_pod_is_non_root_read_only_unprivileged_with_seccomp(any_graph: Graph) -> None:
    for owner, spec, _ in pods(any_graph):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        scratch = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, owner.name
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in scratch  # somewhere writable


def test_api_is_autoscaled_and_protected_by_a_disruption_budget(graph: Graph) -> None:
    (hpa,) = [o for o in ours(graph) if o.manifest["kind"] == "HorizontalPodAutoscaler"]
    target = hpa.manifest["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "mlstack-api")
    assert 1 <= hpa.manifest["spec"]["minReplicas"] <= hpa.manifest["spec"]["maxReplicas"]
    (pdb,) = [
        o
        for o in ours(graph)
        if o.manifest["kind"] == "PodDisruptionBudget" and o.name == "mlstack-api"
    ]
    assert pdb.manifest["spec"]["selector"]["matchLabels"] == selector_labels(API.name, "serving")


def test_only_api_and_trainer_pods_may_reach_mlflow(any_graph: Graph) -> None:
    policies = {
        o.manifest["metadata"]["name"]: o.manifest["spec"]
        for o in ours(any_graph)
        if o.manifest["kind"] == "NetworkPolicy"
    }
    mlflow = policies["mlstack-mlflow-network"]
    assert mlflow["podSelector"]["matchLabels"] == selector_labels(TRACKING.name, "tracking")
    (rule,) = mlflow["ingress"]
    allowed = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
    assert allowed == [
        selector_labels(API.name, "serving"),
        selector_labels(TRAINER.name, "training"),
    ]
    # Each allowed selector picks exactly the pods of that client, and no MLflow pod.
    for selector, client in zip(allowed, ("api", "trainer"), strict=True):
        picked = {
            c["name"]
            for _, spec, lab in pods(any_graph)
            if selector.items() <= lab.items()
            for c in spec["containers"]
        }
        assert picked == {client}
    assert rule["ports"] == [{"port": TRACKING.port, "protocol": "TCP"}]


def test_trainer_job_name_changes_with_its_image() -> None:
    before = minikube().exports["trainer_job"]
    after = program("minikube", {"trainer_image": "mlstack-trainer:0.2.0"}).exports["trainer_job"]
    assert before != after and after.startswith("mlstack-trainer-")


def test_trainer_job_name_changes_with_its_data() -> None:
    from infra.trainer import job_suffix

    assert job_suffix("mlstack-trainer:0.1.0", "a" * 64) != job_suffix(
        "mlstack-trainer:0.1.0", "b" * 64
    )


def test_schedule_adds_a_cron_job_with_the_same_pod() -> None:
    graph = program("minikube", {"trainer_schedule": "0 3 * * 0", "score_schedule": "off"})
    (cron,) = graph.of_type("kubernetes:batch/v1:CronJob")
    (job,) = graph.of_type("kubernetes:batch/v1:Job")
    assert cron.manifest["spec"]["schedule"] == "0 3 * * 0"
    assert cron.manifest["spec"]["concurrencyPolicy"] == "Forbid"
    assert (
        cron.manifest["spec"]["jobTemplate"]["spec"]["template"] == job.manifest["spec"]["template"]
    )


def test_no_cron_job_without_a_schedule() -> None:
    assert minikube().of_type("kubernetes:batch/v1:CronJob") == []


def test_postgres_uri_goes_through_a_secret_and_eks_then_needs_no_volume() -> None:
    uri = "postgresql://mlflow:pw@db.example:5432/mlflow"
    graph = program(
        "eks", {**EKS_SETTINGS, "mlflow_database": "external"}, {"mlflow_database_uri": uri}
    )
    secret = graph.one("kubernetes:core/v1:Secret", lambda r: r.name == "mlstack-mlflow-db")
    assert secret.manifest["stringData"] == {"uri": uri}
    (server,) = containers(graph, "mlflow")
    assert env_of(server)["MLFLOW_BACKEND_STORE_URI"] == {
        "secretKeyRef": {"name": "mlstack-mlflow-db", "key": "uri"}
    }
    assert uri not in str(server)
    # Not expanded into the command line either (`ps` would show it): MLflow reads the variable.
    assert not [a for a in server["args"] if "BACKEND_STORE" in a or a == "--backend-store-uri"]
    assert waits_on_secret(graph, "mlstack-mlflow", secret)
    assert graph.of_type("kubernetes:core/v1:PersistentVolumeClaim") == []


def waits_on_secret(graph: Graph, deployment: str, secret: Recorded) -> bool:
    """Whether the Deployment reads the Secret through the resource, so it waits for it."""
    found = graph.one("kubernetes:apps/v1:Deployment", lambda r: r.name == deployment)
    return any(
        urn.endswith(f"core/v1:Secret::{secret.name}") for urn in graph.dependencies_of(found)
    )


def test_api_waits_for_the_first_training_and_training_for_mlflow(graph: Graph) -> None:
    # `pulumi up` then rolls out in the order a ready API needs: MLflow, a model, the API.
    (job,) = graph.of_type("kubernetes:batch/v1:Job")
    assert graph.waits_on(job.name, "mlstack-mlflow")  # the MLflow Deployment
    assert graph.waits_on("mlstack-api", job.name)  # the API Deployment (and its children)
    api = [r for r in graph.resources if r.name == "mlstack-api" and r.typ.startswith("kub")]
    assert all(graph.waits_on(r.name, job.name) for r in api)


def test_api_serves_the_prod_alias_of_the_configured_model(graph: Graph) -> None:
    (api,) = containers(graph, "api")
    env = env_of(api)
    assert (env["MODEL_NAME"], env["MODEL_ALIAS"]) == ("ForecastModel", "prod")
    assert "API_TOKEN" not in env  # auth is opt-in


def test_api_token_reaches_the_api_through_a_secret_only() -> None:
    token = "t0ken-for-the-api-of-32-characters"
    graph = program("minikube", secrets={"api_token": token})
    secret = graph.one("kubernetes:core/v1:Secret", lambda r: r.name == "mlstack-api-token")
    assert secret.manifest["stringData"] == {"token": token}
    (api,) = containers(graph, "api")
    ref = {"secretKeyRef": {"name": "mlstack-api-token", "key": "token"}}
    assert env_of(api)["API_TOKEN"] == ref
    assert token not in str(api)
    assert waits_on_secret(graph, "mlstack-api", secret)
