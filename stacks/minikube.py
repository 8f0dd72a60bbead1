"""The minikube target: a provider on the kubeconfig context, images already in the node."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.mlflow_server import DATA
from stacks import public
from stacks.config import MinikubeConfig
from stacks.loading import secret
from stacks.outputs import StackOutputs
from stacks.workloads import Platform
from stacks.workloads import build as build_workloads

# The trainer image carries the bundled data at this path (see services/Dockerfile, target trainer).
IMAGE_DATA = "/app/data/airline.csv"
# The Services' addresses minikube and kind give by default (the pods' are pod_network_cidr).
SERVICE_CIDR = "10.96.0.0/12"


def build(cfg: MinikubeConfig) -> StackOutputs:
    provider = k8s.Provider("minikube", context=cfg.kube_context)
    on_cluster = pulumi.ResourceOptions(provider=provider)
    workloads = build_workloads(
        cfg,
        Platform(
            opts=on_cluster,
            kubectl=f"kubectl --context {cfg.kube_context}",
            # `make minikube-images` builds straight into the node; never look for them elsewhere.
            pull_policy="Never",
            data_uri=IMAGE_DATA,
            artifacts_destination=f"{DATA}/artifacts",
            artifacts_on_volume=True,
            mlflow_database_uri=secret(cfg.mlflow_database_uri),  # None: SQLite
            monitoring_size="small",  # a laptop: one day of history, small requests
            cluster_cidrs=(str(cfg.pod_network_cidr), SERVICE_CIDR),
            api_entry=public.entry_settings(cfg, [public.nginx_peers_name(cfg)]),
            api_drain_seconds=public.drain_seconds(cfg),
        ),
    )
    return StackOutputs.of(workloads, public_url=public.minikube(cfg, workloads, on_cluster))
