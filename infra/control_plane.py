"""The EKS control plane's own identity and keys, as terraform/eks.tf and terraform/kms.tf declare
them: its IAM role, a customer-managed KMS key that encrypts Kubernetes Secrets (envelope
encryption), the control-plane logs and MLflow's database (stacks/eks_database.py), and the log
group those logs go to, with a retention.

The log group is named after the cluster and made before it: EKS would otherwise create it
itself, unencrypted and kept forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import res_name

CLUSTER_POLICY = "AmazonEKSClusterPolicy"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LOG_RETENTION_DAYS = 365
KEY_DELETION_DAYS = 7
# What the control plane does with the key (the role's inline policy).
KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
# What CloudWatch Logs does with it, for this cluster's log groups only.
LOGS_KEY_USE = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)


def log_group_name(cluster: str) -> str:
    """Where EKS writes a cluster's control-plane logs."""
    return f"/aws/eks/{cluster}/cluster"


def key_policy(account: str, partition: str, region: str, cluster: str) -> str:
    """The account administers the key (IAM policies grant its use); CloudWatch Logs may use it
    for the cluster's log groups."""
    logs = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/eks/{cluster}/*"
    statements = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncrypt",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": list(LOGS_KEY_USE),
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _service_trust(service: str, actions: tuple[str, ...]) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@dataclass(frozen=True)
class ControlPlaneArgs:
    cluster_name: str  # the EKS cluster's physical name, which the log group's name holds
    region: str
    # Kept by `pulumi destroy` when a database's final snapshot is encrypted with it: the
    # snapshot would be unreadable once the key is gone.
    retain_key: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class ControlPlane(pulumi.ComponentResource):
    """A KMS key (rotated yearly) with its alias, the log group encrypted with it, and the
    cluster's IAM role: the EKS cluster policy and the use of that key."""

    key: aws.kms.Key
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    ready: list[pulumi.Resource]  # what the cluster must wait for

    def __init__(
        self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:ControlPlane", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        account = aws.get_caller_identity_output(opts=invoke).account_id
        self.key = self._key(name, args, pulumi.Output.all(account, partition), tags, child)
        self.log_group = aws.cloudwatch.LogGroup(
            res_name(name, "logs"),
            name=log_group_name(args.cluster_name),
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=self.key.arn,
            tags=tags,
            opts=child,
        )
        self.role = aws.iam.Role(
            res_name(name, "cluster-role"),
            assume_role_policy=_service_trust(
                "eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")
            ),
            tags=tags,
            opts=child,
        )
        attached = aws.iam.RolePolicyAttachment(
            res_name(name, "cluster-policy"),
            role=self.role.name,
            policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{CLUSTER_POLICY}"),
            opts=child,
        )
        key_use = aws.iam.RolePolicy(
            res_name(name, "secrets-encryption"),
            role=self.role.id,
            policy=self.key.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": list(KEY_USE), "Resource": arn}
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.ready = [self.log_group, attached, key_use]
        self.register_outputs({"key_arn": self.key.arn, "role_arn": self.role.arn})

    @staticmethod
    def _key(
        name: str,
        args: ControlPlaneArgs,
        account_and_partition: pulumi.Output[list[str]],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.kms.Key:
        key = aws.kms.Key(
            res_name(name, "key"),
            description=f"{name}: EKS secrets, control-plane logs, MLflow's database",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_DAYS,
            policy=account_and_partition.apply(
                lambda v: key_policy(v[0], v[1], args.region, args.cluster_name)
            ),
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(retain_on_delete=args.retain_key)
            ),
        )
        aws.kms.Alias(
            res_name(name, "key"), name=f"alias/{name}", target_key_id=key.key_id, opts=child
        )
        return key
