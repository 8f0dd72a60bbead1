"""The VPC's subnet rules (eks): the nodes' subnets and the load balancer's own, each inside the
VPC and apart from every other. The load balancer's hold no node or pod, so their addresses are
the load balancer's alone: the API trusts them, and only them, as its proxies."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network

# An ALB needs a /27 or larger (a prefix of at most 27) with 8 free addresses in each subnet.
ALB_LONGEST_PREFIX = 27


def node_subnets(value: Sequence[IPv4Network], vpc: IPv4Network | None) -> None:
    """The nodes' (and with the VPC CNI, the pods') subnets: two zones at least."""
    if len(value) < 2:
        raise ValueError(f"EKS needs subnets in at least two availability zones; got {len(value)}")
    _inside(value, vpc)
    _apart(value)


def load_balancer_subnets(
    value: Sequence[IPv4Network], vpc: IPv4Network | None, nodes: Sequence[IPv4Network] | None
) -> None:
    """One per node subnet (the same zones, in the same order), /27 or larger, apart from each
    other and from the node subnets."""
    if nodes is not None and len(value) != len(nodes):
        raise ValueError(
            f"{len(value)} subnets for {len(nodes)} public_subnet_cidrs; give one per "
            "availability zone, in the same order"
        )
    for net in value:
        if net.prefixlen > ALB_LONGEST_PREFIX:
            raise ValueError(
                f"{net} is smaller than /{ALB_LONGEST_PREFIX}: an ALB needs a "
                f"/{ALB_LONGEST_PREFIX} or larger, with 8 free addresses, in each subnet"
            )
    _inside(value, vpc)
    _apart(value)
    for net in value:
        for node in nodes or ():
            if net.overlaps(node):
                raise ValueError(
                    f"{net} overlaps public_subnet_cidrs {node}: the load balancer's subnets "
                    "must hold no node or pod"
                )


def _inside(value: Sequence[IPv4Network], vpc: IPv4Network | None) -> None:
    for net in value:
        if vpc is not None and not net.subnet_of(vpc):
            raise ValueError(f"{net} is outside vpc_cidr {vpc}")


def _apart(value: Sequence[IPv4Network]) -> None:
    for i, net in enumerate(value):
        for other in value[i + 1 :]:
            if net.overlaps(other):
                raise ValueError(f"{net} overlaps {other}")
