"""The API's public entry: an Ingress routing only the forecast paths, and the NetworkPolicy that
admits the ingress controller to the API port. The target says which controller (its class and
annotations) and where its traffic comes from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from contract.api import API, API_PORT
from infra import netpol
from infra.naming import labels, res_name, selector_labels
from infra.options import child_options

# What the internet may reach, as Prefix paths (whole path segments: /model is not /models);
# /metrics is never among them, so Prometheus's view of the API stays in the cluster.
PUBLIC_PREFIXES = ("/predict", "/invocations", "/model", "/series", "/healthz", "/readyz", "/docs")
PUBLIC_EXACT = ("/openapi.json",)  # what /docs loads
PRIVATE_PATHS = ("/metrics",)


@dataclass(frozen=True)
class PublicApiArgs:
    namespace: pulumi.Input[str]
    service_name: pulumi.Input[str]
    host: str
    ingress_class: str
    # Where the controller's connections come from, for the API's NetworkPolicy.
    peers: Sequence[netpol.Peer]
    annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    tls_secret: pulumi.Input[str] | None = None  # None: TLS ends at the controller by other means

    def __post_init__(self) -> None:
        if not self.peers:
            raise ValueError("name where the ingress controller connects from (peers)")


def paths(service: pulumi.Input[str]) -> list[k8s.networking.v1.HTTPIngressPathArgs]:
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=service, port=k8s.networking.v1.ServiceBackendPortArgs(name="http")
        )
    )
    return [
        k8s.networking.v1.HTTPIngressPathArgs(path=path, path_type=kind, backend=backend)
        for kind, group in (("Prefix", PUBLIC_PREFIXES), ("Exact", PUBLIC_EXACT))
        for path in group
    ]


class PublicApi(pulumi.ComponentResource):
    """An Ingress (networking.k8s.io/v1) of the given class for the API's public paths on one
    host, and a NetworkPolicy admitting the controller's peers to the API's port only."""

    ingress: k8s.networking.v1.Ingress
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: PublicApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:PublicApi", name, None, opts)
        child = child_options(self, opts)
        base = res_name(name, f"{API.name}-public")
        tls = (
            [k8s.networking.v1.IngressTLSArgs(hosts=[args.host], secret_name=args.tls_secret)]
            if args.tls_secret is not None
            else None
        )
        self.ingress = k8s.networking.v1.Ingress(
            base,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=base,
                namespace=args.namespace,
                labels=labels(API.name, "serving"),
                annotations=dict(args.annotations),
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=args.ingress_class,
                tls=tls,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=args.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=paths(args.service_name)
                        ),
                    )
                ],
            ),
            opts=child,
        )
        # On its own, apart from the API's policy: the controller reaches the API port only
        # while public access is on. It adds no egress.
        meta = k8s.meta.v1.ObjectMetaArgs(
            name=base, namespace=args.namespace, labels=labels(API.name, "serving")
        )
        admitted = netpol.Rule(tuple(args.peers), (API_PORT,))
        netpol.policy(base, meta, selector_labels(API.name, "serving"), (admitted,), (), child)
        self.url = pulumi.Output.from_input(f"https://{args.host}/")
        self.register_outputs({"url": self.url})
