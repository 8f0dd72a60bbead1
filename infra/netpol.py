"""NetworkPolicy building blocks: who may reach a workload's pods, and what they may reach.

The namespace denies all traffic both ways and lets every pod resolve names (infra/namespace.py);
each workload then declares one policy for its own pods that lists both directions, so what a
pod may send and receive is exactly what its policy says. Ports are numbers (the contract's), read
the same way by every plugin that enforces policies (Calico, the VPC CNI's agent, kindnet).
No rule ever admits the instance metadata address: a pod that reached it could take the node's
AWS credentials (the nodes' hop limit of 1 stops that too, infra/cluster.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

METADATA_CIDR = "169.254.169.254/32"  # the EC2 instance metadata service (IMDS)
ANYWHERE = "0.0.0.0/0"
HTTPS_PORT = 443  # S3, STS (IRSA) and https:// data sources
POSTGRES_PORT = 5432  # MLflow's database, when the stack gives it one
DNS_PORT = 53
# Cluster DNS (CoreDNS) is labelled so on minikube, kind and EKS alike.
DNS_NAMESPACE = "kube-system"
DNS_PODS = {"k8s-app": "kube-dns"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace

SUFFIX = "-network"  # a workload's policy: `<workload>-network`
Selector = Mapping[str, str]
Peer = k8s.networking.v1.NetworkPolicyPeerArgs


@dataclass(frozen=True)
class Rule:
    """Traffic with `peers` on `ports` (TCP, or each of `protocols`): from them in an ingress
    list, to them in an egress list."""

    peers: tuple[Peer, ...]
    ports: tuple[int, ...]
    protocols: tuple[str, ...] = ("TCP",)

    def __post_init__(self) -> None:
        if not self.peers or not self.ports:
            raise ValueError("a rule names its peers and ports: without them it admits everything")

    def _ports(self) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [
            k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol)
            for port in self.ports
            for protocol in self.protocols
        ]

    def ingress(self) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
        return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=list(self.peers), ports=self._ports()
        )

    def egress(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=list(self.peers), ports=self._ports()
        )


def pods(*selectors: Selector) -> tuple[Peer, ...]:
    """The pods each selector picks in the policy's own namespace."""
    if not selectors or not all(selectors):
        raise ValueError("name the pods: an empty selector picks every pod of the namespace")
    return tuple(
        Peer(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(s))) for s in selectors
    )


def own_namespace() -> Peer:
    """Every pod of the policy's own namespace."""
    return Peer(pod_selector=k8s.meta.v1.LabelSelectorArgs())


def namespace(name: str, selector: Selector | None = None) -> Peer:
    """Pods of another namespace: all of them, or those `selector` picks (both must match)."""
    return Peer(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: name}),
        pod_selector=(
            None if selector is None else k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
        ),
    )


def beyond(excluded: Sequence[str] = ()) -> Peer:
    """Every IPv4 address but the metadata service's and the `excluded` ranges (the cluster's own
    pods, nodes and Services, so that a rule for the internet opens nothing inside)."""
    return Peer(
        ip_block=k8s.networking.v1.IPBlockArgs(cidr=ANYWHERE, except_=[METADATA_CIDR, *excluded])
    )


def dns() -> Rule:
    """Name lookups at the cluster's DNS."""
    return Rule((namespace(DNS_NAMESPACE, DNS_PODS),), (DNS_PORT,), ("UDP", "TCP"))


def policy(
    name: str,
    meta: k8s.meta.v1.ObjectMetaArgs,
    selector: Selector,
    ingress: Sequence[Rule],
    egress: Sequence[Rule],
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """One NetworkPolicy (the resource `name`, the object `meta`) for the pods `selector` picks,
    listing both directions: an empty list admits nothing that way."""
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=meta,
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
            policy_types=["Ingress", "Egress"],
            ingress=[rule.ingress() for rule in ingress],
            egress=[rule.egress() for rule in egress],
        ),
        opts=opts,
    )
