"""The declared NetworkPolicies read as an enforcing plugin reads them: may one pod (or address)
open a TCP connection to another on a port?

The rules of networking.k8s.io/v1: a pod selected by no policy of a direction is open that way;
once selected, only what some selecting policy's rules admit passes; a connection needs the
sender's egress and the receiver's ingress. A peer with a namespace selector matches pods of the
namespaces it picks (and of those, the pods its pod selector picks); a bare pod selector, pods
of the policy's own namespace; an ipBlock, addresses in its CIDR and outside its exceptions.
Selectors here use `matchLabels` only (the program writes no `matchExpressions`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address, ip_network
from typing import Any

from k8s.harness import Graph

NAMESPACE_NAME = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str  # its container's name (a ServiceSpec name), or a stand-in's
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)  # named container ports


Endpoint = Pod | IPv4Address


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    assert "matchExpressions" not in selector, selector
    return dict(selector.get("matchLabels") or {}).items() <= labels.items()


def policies(graph: Graph) -> list[dict[str, Any]]:
    return [o.manifest for o in graph.kubernetes_objects() if o.manifest["kind"] == "NetworkPolicy"]


def pods(graph: Graph) -> Iterator[Pod]:
    """A Pod per pod template (Deployment, Job, CronJob), named after its container."""
    for owner, spec in graph.pod_specs():
        template = owner.manifest["spec"]
        if owner.manifest["kind"] == "CronJob":
            template = template["jobTemplate"]["spec"]
        (main,) = spec["containers"]
        yield Pod(
            main["name"],
            owner.manifest["metadata"]["namespace"],
            template["template"]["metadata"]["labels"],
            {p["name"]: p["containerPort"] for p in main.get("ports") or []},
        )


def governing(found: list[dict[str, Any]], pod: Pod, direction: str) -> list[dict[str, Any]]:
    """The specs of the policies that select `pod` for `direction` ("Ingress" or "Egress")."""
    return [
        p["spec"]
        for p in found
        if p["metadata"]["namespace"] == pod.namespace
        and selects(p["spec"]["podSelector"], pod.labels)
        and direction in p["spec"]["policyTypes"]
    ]


def _peer_matches(peer: Mapping[str, Any], namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return (
            isinstance(other, IPv4Address)
            and other in ip_network(block["cidr"])
            and not any(other in ip_network(c) for c in block.get("except") or [])
        )
    if isinstance(other, IPv4Address):
        return False
    if "namespaceSelector" in peer:
        labels = {NAMESPACE_NAME: other.namespace}
        return selects(peer["namespaceSelector"], labels) and selects(
            peer.get("podSelector"), other.labels
        )
    return other.namespace == namespace and selects(peer["podSelector"], other.labels)


def _port_matches(rule: Mapping[str, Any], port: int, receiver: Endpoint) -> bool:
    if not rule.get("ports"):
        return True
    named = receiver.ports if isinstance(receiver, Pod) else {}
    return any(
        p.get("protocol", "TCP") == "TCP" and named.get(p["port"], p["port"]) == port
        for p in rule["ports"]
    )


def admits(
    found: list[dict[str, Any]], pod: Pod, direction: str, other: Endpoint, port: int
) -> bool:
    """Whether `pod`'s policies let `other` reach it on `port` (Ingress), or let it reach
    `other` on `port` (Egress)."""
    specs = governing(found, pod, direction)
    if not specs:
        return True  # not isolated that way
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    receiver = pod if direction == "Ingress" else other
    return any(
        _port_matches(rule, port, receiver)
        and (
            not rule.get(peers) or any(_peer_matches(p, pod.namespace, other) for p in rule[peers])
        )
        for spec in specs
        for rule in spec.get(key) or []
    )


def connects(found: list[dict[str, Any]], sender: Endpoint, receiver: Endpoint, port: int) -> bool:
    """Whether `sender` may open a connection to `receiver` on `port` (an address outside the
    cluster is subject to no policy of its own)."""
    sent = not isinstance(sender, Pod) or admits(found, sender, "Egress", receiver, port)
    taken = not isinstance(receiver, Pod) or admits(found, receiver, "Ingress", sender, port)
    return sent and taken


def address(text: str) -> IPv4Address:
    parsed = ip_address(text)
    assert isinstance(parsed, IPv4Address)
    return parsed
