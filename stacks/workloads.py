"""The workload set both targets deploy: namespace, MLflow, trainer, API (and monitoring).

The targets differ only in the `Platform` they hand over: how images are pulled, where the data
and artifacts live, and which IAM roles the service accounts carry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_random as random

from contract.api import API, API_PORT, PROD_ALIAS, ApiEnv
from contract.tracking import TRACKING, TRACKING_PORT
from contract.trainer import BUNDLED_DATA, TRAINER, TrainEnv
from infra import dask_cluster, mlflow_server, netpol
from infra import trainer as trainer_pod
from infra.dask_cluster import DaskCluster, DaskClusterArgs
from infra.mlflow_server import MlflowServer, MlflowServerArgs
from infra.namespace import Namespace, NamespaceArgs
from infra.naming import res_name, selector_labels
from infra.prometheus_stack import NAMESPACE as MONITORING_NAMESPACE
from infra.prometheus_stack import Monitoring, MonitoringArgs, Size
from infra.serving import SERVICE_PORT, Serving, ServingArgs
from infra.tracking_auth import TrackingAuth, TrackingAuthArgs
from infra.trainer import Trainer, TrainerArgs
from stacks.config import StackConfig
from stacks.loading import secret

GRAFANA_LOCAL_PORT = 3000


@dataclass(frozen=True)
class Platform:
    """What the target provides to the workloads."""

    opts: pulumi.ResourceOptions  # carries the Kubernetes provider
    kubectl: str  # the kubectl prefix for the printed port-forward commands
    pull_policy: str
    data_uri: pulumi.Input[str]
    artifacts_destination: pulumi.Input[str]
    artifacts_on_volume: bool
    # MLflow's PostgreSQL (a secret: it holds the password); None for SQLite on its volume.
    mlflow_database_uri: pulumi.Input[str] | None
    # No default: each target says how big its monitoring is (a default once gave EKS the
    # laptop's one day of Prometheus history).
    monitoring_size: Size
    # The cluster's own addresses (pods, nodes, Services): egress to the internet excludes them,
    # so that it opens nothing inside. No default: each target knows its own.
    cluster_cidrs: tuple[str, ...]
    storage_class: pulumi.Input[str] | None = None
    mlflow_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    trainer_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # What a public entry in front of the API asks of it (stacks/public.py): its settings (no
    # field set without one) and draining.
    api_entry: ApiEnv = field(default_factory=ApiEnv)
    api_drain_seconds: int = 0


@dataclass(frozen=True)
class Workloads:
    namespace: pulumi.Output[str]
    mlflow_service: pulumi.Output[str]
    api_service: pulumi.Output[str]
    trainer_job: pulumi.Output[str]
    port_forward_api: pulumi.Output[str]
    port_forward_mlflow: pulumi.Output[str]
    port_forward_grafana: pulumi.Output[str] | None = None
    grafana_admin_password: pulumi.Output[str] | None = None


def service_account(prefix: str, role: str) -> str:
    """The Kubernetes name of a workload's service account, which IRSA trust policies bind to."""
    return res_name(prefix, role)


MLFLOW_ACCOUNT_ROLE = TRACKING.name
TRAINER_ACCOUNT_ROLE = TRAINER.name


def data_fingerprint(path: Path = BUNDLED_DATA) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _port_forward(
    kubectl: str, namespace: str, service: pulumi.Output[str], local: int, remote: int
) -> pulumi.Output[str]:
    return service.apply(
        lambda name: f"{kubectl} -n {namespace} port-forward svc/{name} {local}:{remote}"
    )


def build(cfg: StackConfig, platform: Platform) -> Workloads:
    ns = Namespace(cfg.prefix, NamespaceArgs(name=cfg.namespace), opts=platform.opts)
    scoped = pulumi.ResourceOptions.merge(platform.opts, pulumi.ResourceOptions(depends_on=[ns]))
    # HTTPS beyond the cluster: S3, STS for IRSA, and https:// data sources.
    internet = netpol.Rule((netpol.beyond(platform.cluster_cidrs),), (netpol.HTTPS_PORT,))
    auth = _tracking_auth(cfg, ns.name, scoped)
    mlflow = MlflowServer(
        cfg.prefix,
        MlflowServerArgs(
            namespace=ns.name,
            namespace_name=cfg.namespace,
            image=cfg.mlflow_image,
            pull_policy=platform.pull_policy,
            artifacts_destination=platform.artifacts_destination,
            artifacts_on_volume=platform.artifacts_on_volume,
            database_uri=platform.mlflow_database_uri,
            replicas=cfg.mlflow_replicas,
            storage_size=cfg.mlflow_storage_size,
            storage_class=platform.storage_class,
            service_account_annotations=platform.mlflow_annotations,
            client_selectors=(
                selector_labels(API.name, "serving"),
                selector_labels(TRAINER.name, "training"),
            ),
            egress=(internet,),
            auth_env=auth.server_env,
        ),
        opts=scoped,
    )
    dask = _dask_cluster(cfg, platform, ns.name, scoped)
    trainer = Trainer(
        cfg.prefix,
        TrainerArgs(
            namespace=ns.name,
            image=cfg.trainer_image,
            pull_policy=platform.pull_policy,
            tracking_uri=mlflow.url,
            data_uri=platform.data_uri,
            data_fingerprint=data_fingerprint(),
            model_name=cfg.model_name,
            experiment_name=cfg.experiment_name,
            schedule=cfg.trainer_schedule,
            score_schedule=cfg.score_cron,
            settings=TrainEnv(
                promotion=cfg.promotion,
                min_realised_points=cfg.min_realised_points,
                promotion_significance=cfg.promotion_significance,
            ),
            service_account_annotations=platform.trainer_annotations,
            dask_scheduler_address=dask.address if dask else None,
            egress=(mlflow_server.reach(), internet, *(dask_cluster.reach() if dask else ())),
            credentials_env=auth.writer_env,
        ),
        # With a Dask cluster, training starts once its workers are up.
        opts=pulumi.ResourceOptions.merge(
            scoped,
            pulumi.ResourceOptions(
                depends_on=[mlflow.deployment, *([dask.workers] if dask else [])]
            ),
        ),
    )
    # After the first training: the API is ready only once `@prod` exists.
    serving = Serving(
        cfg.prefix,
        ServingArgs(
            namespace=ns.name,
            image=cfg.api_image,
            pull_policy=platform.pull_policy,
            env=ApiEnv(
                mlflow_tracking_uri=mlflow.url, model_name=cfg.model_name, model_alias=PROD_ALIAS
            )
            | platform.api_entry,
            min_replicas=cfg.api_min_replicas,
            max_replicas=cfg.api_max_replicas,
            api_token=secret(cfg.api_token),
            drain_seconds=platform.api_drain_seconds,
            clients=_scrapers(cfg),
            egress=(mlflow_server.reach(),),
            credentials_env=auth.reader_env,
        ),
        opts=pulumi.ResourceOptions.merge(scoped, pulumi.ResourceOptions(depends_on=[trainer.job])),
    )
    monitoring = _monitoring(cfg, platform, ns.name)
    return Workloads(
        namespace=ns.name,
        mlflow_service=mlflow.service_name,
        api_service=serving.service_name,
        trainer_job=trainer.job_name,
        port_forward_api=_port_forward(
            platform.kubectl, cfg.namespace, serving.service_name, API_PORT, SERVICE_PORT
        ),
        port_forward_mlflow=_port_forward(
            platform.kubectl,
            cfg.namespace,
            mlflow.service_name,
            TRACKING_PORT,
            TRACKING_PORT,
        ),
        **monitoring,
    )


def _dask_cluster(
    cfg: StackConfig,
    platform: Platform,
    namespace: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> DaskCluster | None:
    """A scheduler and `trainer_workers` workers for the trainer; none (and nothing declared)
    at 0, where the trainer fits in its own process pool."""
    if cfg.trainer_workers == 0:
        return None
    return DaskCluster(
        cfg.prefix,
        DaskClusterArgs(
            namespace=namespace,
            namespace_name=cfg.namespace,
            image=cfg.trainer_image,
            pull_policy=platform.pull_policy,
            workers=cfg.trainer_workers,
            worker_resources=trainer_pod.RESOURCES,
            client_selector=selector_labels(TRAINER.name, "training"),
        ),
        opts=opts,
    )


def _scrapers(cfg: StackConfig) -> tuple[netpol.Peer, ...]:
    """Prometheus's namespace, which scrapes the API, when monitoring is on."""
    return (netpol.namespace(MONITORING_NAMESPACE),) if cfg.monitoring_enabled else ()


def _generated(prefix: str, role: str, length: int = 32) -> pulumi.Output[str]:
    """A password made once and kept in the stack's state, as a secret."""
    password = random.RandomPassword(res_name(prefix, role), length=length, special=False)
    return pulumi.Output.secret(password.result)


def _tracking_auth(
    cfg: StackConfig, namespace: pulumi.Output[str], opts: pulumi.ResourceOptions
) -> TrackingAuth:
    """MLflow's admin, writer and reader, with generated passwords, in Secrets."""
    return TrackingAuth(
        cfg.prefix,
        TrackingAuthArgs(
            namespace=namespace,
            admin_password=_generated(cfg.prefix, "mlflow-admin"),
            secret_key=_generated(cfg.prefix, "mlflow-secret-key"),
            writer_password=_generated(cfg.prefix, "mlflow-writer"),
            reader_password=_generated(cfg.prefix, "mlflow-reader"),
            reader_model=cfg.model_name,
        ),
        opts=opts,
    )


def _grafana_password(cfg: StackConfig) -> pulumi.Output[str]:
    """The configured secret, or a generated one kept in state (exported as a secret)."""
    configured = secret(cfg.grafana_admin_password)
    if configured is not None:
        return configured
    return _generated(cfg.prefix, "grafana-admin", length=24)


def _monitoring(
    cfg: StackConfig, platform: Platform, namespace: pulumi.Output[str]
) -> dict[str, pulumi.Output[str]]:
    """kube-prometheus-stack, the API's ServiceMonitor, dashboards and alerts, when enabled."""
    if not cfg.monitoring_enabled:
        return {}
    password = _grafana_password(cfg)
    monitoring = Monitoring(
        cfg.prefix,
        MonitoringArgs(
            grafana_admin_password=password,
            api_namespace=namespace,
            chart_version=cfg.monitoring_chart_version,
            size=platform.monitoring_size,
            forecast_degradation_ratio=cfg.forecast_degradation_ratio,
            score_max_age_seconds=cfg.score_max_age_hours * 3600,
        ),
        opts=platform.opts,
    )
    forward = pulumi.Output.all(monitoring.namespace, monitoring.grafana_service).apply(
        lambda v: f"{platform.kubectl} -n {v[0]} port-forward svc/{v[1]} {GRAFANA_LOCAL_PORT}:80"
    )
    return {"port_forward_grafana": forward, "grafana_admin_password": password}
