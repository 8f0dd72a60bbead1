"""The VPC: public subnets only, to keep the demo free of NAT gateway costs. The nodes (and their
pods) have subnets of their own; the load balancer has small ones that no node or pod uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import res_name

# The AWS Load Balancer Controller places internet-facing load balancers in subnets tagged so.
ELB_ROLE_TAG = "kubernetes.io/role/elb"


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    public_subnet_cidrs: Sequence[str]
    load_balancer_subnet_cidrs: Sequence[str]
    availability_zones: Sequence[pulumi.Input[str]]
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.public_subnet_cidrs) < 2:
            raise ValueError("EKS needs public subnets in at least two availability zones")
        if len(self.load_balancer_subnet_cidrs) != len(self.public_subnet_cidrs):
            raise ValueError(
                f"{len(self.load_balancer_subnet_cidrs)} load balancer subnets for "
                f"{len(self.public_subnet_cidrs)} node subnets; give one per zone"
            )
        if len(self.availability_zones) < len(self.public_subnet_cidrs):
            raise ValueError(
                f"{len(self.availability_zones)} availability zones for "
                f"{len(self.public_subnet_cidrs)} subnets"
            )


class Network(pulumi.ComponentResource):
    """VPC with DNS support, internet gateway, a public route table with the default route, and
    per zone two subnets on it: the nodes' (public IPs on launch, to pull images without a NAT
    gateway) and the load balancer's (tagged for internet-facing load balancers; the ALB brings
    its own public addresses)."""

    vpc: aws.ec2.Vpc
    route_table: aws.ec2.RouteTable
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    load_balancer_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Network", name, None, opts)
        self._prefix, self._spec = name, args
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            res_name(name, "vpc"),
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags("vpc"),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            res_name(name, "igw"), vpc_id=self.vpc.id, tags=self._tags("igw"), opts=child
        )
        self.route_table = aws.ec2.RouteTable(
            res_name(name, "public"),
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags=self._tags("public"),
            opts=child,
        )
        self.vpc_id = self.vpc.id
        self.public_subnet_ids = self._subnets(
            "public", args.public_subnet_cidrs, child, nodes=True
        )
        self.load_balancer_subnet_ids = self._subnets(
            "lb", args.load_balancer_subnet_cidrs, child, nodes=False
        )
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "load_balancer_subnet_ids": self.load_balancer_subnet_ids,
            }
        )

    def _tags(self, role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self._spec.tags, "Name": res_name(self._prefix, role), **(extra or {})}

    def _subnets(
        self, role: str, cidrs: Sequence[str], child: pulumi.ResourceOptions, *, nodes: bool
    ) -> pulumi.Output[list[str]]:
        """One subnet per zone on the public route table; only the load balancer's carry the
        ELB role tag, so the controller never finds a node subnet by itself."""
        ids = []
        for index, cidr in enumerate(cidrs):
            name = res_name(self._prefix, f"{role}-{index}")
            subnet = aws.ec2.Subnet(
                name,
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=self._spec.availability_zones[index],
                map_public_ip_on_launch=nodes,
                tags=self._tags(f"{role}-{index}", None if nodes else {ELB_ROLE_TAG: "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                name, subnet_id=subnet.id, route_table_id=self.route_table.id, opts=child
            )
            ids.append(subnet.id)
        return pulumi.Output.all(*ids)
