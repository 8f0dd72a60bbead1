"""The AWS Load Balancer Controller: it turns an Ingress of class `alb` into an ALB. Installed by
Helm, with its IAM role through IRSA and exactly the controller's published policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.irsa import ServiceAccountRole, ServiceAccountRoleArgs
from infra.naming import res_name

CHART = "aws-load-balancer-controller"
CHART_REPO = "https://aws.github.io/eks-charts"
CHART_VERSION = "3.5.0"  # controller v3.5.0; the policy below is that tag's (policies/README.md)
RELEASE = "aws-load-balancer-controller"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
POLICY_FILE = Path(__file__).resolve().parent / "policies" / "aws-load-balancer-controller.json"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def policy_document() -> str:
    """The vendored policy, whitespace dropped (IAM counts it against a 6,144-character cap)."""
    import json

    return json.dumps(json.loads(POLICY_FILE.read_text()), separators=(",", ":"))


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    cluster_name: pulumi.Input[str | None]  # None only under unit-test mocks
    vpc_id: pulumi.Input[str]
    region: str
    chart_version: str = CHART_VERSION
    tags: Mapping[str, str] = field(default_factory=dict)


class LoadBalancerController(pulumi.ComponentResource):
    """An IAM policy (the vendored document), an IRSA role bound to kube-system's
    `aws-load-balancer-controller` account with that policy, and the chart's Helm release."""

    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:infra:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            res_name(name, "lb-controller"),
            description="AWS Load Balancer Controller (its published policy, vendored)",
            policy=policy_document(),
            tags=dict(args.tags),
            opts=child,
        )
        role = ServiceAccountRole(
            res_name(name, "lb-controller-irsa"),
            ServiceAccountRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                managed_policy_arns=[policy.arn],
                tags=args.tags,
            ),
            opts=child,
        )
        self.role_arn = role.arn
        self.release = k8s.helm.v3.Release(
            res_name(name, "lb-controller"),
            k8s.helm.v3.ReleaseArgs(
                name=RELEASE,
                chart=CHART,
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
                namespace=NAMESPACE,
                values={
                    "clusterName": args.cluster_name,
                    # Given, not looked up: pods cannot reach IMDS (the nodes' hop limit is 1,
                    # infra/cluster.py).
                    "region": args.region,
                    "vpcId": args.vpc_id,
                    "serviceAccount": {
                        "create": True,
                        "name": SERVICE_ACCOUNT,
                        "annotations": {IRSA_ANNOTATION: role.arn},
                    },
                },
                timeout=600,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        self.register_outputs({"role_arn": self.role_arn})
