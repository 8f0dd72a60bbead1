"""The MLflow Deployment as the eks stack renders it on RDS (its default), run with `podman kube
play` against a PostgreSQL container built from the same local Debian base as the images.

The objects are the ones `pulumi up -s eks` would send (tests/k8s/harness.py): two replicas, the
schema upgrade as their init container, the URI from the rendered Secret. The one stand-in is
the database: the Secret names the RDS instance's address, which resolves here (a hostAlias, as
for Services) to the PostgreSQL container, serving TLS and the rendered role and password. Each
replica's init container runs to completion first, as the kubelet runs it; then both servers
start on the one database.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from containers.kube import init_job, pod_spec
from containers.podman import Podman
from containers.stack import Rendered, Stack, call, pod_network, post
from contract.tracking import BACKEND_STORE_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
REPLICAS = ("mlflow-0", "mlflow-1")
DATABASE_SECONDS = 120


@pytest.fixture(scope="module")
def rendered_eks() -> Rendered:
    from k8s.harness import eks

    return Rendered.of(eks())


def uri_secret(rendered: Rendered) -> dict[str, Any]:
    """The Secret the MLflow Deployment reads its database URI from."""
    (container,) = pod_spec(rendered.one("Deployment", "mlflow"))["containers"]
    (name,) = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if e["name"] == BACKEND_STORE_ENV
    ]
    (secret,) = [o for o in rendered.objects if o["metadata"]["name"] == name]
    return secret


def psql(podman: Podman, sql: str, database: str = "postgres") -> str:
    """One statement through the database container's local socket, as its superuser."""
    result = podman.run(
        "exec", "mlstack-postgres", "psql", "-h", "/tmp", "-d", database, "-AtX", "-c", sql
    )
    return result.stdout.strip()


def start_database(stack: Stack, image: str, uri: urllib.parse.SplitResult) -> None:
    """The PostgreSQL container at an address of its own, with the role and database `uri` names;
    the URI's host resolves to it in the pods."""
    ip = stack.service_ip()
    stack.podman.container("mlstack-postgres", image, stack.network, ip)
    deadline = time.monotonic() + DATABASE_SECONDS
    while stack.podman.run(
        "exec", "mlstack-postgres", "pg_isready", "-h", "/tmp", check=False
    ).returncode:
        assert time.monotonic() < deadline, stack.podman.logs("mlstack-postgres")
        time.sleep(1)
    role, password = uri.username, uri.password
    psql(stack.podman, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    psql(stack.podman, f"CREATE DATABASE {uri.path.lstrip('/')} OWNER {role}")
    assert uri.hostname is not None
    stack.hosts[uri.hostname] = ip


@pytest.fixture(scope="module")
def replicas(
    podman: Podman, images: dict[str, str], postgres_image: str, rendered_eks: Rendered
) -> Iterator[Stack]:
    """The database, then each replica of the rendered MLflow Deployment (its init container to
    completion first), ready; everything removed afterwards."""
    deployment = rendered_eks.one("Deployment", "mlflow")
    (container,) = pod_spec(deployment)["containers"]
    repository = container["image"].split(":")[0]  # the eks stack's registry name
    stack = Stack(podman, pod_network(podman, "mlstack-db"), {repository: images["mlstack-mlflow"]})
    secret = uri_secret(rendered_eks)
    try:
        start_database(stack, postgres_image, urllib.parse.urlsplit(secret["stringData"]["uri"]))
        stack.secrets(rendered_eks)  # the URI's, and MLflow's users'
        for key in REPLICAS:
            stack.play(key, deployment, name=f"mlstack-{key}")
            stack.wait_ready(key)
        yield stack
    finally:
        left = podman.cleanup()
        assert left == [], f"left behind: {left}"


def test_the_init_containers_run_as_rendered_before_the_server(rendered_eks: Rendered) -> None:
    deployment = rendered_eks.one("Deployment", "mlflow")
    job = init_job(deployment, "x")
    assert job is not None
    (rendered,) = pod_spec(deployment)["initContainers"]
    (played,) = pod_spec(job)["containers"]
    assert played == rendered  # command, env, user, mounts and limits untouched
    assert pod_spec(job)["securityContext"] == pod_spec(deployment)["securityContext"]
    assert deployment["spec"]["replicas"] == len(REPLICAS)


def test_the_first_replica_upgrades_the_schema_and_the_second_finds_it_current(
    replicas: Stack,
) -> None:
    first, second = (replicas.init_logs[key] for key in REPLICAS)
    assert "upgraded the schema from an empty database to" in first
    assert "nothing to upgrade" in second and "upgrading" not in second
    revision = psql(replicas.podman, "SELECT version_num FROM alembic_version", "mlflow")
    assert revision and revision in first


def test_both_replicas_serve_one_registry_from_postgresql(replicas: Stack) -> None:
    # As the trainer (containers.stack.call): MLflow's users are in PostgreSQL too.
    create = replicas.url("mlflow-0", "/api/2.0/mlflow/registered-models/create")
    status, made = post(create, {"name": "made-through-replica-0"})
    assert status == 200, made
    query = urllib.parse.urlencode({"name": "made-through-replica-0"})
    status, body = call(replicas.url("mlflow-1", f"/api/2.0/mlflow/registered-models/get?{query}"))
    assert status == 200, body
    assert json.loads(body)["registered_model"]["name"] == "made-through-replica-0"
    stored = psql(replicas.podman, "SELECT name FROM registered_models", "mlflow")
    assert "made-through-replica-0" in stored.splitlines()


def test_every_replica_connects_over_tls_with_the_generated_password(replicas: Stack) -> None:
    sessions = psql(
        replicas.podman,
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.usename = 'mlflow'",
    )
    assert sessions and set(sessions.splitlines()) == {"t"}  # every session, encrypted
