"""Public access on both sides: Terraform's controller (helm_release), its IAM role and policy, and
the certificate and CIDR inputs match the Pulumi eks stack with `public_access` on; with it off
(the default on both sides), neither declares any of them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from k8s.harness import EKS_PUBLIC, PUBLIC, TOKEN, Graph, program

from infra.lb_controller import POLICY_FILE
from terraform.facts import TF_IRSA_ROLES, _subject, tf_irsa_subjects
from terraform.hcl import TERRAFORM, Terraform

PUBLIC_FACTS = ("lb_controller_chart", "lb_controller_subject", "lb_controller_policy", "inputs")
CONTROLLER = "mlstack-lb-controller"


def pulumi_graph() -> Graph:
    return program("eks", EKS_PUBLIC, TOKEN)


def pulumi_public(graph: Graph) -> dict[str, Any]:
    release = graph.one("kubernetes:helm.sh/v3:Release", lambda r: r.name == CONTROLLER).manifest
    role = graph.one("aws:iam/role:Role", lambda r: r.name == f"{CONTROLLER}-irsa-role").inputs
    policy = graph.one("aws:iam/policy:Policy", lambda r: r.name == CONTROLLER).inputs
    values = release["values"]
    return {
        "lb_controller_chart": {
            "chart": release["chart"],
            "version": release["version"],
            "repository": release["repositoryOpts"]["repo"],
            "release": release["name"],
            "namespace": release["namespace"],
            "values": sorted([*values, "clusterName"]),  # the name is unknown under mocks
            "service_account": values["serviceAccount"]["name"],
        },
        "lb_controller_subject": _subject(role["assumeRolePolicy"]),
        "lb_controller_policy": json.loads(policy["policy"]),
        "inputs": sorted(PUBLIC),
    }


def terraform_public(tf: Terraform) -> dict[str, Any]:
    release = tf.resource("helm_release", "lb_controller")
    assert release["count"] == ["${var.public_access ? 1 : 0}"]
    (values,) = release["values"][0]
    settings = tf.locals["lb_controller"]
    ((role, subject),) = tf_irsa_subjects(tf, "lb_controller_irsa").items()
    policy = tf.resource("aws_iam_policy", "lb_controller")
    assert policy["policy"] == ["${file(local.lb_controller.policy_file)}"]
    policy_file = settings["policy_file"].replace("${path.module}", str(TERRAFORM))
    attached = tf.resource("aws_iam_role_policy_attachment", "lb_controller")
    assert attached["policy_arn"] == ["${aws_iam_policy.lb_controller[0].arn}"]
    assert attached["role"] == [f'${{aws_iam_role.irsa["{role}"].name}}']
    return {
        "lb_controller_chart": {
            "chart": release["chart"][0],
            "version": release["version"][0],
            "repository": release["repository"][0],
            "release": release["name"][0],
            "namespace": release["namespace"][0],
            "values": _yamlencoded_keys(values),
            "service_account": settings["service_account"],
        },
        "lb_controller_subject": subject,
        "lb_controller_policy": json.loads(open(policy_file).read()),
        "inputs": sorted(k for k in PUBLIC if k in tf.variables),
    }


def _yamlencoded_keys(values: str) -> list[str]:
    """The top-level keys of `yamlencode({...})` as the parser leaves it (a string)."""
    import re

    nested = {"create", "name", "annotations"}  # serviceAccount's own keys
    return sorted(set(re.findall(r"[{,]\s*'?([A-Za-z]+)'?\s*[=:]", values)) - nested)


@pytest.fixture(scope="module")
def sides() -> tuple[dict[str, Any], dict[str, Any]]:
    tf = Terraform(var={**PUBLIC, "endpoint_public_access_cidrs": ["203.0.113.0/24"]})
    return terraform_public(tf), pulumi_public(pulumi_graph())


@pytest.mark.parametrize("fact", PUBLIC_FACTS)
def test_terraform_and_the_pulumi_eks_stack_agree_with_public_access_on(
    sides: tuple[dict[str, Any], dict[str, Any]], fact: str
) -> None:
    terraform, pulumi = (side[fact] for side in sides)
    assert terraform == pulumi, (
        f"{fact} differs: Terraform (terraform/lb_controller.tf) has {terraform!r}; "
        f"Pulumi (eks stack, public_access on) has {pulumi!r}. Change the other side to match."
    )


def test_the_vendored_policy_is_what_both_sides_attach(
    sides: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    for side in sides:
        assert side["lb_controller_policy"] == json.loads(POLICY_FILE.read_text())


def test_both_sides_default_to_no_public_access() -> None:
    tf = Terraform()
    assert tf.values["public_access"] is False
    assert tf.values["public_access_cidrs"] == [] and tf.values["public_certificate_arn"] == ""
    for typ in ("helm_release", "aws_iam_policy", "aws_iam_role_policy_attachment"):
        assert tf.raw(typ, "lb_controller")["count"] == ["${var.public_access ? 1 : 0}"]
    # The controller's role is among irsa.tf's roles only with public access.
    assert tf.locals["irsa_roles"] == TF_IRSA_ROLES
    from k8s.harness import eks

    assert not [r for r in eks().resources if CONTROLLER in r.name]
