"""Public access (`public_access: true`), per target: the Ingress, its controller's peers, TLS and
rate limits. Nothing here is declared while the key is off."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from contract.api import API, GRACEFUL_SHUTDOWN_SECONDS, ApiEnv
from infra import netpol
from infra.lb_controller import LoadBalancerController, LoadBalancerControllerArgs
from infra.naming import labels, res_name
from infra.public_api import PublicApi, PublicApiArgs
from infra.tls import SelfSignedTls, SelfSignedTlsArgs
from stacks.config import EksConfig, MinikubeConfig, StackConfig
from stacks.workloads import Workloads

if TYPE_CHECKING:
    from infra.cluster import Cluster
    from infra.network import Network

# minikube's ingress-nginx addon (and kind's manifest) run the controller here, labelled so.
NGINX_NAMESPACE = "ingress-nginx"
NGINX_POD = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
# ingress-nginx's own per-address limits are a flood guard at twice the API's rate (below):
# beyond them it answers 503 before the API sees the request. Clients meet the API's 429 first.
NGINX_LIMITS = {
    "nginx.ingress.kubernetes.io/limit-rps": "20",
    "nginx.ingress.kubernetes.io/limit-burst-multiplier": "5",
    "nginx.ingress.kubernetes.io/limit-connections": "20",
    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
}


def nginx_peer() -> netpol.Peer:
    """The ingress-nginx controller's pods, in their namespace (both must match)."""
    return netpol.namespace(NGINX_NAMESPACE, NGINX_POD)


def nginx_peers_name(cfg: MinikubeConfig) -> str:
    """The DNS name of `nginx_peers`: the controller's ready pods' addresses, which the API
    looks up and trusts (and no other pod's, as the whole pod network was before)."""
    return f"{res_name(cfg.prefix, 'ingress-peers')}.{NGINX_NAMESPACE}.svc"


def nginx_peers(cfg: MinikubeConfig, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
    """A headless Service over the controller's pods, in their namespace: DNS, no proxying."""
    name = res_name(cfg.prefix, "ingress-peers")
    return k8s.core.v1.Service(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=NGINX_NAMESPACE, labels=labels("api", "ingress-peers")
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None",
            selector=NGINX_POD,
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port=80)],
        ),
        opts=opts,
    )


def minikube(
    cfg: MinikubeConfig, workloads: Workloads, opts: pulumi.ResourceOptions
) -> pulumi.Output[str] | None:
    """The nginx Ingress on `public_host` with the user's TLS Secret, or a self-signed one, and
    the name the API learns the controller's pods from."""
    if not cfg.public_access:
        return None
    nginx_peers(cfg, opts)
    tls_secret: pulumi.Input[str] = cfg.public_tls_secret
    if not cfg.public_tls_secret:
        tls = SelfSignedTls(
            cfg.prefix, SelfSignedTlsArgs(namespace=workloads.namespace, host=cfg.public_host), opts
        )
        tls_secret = tls.secret_name
    public = PublicApi(
        cfg.prefix,
        PublicApiArgs(
            namespace=workloads.namespace,
            service_name=workloads.api_service,
            host=cfg.public_host,
            ingress_class="nginx",
            peers=[nginx_peer()],
            annotations=NGINX_LIMITS,
            tls_secret=tls_secret,
        ),
        opts=opts,
    )
    return public.url


# Behind either entry the API counts each client itself: 10 a second, bursts of 50, per replica,
# then 429 with Retry-After. A stopping pod keeps serving for DRAIN_SECONDS (its preStop sleep)
# while the controller takes it out of rotation, then uvicorn finishes what is in flight; the
# ALB's target group drains for as long as both take, so no request is cut off. The API's
# keep-alive outlives the proxy's idle timeout (the ALB's, and ingress-nginx's upstream
# keep-alive, both 60 s), so no proxy reuses a connection the API closed (a 502).
# infra/serving.py gives the pod a grace period longer than drain + shutdown.
RATE_LIMIT_PER_MINUTE = 600
RATE_LIMIT_BURST = 50
DRAIN_SECONDS = 15
DEREGISTRATION_DELAY_SECONDS = DRAIN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS
IDLE_TIMEOUT_SECONDS = 60
KEEP_ALIVE_SECONDS = IDLE_TIMEOUT_SECONDS + 15
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def entry_settings(cfg: StackConfig, proxies: Sequence[IPv4Network | str]) -> ApiEnv:
    """What the API needs behind a public entry: its limiter, reading the client from
    X-Forwarded-For only when the connection comes from `proxies` (the entry's own subnets, or
    the DNS name of its pods), and a keep-alive past the entry's idle timeout. None of it (no
    field set) while public access is off."""
    if not cfg.public_access:
        return ApiEnv()
    return ApiEnv(
        rate_limit_per_minute=RATE_LIMIT_PER_MINUTE,
        rate_limit_burst=RATE_LIMIT_BURST,
        rate_limit_trusted_proxies=",".join(str(c) for c in proxies),
        keep_alive_seconds=KEEP_ALIVE_SECONDS,
    )


def drain_seconds(cfg: StackConfig) -> int:
    return DRAIN_SECONDS if cfg.public_access else 0


def alb_annotations(
    cfg: EksConfig, subnet_ids: pulumi.Input[Sequence[str]]
) -> dict[str, pulumi.Input[str]]:
    """The ALB, placed in `subnet_ids` (the load balancer's own subnets) and nowhere else."""
    prefix = "alb.ingress.kubernetes.io/"
    values: dict[str, pulumi.Input[str]] = {
        "scheme": "internet-facing",
        "subnets": pulumi.Output.from_input(subnet_ids).apply(",".join),
        "target-type": "ip",
        "listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
        "ssl-redirect": "443",  # HTTP only ever answers a redirect
        "certificate-arn": cfg.public_certificate_arn,
        "ssl-policy": SSL_POLICY,
        "inbound-cidrs": ",".join(str(c) for c in cfg.public_access_cidrs),
        "healthcheck-path": API.ready_path or "/readyz",
        "success-codes": "200",
        "load-balancer-attributes": (
            f"idle_timeout.timeout_seconds={IDLE_TIMEOUT_SECONDS},"
            "routing.http.drop_invalid_header_fields.enabled=true"
        ),
        "target-group-attributes": (
            f"deregistration_delay.timeout_seconds={DEREGISTRATION_DELAY_SECONDS}"
        ),
    }
    return {prefix + k: v for k, v in values.items()}


def eks(
    cfg: EksConfig,
    workloads: Workloads,
    cluster: Cluster,
    network: Network,
    opts: pulumi.ResourceOptions,
    tags: Mapping[str, str],
) -> pulumi.Output[str] | None:
    """The controller, then an `alb` Ingress it turns into an internet-facing ALB in the load
    balancer's subnets, the API's only peers there."""
    if not cfg.public_access:
        return None
    controller = LoadBalancerController(
        cfg.prefix,
        LoadBalancerControllerArgs(
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            cluster_name=cluster_name(cluster),
            vpc_id=network.vpc_id,
            region=cfg.region,
            tags=tags,
        ),
        opts=opts,
    )
    # The controller's webhook admits Ingresses: it must run before one is created.
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[controller]))
    public = PublicApi(
        cfg.prefix,
        PublicApiArgs(
            namespace=workloads.namespace,
            service_name=workloads.api_service,
            host=cfg.public_host,
            ingress_class="alb",
            peers=subnet_peers([str(c) for c in cfg.load_balancer_subnet_cidrs]),
            annotations=alb_annotations(cfg, network.load_balancer_subnet_ids),
        ),
        opts=after,
    )
    return public.url


def cluster_name(cluster: Cluster) -> pulumi.Output[str | None]:
    """The EKS cluster's name, from pulumi-eks's underlying `aws.eks.Cluster`. That output is a
    resource, which unit-test mocks cannot supply (PITFALLS.md): there, and only there, None."""
    return cluster.cluster.eks_cluster.apply(lambda c: None if c is None else c.name)


def subnet_peers(cidrs: Sequence[str]) -> list[netpol.Peer]:
    """The ALB's nodes connect from addresses in the subnets it is placed in: the load
    balancer's own, where no node or pod has an address."""
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
        for cidr in cidrs
    ]
