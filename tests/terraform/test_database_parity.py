"""MLflow's database on both sides: terraform/rds.tf and the Pulumi eks stack (infra/database.py)
declare the same RDS PostgreSQL, subnet group, security group, parameters, backups and outputs,
from their defaults and from the values they ship (the `SOURCES` of test_parity.py); with
`mlflow_database` other than rds, neither declares one."""

from __future__ import annotations

from typing import Any

import pytest
from k8s.harness import (
    CLUSTER_SECURITY_GROUP,
    EKS_SETTINGS,
    Graph,
    Recorded,
    run_program,
    subnet_ids,
)

from terraform.hcl import Terraform
from terraform.test_parity import SIDES, SOURCES, pulumi_graph, terraform_module

DATABASE_FACTS = (
    "engine",
    "instance",
    "encryption",
    "network",
    "clients",
    "backups",
    "multi_az",
    "parameters",
    "password",
    "logs",
)
# Both sides' names for what only AWS knows.
STACK_KEY, NODES_GROUP = "<the stack's KMS key>", "<EKS's cluster group>"
NODE_SUBNETS = "<the node subnets>"  # never the load balancer's
TF_NODES_GROUP = "${aws_eks_cluster.this.vpc_config[0].cluster_security_group_id}"


def _pulumi_clients(graph: Graph, group: Recorded) -> list[Any]:
    (rule,) = graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    (lookup,) = [c for c in graph.calls if c.token == "aws:ec2/getSecurityGroup:getSecurityGroup"]
    assert lookup.args["filters"] == [{"name": "tag-key", "values": ["aws:eks:cluster-name"]}]
    assert rule.inputs["securityGroupId"] == f"{group.name}-id"
    source = rule.inputs["referencedSecurityGroupId"]
    ports = [rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]]
    return [*ports, NODES_GROUP if source == CLUSTER_SECURITY_GROUP else source]


def pulumi_database(graph: Graph) -> dict[str, Any]:
    db = graph.one("aws:rds/instance:Instance").inputs
    (key,) = graph.of_type("aws:kms/key:Key")
    group = graph.one("aws:ec2/securityGroup:SecurityGroup")
    subnets = graph.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    parameters = graph.one("aws:rds/parameterGroup:ParameterGroup").inputs
    password = graph.one(
        "random:index/randomPassword:RandomPassword",
        lambda r: r.name == "mlstack-mlflow-db-password",
    )
    return {
        "engine": [db["engine"], db["engineVersion"], db["port"], db["dbName"], db["username"]],
        "instance": [
            db["instanceClass"],
            db["allocatedStorage"],
            db["maxAllocatedStorage"],
            db["storageType"],
        ],
        "encryption": [
            db["storageEncrypted"],
            STACK_KEY if db["kmsKeyId"].endswith(f":{key.name}") else db["kmsKeyId"],
            key.inputs["enableKeyRotation"],
        ],
        "network": [
            db["publiclyAccessible"],
            NODE_SUBNETS if sorted(subnets) == sorted(subnet_ids(graph)) else subnets,
            "egress" in group.inputs,
        ],
        "clients": _pulumi_clients(graph, group),
        "backups": [
            db["backupRetentionPeriod"],
            db["deletionProtection"],
            db["skipFinalSnapshot"],
            db["finalSnapshotIdentifier"].rsplit("-", 1)[0],
            db["copyTagsToSnapshot"],
            db["autoMinorVersionUpgrade"],
        ],
        "multi_az": db["multiAz"],
        "parameters": [
            parameters["family"],
            {p["name"]: p["value"] for p in parameters["parameters"]},
        ],
        "password": [password.inputs["length"], password.inputs["special"]],
        "logs": db["enabledCloudwatchLogsExports"],
    }


def terraform_database(tf: Terraform) -> dict[str, Any]:
    db = tf.resource("aws_db_instance", "mlflow")
    group = tf.resource("aws_security_group", "mlflow_db")
    rule = tf.resource("aws_vpc_security_group_ingress_rule", "mlflow_db_from_nodes")
    subnets = tf.resource("aws_db_subnet_group", "mlflow")["subnet_ids"][0]
    parameters = tf.resource("aws_db_parameter_group", "mlflow")
    password = tf.resource("random_password", "mlflow_db")
    assert db["password"] == ["${random_password.mlflow_db[0].result}"]
    assert rule["security_group_id"] == ["${aws_security_group.mlflow_db[0].id}"]
    assert db["vpc_security_group_ids"] == [["${aws_security_group.mlflow_db[0].id}"]]
    final = db["final_snapshot_identifier"][0]
    assert final.endswith("-${random_id.mlflow_db_final_snapshot[0].hex}")
    source = rule["referenced_security_group_id"][0]
    return {
        "engine": [
            *(db[k][0] for k in ("engine", "engine_version", "port", "db_name", "username")),
        ],
        "instance": [
            *(
                db[k][0]
                for k in (
                    "instance_class",
                    "allocated_storage",
                    "max_allocated_storage",
                    "storage_type",
                )
            )
        ],
        "encryption": [
            db["storage_encrypted"][0],
            STACK_KEY if db["kms_key_id"] == ["${aws_kms_key.this.arn}"] else db["kms_key_id"],
            tf.resource("aws_kms_key", "this")["enable_key_rotation"][0],
        ],
        "network": [
            db["publicly_accessible"][0],
            NODE_SUBNETS if subnets == "${[for s in aws_subnet.public : s.id]}" else subnets,
            "egress" in group,
        ],
        "clients": [
            rule["ip_protocol"][0],
            rule["from_port"][0],
            rule["to_port"][0],
            NODES_GROUP if source == TF_NODES_GROUP else source,
        ],
        "backups": [
            db["backup_retention_period"][0],
            db["deletion_protection"][0],
            db["skip_final_snapshot"][0],
            final.rsplit("-", 1)[0],
            db["copy_tags_to_snapshot"][0],
            db["auto_minor_version_upgrade"][0],
        ],
        "multi_az": db["multi_az"][0],
        "parameters": [
            parameters["family"][0],
            {p["name"][0]: p["value"][0] for p in parameters["parameter"]},
        ],
        "password": [password["length"][0], password["special"][0]],
        "logs": db["enabled_cloudwatch_logs_exports"][0],
    }


@pytest.mark.parametrize("fact", DATABASE_FACTS)
@pytest.mark.parametrize("source", SOURCES)
def test_terraform_and_the_pulumi_eks_stack_declare_the_same_database(
    source: str, fact: str
) -> None:
    terraform = terraform_database(terraform_module(source))[fact]
    pulumi = pulumi_database(pulumi_graph(source))[fact]
    terraform_name, pulumi_name = SIDES[source]
    assert terraform == pulumi, (
        f"database {fact} differs: {terraform_name} has {terraform!r}; {pulumi_name} has "
        f"{pulumi!r}. Change the other side to match."
    )


def test_both_sides_make_the_database_only_with_rds() -> None:
    tf = Terraform()
    for typ, name in (
        ("aws_db_instance", "mlflow"),
        ("aws_db_subnet_group", "mlflow"),
        ("aws_security_group", "mlflow_db"),
        ("aws_vpc_security_group_ingress_rule", "mlflow_db_from_nodes"),
        ("aws_db_parameter_group", "mlflow"),
        ("random_password", "mlflow_db"),
        ("random_id", "mlflow_db_final_snapshot"),
    ):
        assert tf.raw(typ, name)["count"] == ["${local.mlflow_db.count}"], f"{typ}.{name}"
    assert tf.locals["mlflow_db"]["count"] == '${var.mlflow_database == "rds" ? 1 : 0}'
    assert tf.values["mlflow_database"] == "rds"
    on_sqlite = run_program("eks", {**EKS_SETTINGS, "mlflow_database": "sqlite"})
    assert not [
        r for r in on_sqlite.resources if r.typ.startswith(("aws:rds", "random:index/randomId"))
    ]


def test_a_changed_database_setting_on_one_side_is_reported() -> None:
    changed = pulumi_database(
        run_program("eks", {**EKS_SETTINGS, "mlflow_database_multi_az": True})
    )
    shipped = terraform_database(terraform_module("shipped"))
    assert [f for f in DATABASE_FACTS if changed[f] != shipped[f]] == ["multi_az"]
