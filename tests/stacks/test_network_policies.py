"""Who may talk to whom: the stacks' NetworkPolicies, read as an enforcing plugin reads them
(tests/k8s/policies.py), for each target with and without its optional parts.

The namespace denies everything both ways; every pod has a policy of its own for both directions;
inside the namespace exactly the connections of `MAP` pass; beyond the cluster only MLflow and
the trainer speak HTTPS (and MLflow its database); nothing ever reaches the metadata address.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_network
from typing import Any

import pytest
from k8s.harness import EKS_PUBLIC, TOKEN, Graph, eks, minikube, program
from k8s.policies import Pod, address, admits, connects, governing, pods, policies

from contract.api import API_PORT
from contract.tracking import TRACKING_PORT
from contract.trainer import DASK_NANNY_PORT, DASK_SCHEDULER_PORT, DASK_WORKER_PORT
from infra.netpol import HTTPS_PORT, METADATA_CIDR, POSTGRES_PORT
from stacks.public import NGINX_NAMESPACE, NGINX_POD

NAMESPACE = "mlstack"
EVERYTHING = {"trainer_workers": 2, "trainer_schedule": "0 3 * * 0", "public_access": True}
DATABASE = {"mlflow_database_uri": "postgresql://mlflow:pw@db.example:5432/mlflow"}
# eks has its RDS database by default; "everything" gives it an external one instead.
EKS_EVERYTHING = {**EKS_PUBLIC, **EVERYTHING, "mlflow_database": "external"}
GRAPHS: dict[str, Callable[[], Graph]] = {
    "minikube": minikube,
    "eks": eks,
    "minikube-everything": lambda: program("minikube", EVERYTHING, TOKEN),
    "eks-everything": lambda: program("eks", EKS_EVERYTHING, {**TOKEN, **DATABASE}),
    "minikube-no-monitoring": lambda: program("minikube", {"monitoring_enabled": False}),
}
# Inside the namespace: (sender, receiver, port), by container name. The scorer runs in the
# trainer's pod (same labels), so it has the trainer's access.
MAP = {
    ("api", "mlflow", TRACKING_PORT),
    ("trainer", "mlflow", TRACKING_PORT),
    ("scorer", "mlflow", TRACKING_PORT),
    ("trainer", "dask-scheduler", DASK_SCHEDULER_PORT),
    ("scorer", "dask-scheduler", DASK_SCHEDULER_PORT),
    ("dask-worker", "dask-scheduler", DASK_SCHEDULER_PORT),
    ("dask-scheduler", "dask-worker", DASK_WORKER_PORT),
    ("dask-scheduler", "dask-worker", DASK_NANNY_PORT),
    ("trainer", "dask-worker", DASK_WORKER_PORT),
    ("scorer", "dask-worker", DASK_WORKER_PORT),
    ("dask-worker", "dask-worker", DASK_WORKER_PORT),
}
INTERNET_USERS = {"mlflow", "trainer", "scorer"}  # S3, STS (IRSA), https:// data
S3 = address("52.216.8.1")
METADATA = address(METADATA_CIDR.split("/")[0])
# Addresses of the cluster itself: pods and Services (minikube), the VPC and Services (EKS).
INSIDE = {
    "minikube": ("10.244.1.7", "10.96.0.1"),
    "eks": ("10.0.3.4", "10.0.40.10", "10.100.0.10", "172.20.0.1"),
}
ALB_NODE = address("10.0.32.5")  # in the load balancer's subnets
NODE_POD = address("10.0.1.5")  # a node, or any pod (VPC CNI), in a node subnet
DEBUG = Pod("debug", NAMESPACE, {"run": "debug"})  # a pod of the namespace, not ours
PROMETHEUS = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
NGINX = Pod("controller", NGINX_NAMESPACE, NGINX_POD)
STRANGER = Pod("stranger", "default", {"app": "stranger"})
COREDNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53})


@pytest.fixture(params=sorted(GRAPHS))
def case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ours(graph: Graph) -> list[Pod]:
    found = [p for p in pods(graph) if p.namespace == NAMESPACE]
    assert found
    return found


def target(case: str) -> str:
    return case.split("-")[0]


def test_the_namespace_denies_everything_both_ways(case: str) -> None:
    (deny,) = [p for p in policies(GRAPHS[case]()) if p["metadata"]["name"] == "default-deny"]
    assert deny["metadata"]["namespace"] == NAMESPACE
    assert deny["spec"] == {
        "podSelector": {"matchLabels": {}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }


def test_every_pod_has_a_policy_of_its_own_for_both_directions(case: str) -> None:
    found = policies(GRAPHS[case]())
    for pod in ours(GRAPHS[case]()):
        for direction in ("Ingress", "Egress"):
            own = [s for s in governing(found, pod, direction) if s["podSelector"]["matchLabels"]]
            assert own, f"{pod.name}: no policy of its own for {direction}"


def test_inside_the_namespace_exactly_the_map_connects(case: str) -> None:
    graph = GRAPHS[case]()
    found, present = policies(graph), ours(graph)
    allowed = {
        (sender.name, receiver.name, port)
        for sender in present
        for receiver in present
        for port in receiver.ports.values()
        if connects(found, sender, receiver, port)
    }
    names = {p.name for p in present}
    assert allowed == {(s, r, port) for s, r, port in MAP if {s, r} <= names}


def test_the_api_port_admits_the_namespace_prometheus_and_the_public_entry_only(case: str) -> None:
    graph = GRAPHS[case]()
    found = policies(graph)
    (api,) = [p for p in ours(graph) if p.name == "api"]
    public = "everything" in case
    expected = {
        "the namespace's own pods": (DEBUG, True),
        "Prometheus's namespace": (PROMETHEUS, "no-monitoring" not in case),
        "another namespace": (STRANGER, False),
        "ingress-nginx": (NGINX, public and target(case) == "minikube"),
        "the ALB's subnets": (ALB_NODE, public and target(case) == "eks"),
        "the node subnets": (NODE_POD, False),
        "the internet": (S3, False),
    }
    admitted = {
        name: admits(found, api, "Ingress", who, API_PORT) for name, (who, _) in expected.items()
    }
    assert admitted == {name: allowed for name, (_, allowed) in expected.items()}
    # Nothing else of the pod is open, to anyone.
    assert not admits(found, api, "Ingress", DEBUG, TRACKING_PORT)


def test_beyond_the_cluster_only_mlflow_and_the_trainer_speak_https(case: str) -> None:
    graph = GRAPHS[case]()
    found = policies(graph)
    for pod in ours(graph):
        assert admits(found, pod, "Egress", S3, HTTPS_PORT) == (pod.name in INTERNET_USERS)
        for inside in INSIDE[target(case)]:
            assert not admits(found, pod, "Egress", address(inside), HTTPS_PORT), (pod, inside)


def test_mlflow_reaches_its_database_only_when_it_has_one(case: str) -> None:
    graph = GRAPHS[case]()
    found = policies(graph)
    database = address(INSIDE["eks"][1])  # in the VPC, as an RDS instance would be
    for pod in ours(graph):
        expected = pod.name == "mlflow" and target(case) == "eks"
        assert admits(found, pod, "Egress", database, POSTGRES_PORT) == expected, pod.name


def test_every_pod_resolves_names_at_the_cluster_dns(case: str) -> None:
    graph = GRAPHS[case]()
    found = policies(graph)
    for pod in ours(graph):
        assert connects(found, pod, COREDNS, 53), pod.name
        assert not connects(found, pod, STRANGER, 53), pod.name


def test_no_pod_reaches_the_metadata_address_on_any_port(case: str) -> None:
    graph = GRAPHS[case]()
    found = policies(graph)
    for pod in ours(graph):
        for port in (53, 80, HTTPS_PORT, POSTGRES_PORT, TRACKING_PORT):
            assert not admits(found, pod, "Egress", METADATA, port), (pod.name, port)


def excepts_the_metadata_address(peer: dict[str, Any]) -> bool:
    """A peer that cannot be the metadata address."""
    if "ipBlock" not in peer:
        return True  # pods: none has that address
    block = peer["ipBlock"]
    metadata = ip_network(METADATA_CIDR)
    inside = metadata.subnet_of(ip_network(block["cidr"]))  # type: ignore[arg-type]
    excepted = any(metadata.subnet_of(ip_network(c)) for c in block.get("except") or [])  # type: ignore[arg-type]
    return not inside or excepted


def test_no_egress_rule_admits_the_metadata_address(case: str) -> None:
    rules = [
        (p["metadata"]["name"], rule)
        for p in policies(GRAPHS[case]())
        for rule in p["spec"].get("egress") or []
    ]
    assert rules
    for name, rule in rules:
        assert rule.get("to"), f"{name}: an egress rule without `to` admits every address"
        assert all(excepts_the_metadata_address(peer) for peer in rule["to"]), name
