"""MLflow on a real PostgreSQL, as the replicated EKS stack runs it: the schema upgraded once by
`mlstack db-upgrade`, then two MLflow servers on the one database (artifacts in one shared place,
as S3 is). The trainer registers and promotes through one server; the API follows `@prod`
through the other; both serve the same registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from serving.factories import settings

from contract.tracking import TRACKING
from services.local import process
from services.serving.app import create_app
from tests.factories import train_first_version, wait_for

from .conftest import upgraded
from .server import Postgres

pytestmark = pytest.mark.slow  # two MLflow servers, a training and the API, for real
MODEL = "pg-forecast"


@dataclass(frozen=True)
class Registry:
    postgres: Postgres
    database: str  # its name on the server
    servers: tuple[str, str]  # the two MLflow servers' URLs
    version: str  # MODEL's first version, trained and promoted through the first server
    root: Path  # the servers' shared artifact folder and logs


@pytest.fixture(scope="module")
def registry(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    uri = postgres.create_database("registry")
    upgraded(uri)  # once, before any server, as the pods' init containers do
    root = tmp_path_factory.mktemp("mlflow-on-postgres")  # both servers' artifacts: one place
    ports = (process.free_port(), process.free_port())
    servers = tuple(f"http://127.0.0.1:{port}" for port in ports)
    started = []
    try:
        for port in ports:  # both start at once, as replicas do
            log = open(root / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the server
            env = process.tracking_env(root, port, store=uri)
            started.append((process.start(TRACKING, env, stdout=log), log))
        for url, (proc, _) in zip(servers, started, strict=True):
            process.wait_ready(f"{url}/health", proc, timeout=300, name=f"MLflow at {url}")
        version = train_first_version(servers[0], MODEL, "postgres-tests")
        yield Registry(postgres, "registry", (servers[0], servers[1]), version, root)
    finally:
        for proc, log in started:
            process.stop(proc)
            log.close()


def rows(registry: Registry, sql: str) -> list[tuple[object, ...]]:
    return registry.postgres.execute(sql, registry.database)


def test_the_trainer_registers_and_promotes_a_version_into_postgresql(registry: Registry) -> None:
    assert registry.version == "1"
    assert rows(registry, f"SELECT version FROM model_versions WHERE name = '{MODEL}'") == [(1,)]
    aliases = f"SELECT alias, version FROM registered_model_aliases WHERE name = '{MODEL}'"
    assert rows(registry, aliases) == [("prod", 1)]
    (run_id,) = [v.run_id for v in mlflow.MlflowClient(registry.servers[0]).search_model_versions()]
    status = f"SELECT status FROM runs WHERE run_uuid = '{run_id}'"
    assert rows(registry, status) == [("FINISHED",)]


def served(client: TestClient) -> str | None:
    response = client.get("/model")
    return response.json()["version"] if response.status_code == 200 else None


def test_the_api_follows_prod_through_the_other_server(registry: Registry) -> None:
    first, second = registry.servers
    app = create_app(settings(second, MODEL), registry=CollectorRegistry())
    with TestClient(app) as client:
        wait_for(lambda: served(client) == registry.version, "version 1 through server 2", 300)
        assert client.post("/predict", json={"horizon": 3}).status_code == 200
        # A new version registered through the second server, promoted through the first.
        model = mlflow.MlflowClient(second).get_model_version(MODEL, registry.version)
        new = mlflow.MlflowClient(second).create_model_version(
            MODEL, model.source, run_id=model.run_id, model_id=model.source.split("/")[-1]
        )
        mlflow.MlflowClient(first).set_registered_model_alias(MODEL, "prod", new.version)
        wait_for(lambda: served(client) == new.version, "the API to follow @prod", 300)
        answer = client.post("/predict", json={"horizon": 3}).json()
        assert answer["model"]["version"] == new.version


def test_two_servers_on_one_database_serve_the_same_registry(registry: Registry) -> None:
    clients = [mlflow.MlflowClient(uri) for uri in registry.servers]

    def view(client: mlflow.MlflowClient) -> object:
        versions = client.search_model_versions(f"name = '{MODEL}'")
        return (
            sorted((v.version, v.run_id, v.source) for v in versions),
            client.get_model_version_by_alias(MODEL, "prod").version,
            sorted(e.name for e in client.search_experiments()),
        )

    assert view(clients[0]) == view(clients[1])
    clients[1].create_experiment("made-through-the-second-server")
    assert "made-through-the-second-server" in view(clients[0])[2]  # type: ignore[index]


def test_neither_server_kept_the_registry_on_disk(registry: Registry) -> None:
    # Their only local state is the shared artifact folder (S3 on EKS): no SQLite file.
    assert list(registry.root.rglob("*.db")) == []
    assert list((registry.root / "artifacts").rglob("MLmodel"))
