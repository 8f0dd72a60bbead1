"""MLflow's store on the eks target: with `mlflow_database: rds` a PostgreSQL on RDS (encrypted with
the stack's KMS key, admitted only from the cluster's nodes), with `external` the configured URI,
with `sqlite` none (SQLite on MLflow's volume)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.cluster import Cluster
from infra.database import Database, DatabaseArgs
from infra.network import Network
from stacks.config import EksConfig
from stacks.loading import secret

# EKS tags the cluster security group it creates with this key (AWS reserves `aws:` tags, so no
# other group has it). Managed nodes whose launch template names no group get that group, and
# infra/cluster.py's names none: it is what every node, and each pod on it, sends from.
CLUSTER_GROUP_TAG = "aws:eks:cluster-name"


@dataclass(frozen=True)
class MlflowStore:
    uri: pulumi.Input[str] | None  # what MLflow's pods get; None for SQLite on the volume
    endpoint: pulumi.Output[str] | None = None  # the RDS instance's host:port, exported


def node_security_group(
    network: Network, cluster: Cluster, provider: aws.Provider
) -> pulumi.Output[str]:
    """The cluster security group EKS made, looked up in the stack's VPC once the cluster exists
    (pulumi-eks exposes it only as part of a resource reference)."""
    found = aws.ec2.get_security_group_output(
        vpc_id=network.vpc_id,
        filters=[aws.ec2.GetSecurityGroupFilterArgs(name="tag-key", values=[CLUSTER_GROUP_TAG])],
        opts=pulumi.InvokeOutputOptions(provider=provider, depends_on=[cluster.cluster]),
    )
    return found.id


def mlflow_store(
    cfg: EksConfig,
    network: Network,
    cluster: Cluster,
    provider: aws.Provider,
    tags: Mapping[str, str],
) -> MlflowStore:
    if cfg.mlflow_database != "rds":
        return MlflowStore(uri=secret(cfg.mlflow_database_uri))  # None for sqlite
    on_aws = pulumi.ResourceOptions(providers={"aws": provider})
    database = Database(
        cfg.prefix,
        DatabaseArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids,
            client_security_group_id=node_security_group(network, cluster, provider),
            kms_key_arn=cluster.key_arn,
            instance_class=cfg.mlflow_database_instance_class,
            storage_gib=cfg.mlflow_database_storage_gib,
            multi_az=cfg.mlflow_database_multi_az,
            backup_retention_days=cfg.mlflow_database_backup_retention_days,
            deletion_protection=cfg.mlflow_database_deletion_protection,
            snapshot=cfg.mlflow_database_snapshot,
            tags=tags,
        ),
        opts=on_aws,
    )
    return MlflowStore(uri=database.uri, endpoint=database.endpoint)
