"""The EKS target: an AWS provider for the configured region, network, cluster and bucket
through it, then the same workloads as minikube."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contract.trainer import BUNDLED_DATA
from infra.cluster import Cluster, ClusterArgs, NodeSizes
from infra.irsa import ServiceAccountRole, ServiceAccountRoleArgs
from infra.naming import PART_OF, res_name
from infra.network import Network, NetworkArgs
from infra.storage import ARTIFACTS_PREFIX, DATA_PREFIX, Storage, StorageArgs, access_policy
from stacks import public
from stacks.config import EksConfig
from stacks.eks_database import mlflow_store
from stacks.outputs import StackOutputs
from stacks.workloads import (
    MLFLOW_ACCOUNT_ROLE,
    TRAINER_ACCOUNT_ROLE,
    Platform,
    service_account,
)
from stacks.workloads import build as build_workloads

STORAGE_CLASS = "gp3"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Where EKS puts the Services when given no range: one of these two, whichever the VPC does not
# overlap (https://docs.aws.amazon.com/eks/latest/userguide/create-cluster.html).
SERVICE_CIDRS = ("10.100.0.0/16", "172.20.0.0/16")


def _aws_provider(cfg: EksConfig) -> aws.Provider:
    # Explicit rather than the default provider, so the region is an input of a resource the
    # program declares (and its tests see) and every AWS resource names the provider it uses.
    return aws.Provider(res_name(cfg.prefix, "aws"), region=cfg.region)


def _zones(cfg: EksConfig, provider: aws.Provider) -> list[str]:
    """The configured zones, or the region's first available ones."""
    if cfg.availability_zones:
        return list(cfg.availability_zones)
    names = aws.get_availability_zones(
        state="available", opts=pulumi.InvokeOptions(provider=provider)
    ).names
    if len(names) < len(cfg.public_subnet_cidrs):
        raise pulumi.RunError(
            f"region {cfg.region} offers {len(names)} zones for {len(cfg.public_subnet_cidrs)} "
            "public_subnet_cidrs; set availability_zones or fewer subnets"
        )
    return list(names[: len(cfg.public_subnet_cidrs)])


def _irsa(
    cfg: EksConfig,
    cluster: Cluster,
    storage: Storage,
    role: str,
    prefix: str,
    write: bool,
    opts: pulumi.ResourceOptions,
) -> ServiceAccountRole:
    return ServiceAccountRole(
        res_name(cfg.prefix, f"{role}-irsa"),
        ServiceAccountRoleArgs(
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            namespace=cfg.namespace,
            service_account=service_account(cfg.prefix, role),
            policy=storage.bucket_arn.apply(lambda arn: access_policy(arn, prefix, write)),
            tags=_tags(cfg),
        ),
        opts=opts,
    )


def _tags(cfg: EksConfig) -> dict[str, str]:
    return {"project": PART_OF, "stack": cfg.prefix, "managed-by": "pulumi"}


def _storage_class(provider: k8s.Provider, cluster: Cluster) -> k8s.storage.v1.StorageClass:
    # Newer EKS versions mark no class as default; the EBS CSI driver provisions this one. The
    # class waits on the driver, and the MLflow claim on the class, so `pulumi destroy` deletes
    # the claim (and its EBS volume) while the driver still runs: no orphaned volume.
    return k8s.storage.v1.StorageClass(
        STORAGE_CLASS,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS),
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true"},
        volume_binding_mode="WaitForFirstConsumer",  # in the zone of the pod that mounts it
        reclaim_policy="Delete",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[cluster.ebs_csi]),
    )


def build(cfg: EksConfig) -> StackOutputs:
    tags = _tags(cfg)
    aws_provider = _aws_provider(cfg)
    # Components pass the provider on to their children, pulumi-eks's own AWS resources included.
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})
    network = Network(
        cfg.prefix,
        NetworkArgs(
            cidr=str(cfg.vpc_cidr),
            public_subnet_cidrs=[str(c) for c in cfg.public_subnet_cidrs],
            load_balancer_subnet_cidrs=[str(c) for c in cfg.load_balancer_subnet_cidrs],
            availability_zones=_zones(cfg, aws_provider),
            tags=tags,
        ),
        opts=on_aws,
    )
    cluster = Cluster(
        cfg.prefix,
        ClusterArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids,
            kubernetes_version=cfg.kubernetes_version,
            region=cfg.region,
            instance_type=cfg.node_instance_type,
            sizes=NodeSizes(cfg.node_min_size, cfg.node_desired_size, cfg.node_max_size),
            disk_size_gib=cfg.node_disk_size_gib,
            public_access_cidrs=[str(c) for c in cfg.endpoint_public_access_cidrs],
            # The database's final snapshot is encrypted with the cluster's key: keep the key.
            retain_key=cfg.mlflow_database == "rds",
            tags=tags,
        ),
        opts=on_aws,
    )
    storage = Storage(
        cfg.prefix,
        StorageArgs(data_file=BUNDLED_DATA, force_destroy=cfg.bucket_force_destroy, tags=tags),
        opts=on_aws,
    )
    mlflow_role = _irsa(
        cfg, cluster, storage, MLFLOW_ACCOUNT_ROLE, ARTIFACTS_PREFIX, write=True, opts=on_aws
    )
    trainer_role = _irsa(
        cfg, cluster, storage, TRAINER_ACCOUNT_ROLE, DATA_PREFIX, write=False, opts=on_aws
    )
    store = mlflow_store(cfg, network, cluster, aws_provider, tags)
    provider = k8s.Provider(
        res_name(cfg.prefix, "eks"),
        kubeconfig=cluster.kubeconfig,
        opts=pulumi.ResourceOptions(depends_on=[cluster.node_group]),
    )
    storage_class = _storage_class(provider, cluster)
    workloads = build_workloads(
        cfg,
        Platform(
            opts=pulumi.ResourceOptions(provider=provider),
            kubectl="kubectl",  # after `pulumi stack output kubeconfig --show-secrets > kubeconfig`
            pull_policy="IfNotPresent",
            data_uri=storage.data_uri,
            # Through MLflow's artifact proxy, so only the server's account holds S3 rights.
            artifacts_destination=storage.artifacts_uri,
            artifacts_on_volume=False,
            mlflow_database_uri=store.uri,
            monitoring_size="standard",  # 15 days of history on nodes sized for it
            # Pods take VPC addresses (the VPC CNI), beside the nodes, the control plane's
            # interfaces and the load balancer: the whole VPC is the cluster's.
            cluster_cidrs=(str(cfg.vpc_cidr), *SERVICE_CIDRS),
            storage_class=storage_class.metadata.name,
            mlflow_annotations={IRSA_ANNOTATION: mlflow_role.arn},
            trainer_annotations={IRSA_ANNOTATION: trainer_role.arn},
            # The ALB's own subnets: no node or pod has an address there to forge the header.
            api_entry=public.entry_settings(cfg, cfg.load_balancer_subnet_cidrs),
            api_drain_seconds=public.drain_seconds(cfg),
        ),
    )
    both = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": provider})
    public_url = public.eks(cfg, workloads, cluster, network, both, tags)
    return StackOutputs.of(
        workloads,
        bucket_name=storage.bucket_name,
        kubeconfig=cluster.kubeconfig,
        public_url=public_url,
        mlflow_database_endpoint=store.endpoint,
    )
