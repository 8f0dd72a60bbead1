"""The minikube stack's resource graph, from `Pulumi.minikube.yaml` under Pulumi's mocks."""

from __future__ import annotations

from k8s.harness import Graph, containers, env_of, minikube, unsecret

from infra.prometheus_stack import SIZES
from stacks.minikube import IMAGE_DATA


def graph() -> Graph:
    return minikube()


def test_minikube_declares_no_aws_resources() -> None:
    clouds = {r.typ for r in graph().resources if r.typ.startswith(("aws:", "eks:"))}
    assert clouds == set()


def test_provider_uses_the_minikube_kube_context() -> None:
    provider = graph().one("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "minikube"


def test_images_are_never_pulled_because_they_are_built_into_minikube() -> None:
    pulled = {
        c["name"]: c["imagePullPolicy"]
        for _, spec in graph().pod_specs()
        for c in spec["containers"]
    }
    assert set(pulled) == {"mlflow", "trainer", "api"}
    assert set(pulled.values()) == {"Never"}


def test_trainer_reads_the_data_baked_into_its_image() -> None:
    (trainer,) = containers(graph(), "trainer")
    assert env_of(trainer)["DATA_URI"] == IMAGE_DATA


def test_mlflow_keeps_store_and_artifacts_on_its_volume() -> None:
    (server,) = containers(graph(), "mlflow")
    env = env_of(server)
    assert env["MLFLOW_BACKEND_STORE_URI"] == "sqlite:////data/mlflow.db"
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "/data/artifacts"
    assert [m["mountPath"] for m in server["volumeMounts"]] == ["/tmp", "/data"]
    claim = graph().one("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_exports_give_port_forward_commands_on_the_minikube_context() -> None:
    exports = graph().exports
    assert exports["port_forward_api"] == (
        "kubectl --context minikube -n mlstack port-forward svc/mlstack-api 8000:80"
    )
    assert exports["port_forward_mlflow"] == (
        "kubectl --context minikube -n mlstack port-forward svc/mlstack-mlflow 5000:5000"
    )
    assert exports["port_forward_grafana"].startswith(
        "kubectl --context minikube -n monitoring port-forward svc/"
    )
    assert "bucket_name" not in exports and "kubeconfig" not in exports


def test_minikube_runs_the_small_monitoring_stack() -> None:
    values = unsecret(graph().one("kubernetes:helm.sh/v3:Release").inputs["values"])
    assert values["prometheus"]["prometheusSpec"]["retention"] == SIZES["small"].retention == "1d"
