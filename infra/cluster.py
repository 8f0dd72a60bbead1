"""The EKS cluster: control plane, managed nodes, OIDC for IRSA, and the EBS CSI driver."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from infra.control_plane import LOG_TYPES, ControlPlane, ControlPlaneArgs
from infra.irsa import ServiceAccountRole, ServiceAccountRoleArgs
from infra.naming import res_name

NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


@dataclass(frozen=True)
class NodeSizes:
    min_size: int
    desired_size: int
    max_size: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need 1 <= min ({self.min_size}) <= desired ({self.desired_size}) "
                f"<= max ({self.max_size})"
            )


@dataclass(frozen=True)
class ClusterArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    kubernetes_version: str
    region: str  # the AWS provider's, for the key policy's log group ARN
    instance_type: str
    sizes: NodeSizes
    disk_size_gib: int = 20
    public_access_cidrs: Sequence[str] = ("0.0.0.0/0",)
    retain_key: bool = False  # ControlPlaneArgs.retain_key
    tags: Mapping[str, str] = field(default_factory=dict)


class Cluster(pulumi.ComponentResource):
    """Node IAM role, a launch template requiring IMDSv2 within one hop (the node itself: pods
    cannot reach it) with an encrypted root volume, the control plane's role, KMS key and log
    group (infra/control_plane.py), the pulumi-eks cluster (API authentication, OIDC provider,
    Secrets encrypted with that key, the VPC CNI enforcing NetworkPolicies, no default node
    group), a managed node group, and the EBS CSI driver add-on with its own IRSA role (for the
    MLflow volume)."""

    cluster: eks.Cluster
    node_group: eks.ManagedNodeGroup
    ebs_csi: eks.Addon
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    key_arn: pulumi.Output[str]  # the stack's KMS key, which also encrypts MLflow's database

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        role = self._node_role(name, tags, child)
        cluster_name = res_name(name, "eks")  # named, so that its log group can be made first
        control = ControlPlane(
            name, ControlPlaneArgs(cluster_name, args.region, args.retain_key, tags), opts=child
        )
        self.cluster = eks.Cluster(
            cluster_name,
            name=cluster_name,
            service_role=control.role,
            encryption_config_key_arn=control.key.arn,
            # Off by default in the VPC CNI: without it NetworkPolicies are accepted, not enforced.
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            vpc_id=args.vpc_id,
            public_subnet_ids=args.subnet_ids,
            version=args.kubernetes_version,
            skip_default_node_group=True,
            authentication_mode=eks.AuthenticationMode.API,
            create_oidc_provider=True,
            endpoint_public_access=True,
            endpoint_private_access=True,
            public_access_cidrs=list(args.public_access_cidrs),
            # Control-plane logs to CloudWatch, as terraform/eks.tf does (a few dollars a month).
            enabled_cluster_log_types=list(LOG_TYPES),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=control.ready),
        )
        self.node_group = eks.ManagedNodeGroup(
            res_name(name, "nodes"),
            cluster=self.cluster,
            node_role=role,
            subnet_ids=args.subnet_ids,
            instance_types=[args.instance_type],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.sizes.min_size,
                desired_size=args.sizes.desired_size,
                max_size=args.sizes.max_size,
            ),
            launch_template=self._launch_template(name, args, tags, child),
            tags=tags,
            opts=child,
        )
        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig_json)
        self.oidc_provider_arn = self.cluster.oidc_provider_arn
        self.oidc_issuer = self.cluster.oidc_issuer
        self.key_arn = control.key.arn
        self._ebs_csi(name, tags, child)
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
                "key_arn": self.key_arn,
            }
        )

    @staticmethod
    def _node_role(name: str, tags: dict[str, str], child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(
            res_name(name, "node-role"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        for index, arn in enumerate(NODE_POLICIES):
            aws.iam.RolePolicyAttachment(
                res_name(name, f"node-policy-{index}"), role=role.name, policy_arn=arn, opts=child
            )
        return role

    @staticmethod
    def _launch_template(
        name: str, args: ClusterArgs, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> aws.eks.NodeGroupLaunchTemplateArgs:
        template = aws.ec2.LaunchTemplate(
            res_name(name, "nodes"),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                # 1 hop: the node and its host-network pods (the VPC CNI, kube-proxy) reach
                # IMDS; a pod's packets take a second hop and never get an answer, so no
                # workload can take the node role's credentials. Workloads use IRSA.
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags=tags)
            ],
            tags=tags,
            opts=child,
        )
        return aws.eks.NodeGroupLaunchTemplateArgs(
            id=template.id, version=template.latest_version.apply(str)
        )

    def _ebs_csi(self, name: str, tags: dict[str, str], child: pulumi.ResourceOptions) -> None:
        role = ServiceAccountRole(
            res_name(name, "ebs-csi"),
            ServiceAccountRoleArgs(
                oidc_provider_arn=self.oidc_provider_arn,
                oidc_issuer=self.oidc_issuer,
                namespace="kube-system",
                service_account="ebs-csi-controller-sa",
                managed_policy_arns=(EBS_CSI_POLICY,),
                tags=tags,
            ),
            opts=child,
        )
        # After the nodes: the add-on's pods need somewhere to run before it reports ACTIVE.
        self.ebs_csi = eks.Addon(
            res_name(name, "ebs-csi"),
            cluster=self.cluster,
            addon_name="aws-ebs-csi-driver",
            service_account_role_arn=role.arn,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[self.node_group])
            ),
        )
