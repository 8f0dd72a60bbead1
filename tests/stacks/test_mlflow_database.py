"""MLflow's store on each target, from the stack files under mocks: on eks an RDS PostgreSQL by
default behind a replicated MLflow; SQLite (one server on a volume) or an external PostgreSQL on
request; minikube on SQLite unless told otherwise."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from k8s.harness import (
    CLUSTER_SECURITY_GROUP,
    EKS_SETTINGS,
    RDS_ADDRESS,
    Graph,
    Recorded,
    containers,
    eks,
    env_of,
    is_secret,
    minikube,
    program,
    subnet_ids,
    unsecret,
)

from contract.tracking import BACKEND_STORE_ENV
from infra.mlflow_server import URI_CHECKSUM
from infra.replicas import ZONE

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INSTANCE = "aws:rds/instance:Instance"
EXTERNAL = "postgresql://mlflow:pw@db.example:5432/mlflow"
SECRET_REF = {"secretKeyRef": {"name": "mlstack-mlflow-db", "key": "uri"}}
SECRET = "kubernetes:core/v1:Secret"


def database_secret(resource: Recorded) -> bool:
    """The database URI's Secret, not one of MLflow's users'."""
    return resource.name == "mlstack-mlflow-db"


def mlflow(graph: Graph) -> dict[str, Any]:
    return graph.one(DEPLOYMENT, lambda r: r.name == "mlstack-mlflow").manifest


def pod(graph: Graph) -> dict[str, Any]:
    return dict(mlflow(graph)["spec"]["template"]["spec"])


def instance(graph: Graph) -> Recorded:
    return graph.one(INSTANCE)


def on_sqlite() -> Graph:
    return program("eks", {**EKS_SETTINGS, "mlflow_database": "sqlite"})


def test_eks_declares_a_private_encrypted_postgresql_on_rds_by_default() -> None:
    graph = eks()
    db = instance(graph).inputs
    assert (db["engine"], db["engineVersion"], db["port"]) == ("postgres", "16", 5432)
    assert db["publiclyAccessible"] is False
    assert db["storageEncrypted"] is True
    # The stack's one key (the cluster's secrets and logs too), kept by `pulumi destroy`: the
    # final snapshot is encrypted with it.
    (key,) = graph.of_type("aws:kms/key:Key")
    assert db["kmsKeyId"] == f"arn:aws:kms::123456789012:{key.name}"
    assert key.inputs["enableKeyRotation"] is True
    assert (key.typ, key.name) in graph.retained
    assert (db["instanceClass"], db["allocatedStorage"], db["storageType"]) == (
        "db.t4g.small",
        20,
        "gp3",
    )
    assert db["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]


def test_the_database_lives_in_the_node_subnets_behind_a_group_for_the_nodes_only() -> None:
    graph = eks()
    group = graph.one("aws:rds/subnetGroup:SubnetGroup")
    # The nodes' subnets, never the load balancer's.
    assert group.inputs["subnetIds"] == subnet_ids(graph)
    db = instance(graph).inputs
    assert db["dbSubnetGroupName"] == group.name
    (security,) = graph.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert db["vpcSecurityGroupIds"] == [f"{security.name}-id"]
    assert "ingress" not in security.inputs and "egress" not in security.inputs
    (rule,) = graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["securityGroupId"] == f"{security.name}-id"
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        "tcp",
        5432,
        5432,
    )
    assert rule.inputs["referencedSecurityGroupId"] == CLUSTER_SECURITY_GROUP
    assert "cidrIpv4" not in rule.inputs  # no address range: only the nodes' group
    assert graph.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") == []


def test_the_nodes_group_is_the_one_eks_made_in_the_stack_vpc_looked_up_after_the_cluster() -> None:
    graph = eks()
    (lookup,) = [c for c in graph.calls if c.token == "aws:ec2/getSecurityGroup:getSecurityGroup"]
    (vpc,) = graph.of_type("aws:ec2/vpc:Vpc")
    assert lookup.args["vpcId"] == f"{vpc.name}-id"
    assert lookup.args["filters"] == [{"name": "tag-key", "values": ["aws:eks:cluster-name"]}]
    assert graph.provider(lookup.provider).name == graph.one("pulumi:providers:aws").name


def test_backups_deletion_protection_and_a_final_snapshot_by_default() -> None:
    db = instance(eks()).inputs
    assert db["backupRetentionPeriod"] == 7
    assert db["deletionProtection"] is True
    assert db["skipFinalSnapshot"] is False
    assert db["finalSnapshotIdentifier"] == "mlstack-mlflow-db-final-0a1b2c3d"
    assert db["copyTagsToSnapshot"] is True
    assert "snapshotIdentifier" not in db
    assert db["multiAz"] is False


def test_multi_az_retention_class_and_restoring_from_a_snapshot_are_settings() -> None:
    settings = {
        "mlflow_database_multi_az": True,
        "mlflow_database_backup_retention_days": 14,
        "mlflow_database_instance_class": "db.t4g.medium",
        "mlflow_database_storage_gib": 50,
        "mlflow_database_deletion_protection": False,
        "mlflow_database_snapshot": "mlstack-mlflow-db-final-0a1b2c3d",
    }
    db = instance(program("eks", {**EKS_SETTINGS, **settings})).inputs
    assert (db["multiAz"], db["backupRetentionPeriod"], db["deletionProtection"]) == (
        True,
        14,
        False,
    )
    assert (db["instanceClass"], db["allocatedStorage"]) == ("db.t4g.medium", 50)
    assert db["snapshotIdentifier"] == "mlstack-mlflow-db-final-0a1b2c3d"


def test_the_password_is_generated_and_stays_a_secret_from_rds_to_the_pod() -> None:
    graph = eks()
    password = graph.one(
        "random:index/randomPassword:RandomPassword",
        lambda r: r.name == "mlstack-mlflow-db-password",
    )
    assert password.inputs["length"] >= 32
    assert is_secret(instance(graph).inputs["password"])
    secret = graph.one(SECRET, database_secret)
    data = secret.inputs["stringData"]
    assert is_secret(data) or is_secret(data["uri"])  # in the state, encrypted
    uri = unsecret(data)["uri"]
    assert (
        uri == f"postgresql://mlflow:generated-password@{RDS_ADDRESS}:5432/mlflow?sslmode=require"
    )
    assert graph.exports["mlflow_database_endpoint"] == f"{RDS_ADDRESS}:5432"
    parameters = {
        p["name"]: p["value"]
        for p in graph.one("aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
    }
    assert parameters["rds.force_ssl"] == "1"  # and RDS refuses a connection without TLS


def test_the_uri_reaches_the_server_and_its_schema_upgrade_only_from_the_secret() -> None:
    graph = eks()
    spec = pod(graph)
    (upgrade,) = spec["initContainers"]
    (server,) = spec["containers"]
    assert upgrade["args"] == ["db-upgrade"] and upgrade["image"] == server["image"]
    for container in (upgrade, server):
        assert env_of(container)[BACKEND_STORE_ENV] == SECRET_REF
        assert "generated-password" not in str(container)
    assert "--backend-store-uri" not in server["args"]  # off the command line, where ps shows it
    secret = graph.one(SECRET, database_secret)
    deployment = graph.one(DEPLOYMENT, lambda r: r.name == "mlstack-mlflow")
    assert any(u.endswith(f"Secret::{secret.name}") for u in graph.dependencies_of(deployment))
    # The URI's digest is on the pod template: a new URI (a restored database has another
    # address) changes the template, so the pods roll and read it.
    uri = unsecret(secret.inputs["stringData"])["uri"]
    annotations = mlflow(graph)["spec"]["template"]["metadata"]["annotations"]
    assert annotations[URI_CHECKSUM] == hashlib.sha256(uri.encode()).hexdigest()


def test_mlflow_on_rds_runs_replicated_rolling_spread_over_zones_with_no_volume() -> None:
    graph = eks()
    spec = mlflow(graph)["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    zone = [c for c in pod(graph)["topologySpreadConstraints"] if c["topologyKey"] == ZONE]
    assert [(c["maxSkew"], c["whenUnsatisfiable"]) for c in zone] == [(1, "DoNotSchedule")]
    assert zone[0]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    (budget,) = [
        o
        for o in graph.of_type("kubernetes:policy/v1:PodDisruptionBudget")
        if o.name == "mlstack-mlflow"
    ]
    assert budget.manifest["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": spec["selector"]["matchLabels"]},
    }
    assert graph.of_type("kubernetes:core/v1:PersistentVolumeClaim") == []
    assert [v["name"] for v in pod(graph)["volumes"]] == ["scratch"]
    assert (
        program("eks", {**EKS_SETTINGS, "mlflow_replicas": 3})
        .one(DEPLOYMENT, lambda r: r.name == "mlstack-mlflow")
        .manifest["spec"]["replicas"]
        == 3
    )


@pytest.mark.parametrize("graph", [on_sqlite, minikube], ids=["eks-sqlite", "minikube"])
def test_sqlite_keeps_one_server_on_its_volume_and_declares_no_database(graph: Any) -> None:
    built = graph()
    spec = mlflow(built)["spec"]
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    assert "initContainers" not in pod(built) and "topologySpreadConstraints" not in pod(built)
    (server,) = containers(built, "mlflow")
    assert env_of(server)[BACKEND_STORE_ENV] == "sqlite:////data/mlflow.db"
    assert len(built.of_type("kubernetes:core/v1:PersistentVolumeClaim")) == 1
    assert [o.name for o in built.of_type("kubernetes:policy/v1:PodDisruptionBudget")] == [
        "mlstack-api"
    ]
    assert not [r for r in built.resources if r.typ.startswith("aws:rds")]
    assert not [r for r in built.retained if r[0].startswith("aws:kms")]  # no snapshot to read
    assert "mlflow_database_endpoint" not in built.exports


def test_an_external_postgresql_on_eks_is_replicated_and_declares_no_rds() -> None:
    graph = program(
        "eks", {**EKS_SETTINGS, "mlflow_database": "external"}, {"mlflow_database_uri": EXTERNAL}
    )
    assert mlflow(graph)["spec"]["replicas"] == 2
    assert unsecret(graph.one(SECRET, database_secret).inputs["stringData"]) == {"uri": EXTERNAL}
    assert not [r for r in graph.resources if r.typ.startswith("aws:rds")]


def test_an_external_postgresql_on_minikube_upgrades_first_and_keeps_one_server() -> None:
    # Artifacts stay on minikube's volume, which has one writer: one server, stopped first.
    graph = program("minikube", secrets={"mlflow_database_uri": EXTERNAL})
    spec = mlflow(graph)["spec"]
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    assert [c["name"] for c in pod(graph)["initContainers"]] == ["db-upgrade"]
    assert len(graph.of_type("kubernetes:core/v1:PersistentVolumeClaim")) == 1
