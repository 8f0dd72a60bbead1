"""The namespace every workload lives in, closed by default."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import netpol
from infra.naming import PART_OF, res_name
from infra.options import child_options


@dataclass(frozen=True)
class NamespaceArgs:
    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("namespace name must not be empty")


class Namespace(pulumi.ComponentResource):
    """A Namespace enforcing the `restricted` Pod Security Standard, a NetworkPolicy that denies
    all traffic both ways, and one that lets every pod look names up at the cluster's DNS; each
    workload's own policy then admits exactly what its pods need (infra/netpol.py)."""

    namespace: k8s.core.v1.Namespace
    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Namespace", name, None, opts)
        child = child_options(self, opts)
        self.namespace = k8s.core.v1.Namespace(
            res_name(name, "ns"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                labels={
                    "app.kubernetes.io/part-of": PART_OF,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=child,
        )
        self.name = self.namespace.metadata.name
        every_pod: dict[str, str] = {}
        for role, egress in (("default-deny", ()), ("allow-dns", (netpol.dns(),))):
            meta = k8s.meta.v1.ObjectMetaArgs(name=role, namespace=self.name)
            netpol.policy(res_name(name, role), meta, every_pod, (), egress, child)
        self.register_outputs({"name": self.name})
