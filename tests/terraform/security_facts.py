"""The security facts both sides must agree on (issue 36): the control plane's name, role, KMS key
and logs, the VPC CNI's NetworkPolicy enforcement, and Grafana's access and admin password.

Read like `facts.py`: plain values from the Pulumi graph under mocks and from the parsed HCL. The
Terraform side's account and partition are data sources only AWS answers; they are read as the
values the mocks answer for Pulumi's lookups.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from k8s.harness import ACCOUNT, PARTITION, Graph, is_secret

from terraform.hcl import Terraform

SECURITY_FACTS = (
    "cluster_name",
    "cluster_role",
    "secrets_encryption",
    "control_plane_logs",
    "vpc_cni_network_policy",
    "grafana_access",
    "grafana_admin_password",
)
TF_LOOKUPS = {
    "${data.aws_partition.current.partition}": PARTITION,
    "${data.aws_caller_identity.current.account_id}": ACCOUNT,
}
TF_KEY = "${aws_kms_key.this.arn}"


def _looked_up(text: str) -> str:
    for reference, value in TF_LOOKUPS.items():
        text = text.replace(reference, value)
    return text


def _listed(value: Any) -> list[Any]:
    return sorted(value) if isinstance(value, list) else [value]


def _statements(document: str) -> dict[str, Any]:
    """Sid -> its actions, principal and condition, from an IAM policy document (JSON)."""
    return {
        s["Sid"]: {
            "actions": _listed(s["Action"]),
            "principal": {kind: _listed(who) for kind, who in s["Principal"].items()},
            "condition": {
                test: {key: _listed(v) for key, v in keys.items()}
                for test, keys in s.get("Condition", {}).items()
            },
        }
        for s in json.loads(document)["Statement"]
    }


def _tf_statements(tf: Terraform, name: str) -> dict[str, Any]:
    """The same shape, from an `aws_iam_policy_document` data source."""
    return {
        s["sid"][0]: {
            "actions": sorted(s["actions"][0]),
            "principal": {
                p["type"][0]: sorted(_looked_up(i) for i in p["identifiers"][0])
                for p in s["principals"]
            },
            "condition": {
                c["test"][0]: {c["variable"][0]: sorted(_looked_up(v) for v in c["values"][0])}
                for c in s.get("condition", [])
            },
        }
        for s in tf.resource("aws_iam_policy_document", name, kind="data")["statement"]
    }


def _decoded(call: str, function: str) -> Any:
    """The literal inside `${jsonencode(...)}` or `${yamlencode(...)}` as the parser leaves it."""
    prefix = f"${{{function}("
    assert call.startswith(prefix) and call.endswith(")}"), call
    return ast.literal_eval(call[len(prefix) : -2])


# ---------------------------------------------------------------------------------- Pulumi side


def _pulumi_cluster_role(graph: Graph) -> tuple[str, dict[str, Any]]:
    role = graph.one(
        "aws:iam/role:Role", lambda r: "eks.amazonaws.com" in r.inputs["assumeRolePolicy"]
    )
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    managed = [
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.name
    ]
    (key_use,) = [
        json.loads(p.inputs["policy"])["Statement"]
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == f"{role.name}-id"
    ]
    (statement,) = key_use
    key = graph.one("aws:kms/key:Key")
    return role.name, {
        "trust": [trust["Principal"], sorted(trust["Action"])],
        "managed_policies": sorted(managed),
        "key_use": sorted(statement["Action"]),
        "key_use_on_the_cluster_key": statement["Resource"] == f"arn:aws:kms::{ACCOUNT}:{key.name}",
    }


def pulumi_security(graph: Graph) -> dict[str, Any]:
    cluster = graph.one("eks:index:Cluster").inputs
    key = graph.one("aws:kms/key:Key")
    key_arn = f"arn:aws:kms::{ACCOUNT}:{key.name}"
    role_name, role = _pulumi_cluster_role(graph)
    logs = graph.one("aws:cloudwatch/logGroup:LogGroup").inputs
    release = graph.one("kubernetes:helm.sh/v3:Release")
    grafana = release.manifest["values"]["grafana"]
    password = graph.one(
        "random:index/randomPassword:RandomPassword", lambda r: r.name.endswith("grafana-admin")
    ).inputs
    return {
        "cluster_name": cluster["name"],
        "cluster_role": {**role, "is_the_clusters": cluster["serviceRole"] == f"{role_name}-id"},
        "secrets_encryption": {
            "resources": ["secrets"] if cluster["encryptionConfigKeyArn"] == key_arn else [],
            "key_rotation": key.inputs["enableKeyRotation"],
            "key_deletion_days": key.inputs["deletionWindowInDays"],
            "key_alias": graph.one("aws:kms/alias:Alias").inputs["name"],
            "key_policy": _statements(key.inputs["policy"]),
        },
        "control_plane_logs": {
            "types": cluster["enabledClusterLogTypes"],
            "log_group": logs["name"],
            "retention_days": logs["retentionInDays"],
            "encrypted_with_the_cluster_key": logs["kmsKeyId"] == key_arn,
        },
        "vpc_cni_network_policy": cluster["vpcCniOptions"]["enableNetworkPolicy"],
        "grafana_access": {k: v for k, v in grafana.items() if k in ("rbac", "sidecar")},
        "grafana_admin_password": {
            # Pulumi marks the whole of the chart's values secret when one of them is.
            "secret": "adminPassword" in grafana and is_secret(release.inputs["values"]),
            "generated": [password["length"], password["special"]],
        },
    }


# ------------------------------------------------------------------------------- Terraform side


def _tf_cluster_role(tf: Terraform) -> dict[str, Any]:
    cluster = tf.resource("aws_eks_cluster", "this")
    role = tf.resource("aws_iam_role", "cluster")
    assert role["assume_role_policy"] == ["${data.aws_iam_policy_document.assume_eks.json}"]
    (trust,) = tf.resource("aws_iam_policy_document", "assume_eks", kind="data")["statement"]
    (principal,) = trust["principals"]
    attached = tf.resource("aws_iam_role_policy_attachment", "cluster")
    assert attached["role"] == ["${aws_iam_role.cluster.name}"]
    key_use = tf.resource("aws_iam_role_policy", "cluster_encryption")
    assert key_use["role"] == ["${aws_iam_role.cluster.id}"]
    assert key_use["policy"] == ["${data.aws_iam_policy_document.cluster_encryption.json}"]
    (statement,) = tf.resource("aws_iam_policy_document", "cluster_encryption", kind="data")[
        "statement"
    ]
    return {
        "trust": [
            {principal["type"][0]: principal["identifiers"][0][0]},
            sorted(trust["actions"][0]),
        ],
        "managed_policies": [attached["policy_arn"][0].rsplit("/", 1)[1]],
        "key_use": sorted(statement["actions"][0]),
        "key_use_on_the_cluster_key": statement["resources"] == [[TF_KEY]],
        "is_the_clusters": cluster["role_arn"] == ["${aws_iam_role.cluster.arn}"],
    }


def terraform_security(tf: Terraform) -> dict[str, Any]:
    cluster = tf.resource("aws_eks_cluster", "this")
    (encryption,) = cluster["encryption_config"]
    key = tf.resource("aws_kms_key", "this")
    assert key["policy"] == ["${data.aws_iam_policy_document.kms.json}"]
    alias = tf.resource("aws_kms_alias", "this")
    assert alias["target_key_id"] == ["${aws_kms_key.this.key_id}"]
    logs = tf.resource("aws_cloudwatch_log_group", "cluster")
    cni = tf.resource("aws_eks_addon", "vpc_cni")
    assert cni["addon_name"] == ["vpc-cni"] and cni["cluster_name"] == [
        "${aws_eks_cluster.this.name}"
    ]
    release = tf.resource("helm_release", "monitoring")
    (values,) = release["values"][0]
    (password,) = tf.raw("helm_release", "monitoring")["set_sensitive"][0]
    generated = tf.resource("random_password", "grafana")
    uses_it = "random_password.grafana[0].result" in tf.locals["grafana_admin_password"]
    return {
        "cluster_name": cluster["name"][0],
        "cluster_role": _tf_cluster_role(tf),
        "secrets_encryption": {
            "resources": encryption["resources"][0]
            if encryption["provider"][0]["key_arn"] == [TF_KEY]
            else [],
            "key_rotation": key["enable_key_rotation"][0],
            "key_deletion_days": key["deletion_window_in_days"][0],
            "key_alias": alias["name"][0],
            "key_policy": _tf_statements(tf, "kms"),
        },
        "control_plane_logs": {
            "types": cluster["enabled_cluster_log_types"][0],
            "log_group": logs["name"][0],
            "retention_days": logs["retention_in_days"][0],
            "encrypted_with_the_cluster_key": logs["kms_key_id"] == [TF_KEY],
        },
        "vpc_cni_network_policy": _decoded(cni["configuration_values"][0], "jsonencode")
        == {"enableNetworkPolicy": "true"},
        "grafana_access": _decoded(values, "yamlencode")["grafana"],
        "grafana_admin_password": {
            "secret": password["name"] == "grafana.adminPassword"
            and password["value"] == "${local.grafana_admin_password}",
            "generated": [generated["length"][0], generated["special"][0]] if uses_it else [],
        },
    }
