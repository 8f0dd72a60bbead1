"""The EKS stack's own security settings (issue 36) under mocks: nodes answer metadata requests
within one hop, the VPC CNI enforces NetworkPolicies, Kubernetes Secrets are encrypted with a
customer-managed key, and the control-plane logs go to a log group with a retention. Terraform
declares the same (tests/terraform/security_facts.py compares both)."""

from __future__ import annotations

import json

from k8s.harness import ACCOUNT, Graph, Recorded, eks

from infra.control_plane import KEY_USE, LOG_RETENTION_DAYS, LOG_TYPES


def graph() -> Graph:
    return eks()


def arn(resource: Recorded) -> str:
    """The ARN the mocks give an AWS resource."""
    return f"arn:aws:{resource.typ.split(':')[1].split('/')[0]}::{ACCOUNT}:{resource.name}"


def waits_for(cluster: Recorded, other: Recorded) -> bool:
    return any(urn.endswith(f"::{other.name}") for urn in graph().dependencies_of(cluster))


def test_nodes_answer_metadata_requests_within_one_hop_so_pods_get_no_node_credentials() -> None:
    options = graph().one("aws:ec2/launchTemplate:LaunchTemplate").inputs["metadataOptions"]
    assert options == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }


def test_the_vpc_cni_enforces_network_policies() -> None:
    cluster = graph().one("eks:index:Cluster").inputs
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    assert not cluster.get("useDefaultVpcCni")  # the add-on pulumi-eks manages, configured


def test_secrets_are_encrypted_with_a_rotated_key_the_cluster_role_may_use() -> None:
    g = graph()
    cluster = g.one("eks:index:Cluster")
    key = g.one("aws:kms/key:Key")
    assert cluster.inputs["encryptionConfigKeyArn"] == arn(key)
    assert key.inputs["enableKeyRotation"] is True
    role = g.one("aws:iam/role:Role", lambda r: "eks.amazonaws.com" in r.inputs["assumeRolePolicy"])
    assert cluster.inputs["serviceRole"] == f"{role.name}-id"
    key_use = g.one(
        "aws:iam/rolePolicy:RolePolicy", lambda p: p.inputs["role"] == f"{role.name}-id"
    )
    statements = json.loads(key_use.inputs["policy"])["Statement"]
    assert statements == [{"Effect": "Allow", "Action": list(KEY_USE), "Resource": arn(key)}]
    assert waits_for(cluster, key_use)  # the role may use the key before the first Secret


def test_control_plane_logs_go_to_an_encrypted_log_group_with_retention_made_first() -> None:
    g = graph()
    cluster = g.one("eks:index:Cluster")
    logs = g.one("aws:cloudwatch/logGroup:LogGroup")
    assert cluster.inputs["enabledClusterLogTypes"] == list(LOG_TYPES)
    # EKS writes to /aws/eks/<cluster>/cluster: named so, and made before the cluster, it is
    # the group EKS uses rather than one it makes itself, unencrypted and kept forever.
    assert logs.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    assert waits_for(cluster, logs)
    assert logs.inputs["retentionInDays"] == LOG_RETENTION_DAYS
    assert logs.inputs["kmsKeyId"] == arn(g.one("aws:kms/key:Key"))


def test_the_key_lets_cloudwatch_logs_use_it_for_this_cluster_only() -> None:
    g = graph()
    cluster_name = g.one("eks:index:Cluster").inputs["name"]
    statements = json.loads(g.one("aws:kms/key:Key").inputs["policy"])["Statement"]
    (logs,) = [s for s in statements if "Service" in s["Principal"]]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    (scope,) = logs["Condition"]["ArnLike"].values()
    assert scope.endswith(f":log-group:/aws/eks/{cluster_name}/*")
