"""MLflow's PostgreSQL on RDS: encrypted with the stack's key, reachable only from the cluster's
nodes, backed up, and kept on `pulumi destroy` as a final snapshot."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.naming import res_name

# The major version; RDS picks its newest minor and applies minor upgrades in the maintenance
# window. The tests run MLflow on Debian bookworm's PostgreSQL 15, the same SQL.
ENGINE_VERSION = "16"
PORT = 5432
DATABASE = "mlflow"
USERNAME = "mlflow"
# TLS only (the URI asks for it too); statements over a second and every schema change are
# logged to CloudWatch, where the `postgresql` log export sends them.
PARAMETERS = {"rds.force_ssl": "1", "log_min_duration_statement": "1000", "log_statement": "ddl"}
LOG_EXPORTS = ("postgresql", "upgrade")
MAX_STORAGE_GIB = 100  # storage grows by itself up to this, so a full disk never stops MLflow
INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class DatabaseArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    client_security_group_id: pulumi.Input[str]  # the only group admitted: the cluster's nodes
    kms_key_arn: pulumi.Input[str]
    instance_class: str = "db.t4g.small"
    storage_gib: int = 20
    multi_az: bool = False
    backup_retention_days: int = 7
    deletion_protection: bool = True
    snapshot: str = ""  # a snapshot identifier or ARN to restore from; empty for a new database
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not INSTANCE_CLASS.match(self.instance_class):
            raise ValueError(f"'{self.instance_class}' is not an RDS instance class")
        if not 20 <= self.storage_gib <= MAX_STORAGE_GIB:
            raise ValueError(f"storage_gib must be 20 (gp3's least) to {MAX_STORAGE_GIB}")
        if not 1 <= self.backup_retention_days <= 35:
            raise ValueError("backup_retention_days must be 1 to 35: RDS keeps at most 35")


class Database(pulumi.ComponentResource):
    """DB subnet group over the given subnets; a security group admitting only the client group
    on 5432 (and nothing out); a parameter group (TLS only, slow statements logged); a generated
    password; the PostgreSQL instance (encrypted, private, automated backups, deletion
    protection, a final snapshot, logs to CloudWatch). `uri`, a Pulumi secret, is how MLflow
    connects: over TLS, with the generated password."""

    instance: aws.rds.Instance
    endpoint: pulumi.Output[str]  # host:port
    uri: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._tags = res_name(name, "mlflow-db"), dict(args.tags)
        password = random.RandomPassword(
            self._name + "-password", length=32, special=False, opts=child
        )
        # A suffix of its own, so a second `pulumi destroy` never collides with the first's.
        final = random.RandomId(self._name + "-final-snapshot", byte_length=4, opts=child)
        self.instance = aws.rds.Instance(
            self._name,
            engine="postgres",
            engine_version=ENGINE_VERSION,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gib,
            max_allocated_storage=MAX_STORAGE_GIB,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=DATABASE,
            username=USERNAME,
            password=password.result,
            port=PORT,
            db_subnet_group_name=self._subnet_group(args, child).name,
            vpc_security_group_ids=[self._security_group(args, child).id],
            parameter_group_name=self._parameters(child).name,
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=final.hex.apply(lambda h: f"{self._name}-final-{h}"),
            snapshot_identifier=args.snapshot or None,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            tags=self._tags,
            opts=child,
        )
        self.endpoint = pulumi.Output.concat(self.instance.address, ":", str(PORT))
        self.uri = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@{2}:{3}/{4}?sslmode=require",
                USERNAME,
                password.result,
                self.instance.address,
                PORT,
                DATABASE,
            )
        )
        self.register_outputs({"endpoint": self.endpoint, "uri": self.uri})

    def _subnet_group(
        self, args: DatabaseArgs, child: pulumi.ResourceOptions
    ) -> aws.rds.SubnetGroup:
        return aws.rds.SubnetGroup(
            self._name,
            description="MLflow's database: the VPC's subnets",
            subnet_ids=args.subnet_ids,
            tags=self._tags,
            opts=child,
        )

    def _security_group(
        self, args: DatabaseArgs, child: pulumi.ResourceOptions
    ) -> aws.ec2.SecurityGroup:
        # No egress rule: the provider removes AWS's default allow-all, and a database answers
        # on the connections it accepted without one.
        group = aws.ec2.SecurityGroup(
            self._name,
            description="MLflow's database: PostgreSQL from the cluster's nodes only",
            vpc_id=args.vpc_id,
            tags={**self._tags, "Name": self._name},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            self._name + "-from-nodes",
            security_group_id=group.id,
            referenced_security_group_id=args.client_security_group_id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            description="PostgreSQL from the cluster's nodes and their pods",
            tags=self._tags,
            opts=child,
        )
        return group

    def _parameters(self, child: pulumi.ResourceOptions) -> aws.rds.ParameterGroup:
        return aws.rds.ParameterGroup(
            self._name,
            family=f"postgres{ENGINE_VERSION}",
            description="MLflow's database: TLS only, slow statements and DDL logged",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name=k, value=v) for k, v in PARAMETERS.items()
            ],
            tags=self._tags,
            opts=child,
        )
