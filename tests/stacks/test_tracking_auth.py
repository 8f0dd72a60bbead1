"""MLflow's credentials on both targets: generated passwords kept as Pulumi secrets, delivered to
each pod as a Secret reference, and each client pod holding only its own identity."""

from __future__ import annotations

from typing import Any

import pytest
from k8s.harness import Graph, containers, eks, env_of, minikube, program

from contract.tracking import (
    ADMIN_PASSWORD_ENV,
    CLIENT_PASSWORD_ENV,
    CLIENT_USERNAME_ENV,
    READER,
    READER_MODEL_ENV,
    READER_PASSWORD_ENV,
    SECRET_KEY_ENV,
    WRITER,
    WRITER_PASSWORD_ENV,
)

GRAPHS = {
    "minikube": minikube,
    "eks": eks,
    # With the scorer's CronJob too.
    "minikube-scored": lambda: program("minikube", {"score_schedule": "0 * * * *"}),
}
SERVER_SECRET = "mlstack-mlflow-auth"
GENERATED = "generated-password"  # what the mocks give every RandomPassword


@pytest.fixture(params=sorted(GRAPHS))
def graph(request: pytest.FixtureRequest) -> Graph:
    return GRAPHS[request.param]()


def ref(secret: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": secret, "key": key}}


def test_the_server_reads_every_password_from_its_secret(graph: Graph) -> None:
    (server,) = containers(graph, "mlflow")
    env = env_of(server)
    assert env[ADMIN_PASSWORD_ENV] == ref(SERVER_SECRET, "admin-password")
    assert env[SECRET_KEY_ENV] == ref(SERVER_SECRET, "secret-key")
    assert env[WRITER_PASSWORD_ENV] == ref(SERVER_SECRET, "writer-password")
    assert env[READER_PASSWORD_ENV] == ref(SERVER_SECRET, "reader-password")
    assert env[READER_MODEL_ENV] == "ForecastModel"
    assert GENERATED not in str(server)


@pytest.mark.parametrize(
    ("container", "username", "secret"),
    [
        ("trainer", WRITER, "mlstack-mlflow-writer"),
        ("scorer", WRITER, "mlstack-mlflow-writer"),
        ("api", READER, "mlstack-mlflow-reader"),
    ],
)
def test_each_client_pod_reads_only_its_own_identity_from_a_secret(
    graph: Graph, container: str, username: str, secret: str
) -> None:
    for each in containers(graph, container):
        env = env_of(each)
        assert env[CLIENT_USERNAME_ENV] == username
        assert env[CLIENT_PASSWORD_ENV] == ref(secret, "password")
        refs = [v["secretKeyRef"]["name"] for v in env.values() if isinstance(v, dict)]
        assert SERVER_SECRET not in refs
        assert GENERATED not in str(each)


def test_the_scorer_is_a_client_pod_of_the_graphs_above() -> None:
    assert containers(GRAPHS["minikube-scored"](), "scorer")


def test_no_other_pod_holds_an_mlflow_password(graph: Graph) -> None:
    for _, spec in graph.pod_specs():
        for container in spec["containers"]:
            if container["name"] not in {"mlflow", "trainer", "scorer", "api"}:
                assert CLIENT_PASSWORD_ENV not in env_of(container)


def test_passwords_are_generated_and_kept_secret(graph: Graph) -> None:
    generated = {r.name for r in graph.of_type("random:index/randomPassword:RandomPassword")}
    expected = {"mlflow-admin", "mlflow-secret-key", "mlflow-writer", "mlflow-reader"}
    assert {f"mlstack-{role}" for role in expected} <= generated
    secrets = {
        r.name: r.manifest["stringData"]
        for r in graph.of_type("kubernetes:core/v1:Secret")
        if r.name.startswith("mlstack-mlflow-") and r.name != "mlstack-mlflow-db"
    }
    assert secrets == {
        SERVER_SECRET: dict.fromkeys(
            ("admin-password", "secret-key", "writer-password", "reader-password"), GENERATED
        ),
        "mlstack-mlflow-writer": {"password": GENERATED},
        "mlstack-mlflow-reader": {"password": GENERATED},
    }
