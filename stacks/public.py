"""Public access (`public_access: true`), per target: the Ingress, its controller's peers, TLS and
rate limits. Nothing here is declared while the key is off."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.public_api import PublicApi, PublicApiArgs
from infra.tls import SelfSignedTls, SelfSignedTlsArgs
from stacks.config import MinikubeConfig
from stacks.workloads import Workloads

# minikube's ingress-nginx addon (and kind's manifest) run the controller here, labelled so.
NGINX_NAMESPACE = "ingress-nginx"
NGINX_POD = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
# Per client address, as ingress-nginx counts it: 10 requests a second with bursts of 5x that,
# and 20 open connections; beyond them it answers 503 (ingress-nginx's limit-req status).
NGINX_LIMITS = {
    "nginx.ingress.kubernetes.io/limit-rps": "10",
    "nginx.ingress.kubernetes.io/limit-burst-multiplier": "5",
    "nginx.ingress.kubernetes.io/limit-connections": "20",
    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
}


def nginx_peer() -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """The ingress-nginx controller's pods, in their namespace (both must match)."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": NGINX_NAMESPACE}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=NGINX_POD),
    )


def minikube(
    cfg: MinikubeConfig, workloads: Workloads, opts: pulumi.ResourceOptions
) -> pulumi.Output[str] | None:
    """The nginx Ingress on `public_host` with the user's TLS Secret, or a self-signed one."""
    if not cfg.public_access:
        return None
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
