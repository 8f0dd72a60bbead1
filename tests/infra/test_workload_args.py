"""The workload components' args refuse what cannot work, before anything is declared."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from contract.api import ApiEnv
from infra import pod
from infra.dask_cluster import DaskClusterArgs, scheduler_address
from infra.mlflow_server import MlflowServerArgs, allowed_hosts
from infra.serving import ServingArgs
from infra.trainer import TrainerArgs, job_suffix


def mlflow_args(**kw: object) -> MlflowServerArgs:
    base: dict[str, object] = dict(
        namespace="ns",
        namespace_name="ns",
        image="i:1",
        pull_policy="Never",
        artifacts_destination="/data/artifacts",
    )
    return MlflowServerArgs(**{**base, **kw})  # type: ignore[arg-type]


def test_allowed_hosts_cover_every_service_name_with_and_without_port() -> None:
    hosts = allowed_hosts("svc", "ns", 5000).split(",")
    assert hosts == [
        "svc",
        "svc:5000",
        "svc.ns",
        "svc.ns:5000",
        "svc.ns.svc",
        "svc.ns.svc:5000",
        "svc.ns.svc.cluster.local",
        "svc.ns.svc.cluster.local:5000",
        "localhost:*",
        "127.0.0.1:*",
    ]


def test_artifacts_on_the_volume_must_live_under_the_mount() -> None:
    with pytest.raises(ValueError, match="must live under /data"):
        mlflow_args(artifacts_destination="/var/artifacts")


def test_sqlite_needs_the_volume_and_postgres_with_s3_does_not() -> None:
    assert mlflow_args().needs_volume
    s3 = mlflow_args(artifacts_destination="s3://b/artifacts", artifacts_on_volume=False)
    assert s3.needs_volume  # SQLite still lives on the volume
    assert not mlflow_args(
        artifacts_destination="s3://b/a", artifacts_on_volume=False, database_uri="postgresql://x"
    ).needs_volume


def test_only_a_database_with_artifacts_off_the_volume_makes_mlflow_replicated() -> None:
    s3 = {"artifacts_destination": "s3://b/a", "artifacts_on_volume": False}
    assert mlflow_args(database_uri="postgresql://x", **s3).replicated
    assert not mlflow_args(**s3).replicated  # SQLite on the volume: one writer
    assert not mlflow_args(database_uri="postgresql://x").replicated  # artifacts on the volume
    with pytest.raises(ValueError, match="replicas must be at least 1"):
        mlflow_args(replicas=0)


def test_serving_refuses_min_replicas_above_max() -> None:
    with pytest.raises(ValueError, match=r"min_replicas \(3\) <= max_replicas \(2\)"):
        ServingArgs(
            namespace="ns",
            image="i:1",
            pull_policy="Never",
            env=ApiEnv(mlflow_tracking_uri="http://m", model_name="M"),
            min_replicas=3,
            max_replicas=2,
        )


def test_serving_keeps_the_token_out_of_the_pod_env() -> None:
    with pytest.raises(ValueError, match="token goes through api_token"):
        ServingArgs(
            namespace="ns",
            image="i:1",
            pull_policy="Never",
            env=ApiEnv(model_name="M", api_token=SecretStr("plain-in-the-pod-spec-32-characters")),
        )


def test_trainer_needs_a_data_fingerprint() -> None:
    with pytest.raises(ValueError, match="data_fingerprint"):
        TrainerArgs(
            namespace="ns",
            image="i:1",
            pull_policy="Never",
            tracking_uri="http://m",
            data_uri="/d.csv",
            data_fingerprint="",
            model_name="M",
            experiment_name="e",
        )


def test_job_suffix_is_stable_and_changes_with_image_or_data() -> None:
    base = job_suffix("trainer:1", "f1")
    assert base == job_suffix("trainer:1", "f1")
    assert len(base) == 8
    assert len({base, job_suffix("trainer:2", "f1"), job_suffix("trainer:1", "f2")}) == 3


def test_a_dask_cluster_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker, got 0"):
        DaskClusterArgs(
            namespace="ns",
            namespace_name="ns",
            image="i:1",
            pull_policy="Never",
            workers=0,
            worker_resources=pod.Resources(),
            client_selector={"app.kubernetes.io/name": "trainer"},
        )


def test_the_scheduler_address_is_its_service_dns_name_on_the_dask_port() -> None:
    assert scheduler_address("p-dask-scheduler", "ns") == (
        "tcp://p-dask-scheduler.ns.svc.cluster.local:8786"
    )
