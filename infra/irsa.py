"""IAM roles for Kubernetes service accounts (IRSA), bound to one namespace/name each."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import res_name


@dataclass(frozen=True)
class ServiceAccountRoleArgs:
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]  # the provider URL without https://
    namespace: str
    service_account: str
    policy: pulumi.Input[str] | None = None  # an inline policy document (JSON)
    managed_policy_arns: Sequence[pulumi.Input[str]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def trust_policy(provider_arn: str, issuer: str, namespace: str, account: str) -> str:
    """Only the one service account may assume the role, and only for STS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


class ServiceAccountRole(pulumi.ComponentResource):
    """An IAM role with a web-identity trust for one service account, an optional inline policy
    and optional managed policy attachments."""

    role: aws.iam.Role
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceAccountRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:ServiceAccountRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        document = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: trust_policy(v[0], v[1], args.namespace, args.service_account)
        )
        self.role = aws.iam.Role(
            res_name(name, "role"), assume_role_policy=document, tags=dict(args.tags), opts=child
        )
        if args.policy is not None:
            aws.iam.RolePolicy(
                res_name(name, "policy"), role=self.role.id, policy=args.policy, opts=child
            )
        for index, arn in enumerate(args.managed_policy_arns):
            aws.iam.RolePolicyAttachment(
                res_name(name, f"managed-{index}"), role=self.role.name, policy_arn=arn, opts=child
            )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
