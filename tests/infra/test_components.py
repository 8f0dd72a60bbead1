"""Each component on its own under Pulumi's mocks: children parented, outputs registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from k8s.harness import Recorder, mocks

from contract.api import ApiEnv
from infra.namespace import Namespace, NamespaceArgs
from infra.serving import Serving, ServingArgs


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with mocks(Recorder(), "unit") as recorder:
        yield recorder


def test_namespace_is_restricted_closed_both_ways_and_lets_pods_resolve_names(
    recorder: Recorder,
) -> None:
    @pulumi.runtime.test
    def check() -> Any:
        ns = Namespace("t", NamespaceArgs(name="team"))
        return ns.name.apply(lambda name: name == "team" or pytest.fail(name))

    check()
    (namespace,) = [r for r in recorder.resources if r.typ == "kubernetes:core/v1:Namespace"]
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in recorder.resources
        if r.typ == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    every_pod = {"matchLabels": {}}
    assert policies["default-deny"] == {
        "podSelector": every_pod,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    dns = policies["allow-dns"]
    assert (dns["podSelector"], dns["ingress"]) == (every_pod, [])
    (rule,) = dns["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_namespace_needs_a_name() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        NamespaceArgs(name="")


def test_serving_registers_its_service_name_and_url(recorder: Recorder) -> None:
    @pulumi.runtime.test
    def check() -> Any:
        serving = Serving(
            "t",
            ServingArgs(
                namespace="ns",
                image="api:1",
                pull_policy="Never",
                env=ApiEnv(mlflow_tracking_uri="http://mlflow:5000", model_name="M"),
            ),
        )
        return pulumi.Output.all(serving.service_name, serving.url).apply(
            lambda v: v == ["t-api", "http://t-api:80"] or pytest.fail(str(v))
        )

    check()
    kinds = {r.typ.rsplit(":", 1)[1] for r in recorder.resources}
    assert {
        "ServiceAccount",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
