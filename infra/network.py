"""The VPC: public subnets only, to keep the demo free of NAT gateway costs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import res_name


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    public_subnet_cidrs: Sequence[str]
    availability_zones: Sequence[pulumi.Input[str]]
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.public_subnet_cidrs) < 2:
            raise ValueError("EKS needs public subnets in at least two availability zones")
        if len(self.availability_zones) < len(self.public_subnet_cidrs):
            raise ValueError(
                f"{len(self.availability_zones)} availability zones for "
                f"{len(self.public_subnet_cidrs)} subnets"
            )


class Network(pulumi.ComponentResource):
    """VPC with DNS support, internet gateway, a public route table with the default route, and
    one public subnet per zone (public IPs on launch, tagged for internet-facing load balancers)."""

    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        self.vpc = aws.ec2.Vpc(
            res_name(name, "vpc"),
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": res_name(name, "vpc")},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            res_name(name, "igw"),
            vpc_id=self.vpc.id,
            tags={**tags, "Name": res_name(name, "igw")},
            opts=child,
        )
        table = aws.ec2.RouteTable(
            res_name(name, "public"),
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={**tags, "Name": res_name(name, "public")},
            opts=child,
        )
        subnets = []
        for index, cidr in enumerate(args.public_subnet_cidrs):
            subnet = aws.ec2.Subnet(
                res_name(name, f"public-{index}"),
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=args.availability_zones[index],
                # Nodes in public subnets need public IPs to pull images without a NAT gateway.
                map_public_ip_on_launch=True,
                tags={
                    **tags,
                    "Name": res_name(name, f"public-{index}"),
                    "kubernetes.io/role/elb": "1",
                },
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                res_name(name, f"public-{index}"),
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=child,
            )
            subnets.append(subnet)
        self.vpc_id = self.vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in subnets])
        self.register_outputs({"vpc_id": self.vpc_id, "public_subnet_ids": self.public_subnet_ids})
