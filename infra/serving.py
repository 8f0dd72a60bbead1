"""The forecasting API: Deployment, Service, autoscaling and disruption budget."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from contract.api import (
    API,
    API_PORT,
    GRACEFUL_SHUTDOWN_SECONDS,
    MODEL_CACHE_DIR,
    TOKEN_ENV,
    ApiEnv,
)
from infra import netpol, pod, replicas
from infra.naming import labels, res_name, selector_labels
from infra.options import child_options

SERVICE_PORT = 80
# The pod's termination grace without draining: uvicorn's graceful shutdown and a margin.
GRACE_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 10
RESOURCES = pod.Resources(cpu_request="250m", memory_request="384Mi", memory_limit="1Gi")


@dataclass(frozen=True)
class ServingArgs:
    namespace: pulumi.Input[str]
    image: str
    pull_policy: str
    env: ApiEnv  # the API's settings but its token, which `api_token` carries to a Secret
    min_replicas: int = 1
    max_replicas: int = 3
    target_cpu_percent: int = 70
    api_token: pulumi.Input[str] | None = None  # bearer token for the prediction routes
    resources: pod.Resources = RESOURCES
    # Behind a load balancer that routes to pod IPs: seconds a stopping pod keeps serving (a
    # preStop sleep) while the balancer deregisters it, before uvicorn's graceful shutdown.
    drain_seconds: int = 0
    # Who may reach the API port besides the namespace's own pods (Prometheus's namespace; the
    # public entry adds its controller, infra/public_api.py), and what the API may reach besides
    # DNS (MLflow).
    clients: tuple[netpol.Peer, ...] = ()
    egress: tuple[netpol.Rule, ...] = ()
    # MLflow's read-only identity, from a Secret (infra/tracking_auth.py: `reader_env`).
    credentials_env: tuple[k8s.core.v1.EnvVarArgs, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"need 1 <= min_replicas ({self.min_replicas}) <= max_replicas "
                f"({self.max_replicas})"
            )
        if "api_token" in self.env.model_fields_set:
            raise ValueError("the API token goes through api_token (a Secret), never its env")


def grace_seconds(drain_seconds: int) -> int:
    """The drain (preStop), then uvicorn's graceful shutdown, then a margin before SIGKILL."""
    return GRACE_SECONDS + drain_seconds


class Serving(pulumi.ComponentResource):
    """ServiceAccount, Deployment (probes /healthz and /readyz from the spec), ClusterIP Service
    on port 80 to the named port `http`, HorizontalPodAutoscaler, PodDisruptionBudget and the
    NetworkPolicy of its pods: the namespace's pods and the named clients in, its egress out."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Serving", name, None, opts)
        child = child_options(self, opts)
        self._args, self._name = args, res_name(name, API.name)
        self._labels = labels(API.name, "serving")
        self._selector = selector_labels(API.name, "serving")
        account = k8s.core.v1.ServiceAccount(
            self._name, metadata=self._meta(), automount_service_account_token=False, opts=child
        )
        self.deployment = self._deployment(account, child)
        self.service = k8s.core.v1.Service(
            self._name,
            metadata=self._meta(),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",  # reached through port-forward or an ingress the user adds
                selector=self._selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http")
                ],
            ),
            opts=child,
        )
        self._autoscaling(child)
        self._network_policy(child)
        self.service_name = self.service.metadata.name
        self.url = self.service_name.apply(lambda n: f"http://{n}:{SERVICE_PORT}")
        self.register_outputs({"service_name": self.service_name, "url": self.url})

    def _meta(self, suffix: str = "") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=self._name + suffix, namespace=self._args.namespace, labels=self._labels
        )

    def _env(self) -> dict[str, str]:
        # The model cache on the scratch volume, where it survives a container restart.
        return (ApiEnv(model_cache_dir=Path(MODEL_CACHE_DIR)) | self._args.env).to_env()

    def _token_env(self, child: pulumi.ResourceOptions) -> tuple[k8s.core.v1.EnvVarArgs, ...]:
        """The bearer token from a Secret, when there is one."""
        if self._args.api_token is None:
            return ()
        secret = (self._name + "-token", self._meta("-token"))
        return (pod.secret_variable(TOKEN_ENV, secret, "token", self._args.api_token, child),)

    def _deployment(
        self, account: k8s.core.v1.ServiceAccount, child: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        main = pod.container(
            pod.ContainerArgs(
                spec=API,
                image=self._args.image,
                pull_policy=self._args.pull_policy,
                env=self._env(),
                resources=self._args.resources,
                secret_env=(*self._token_env(child), *self._args.credentials_env),
            )
        )
        if self._args.drain_seconds:
            main.lifecycle = k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                    sleep=k8s.core.v1.SleepActionArgs(seconds=self._args.drain_seconds)
                )
            )
        meta = self._meta()
        reads_secrets = self._args.api_token is not None or bool(self._args.credentials_env)
        meta.annotations = pod.accepted_findings(secret_env=reads_secrets)
        return k8s.apps.v1.Deployment(
            self._name,
            metadata=meta,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=self._args.min_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                strategy=replicas.rolling_update(),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        automount_service_account_token=False,
                        security_context=pod.pod_security(),
                        termination_grace_period_seconds=grace_seconds(self._args.drain_seconds),
                        containers=[main],
                        volumes=[pod.scratch_volume()],
                    ),
                ),
            ),
            # The HPA owns the replica count once it exists.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
            ),
        )

    def _autoscaling(self, child: pulumi.ResourceOptions) -> None:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            self._name,
            metadata=self._meta(),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name
                ),
                min_replicas=self._args.min_replicas,
                max_replicas=self._args.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization",
                                average_utilization=self._args.target_cpu_percent,
                            ),
                        ),
                    )
                ],
            ),
            opts=child,
        )
        replicas.disruption_budget(self._name, self._meta(), self._selector, child)

    def _network_policy(self, child: pulumi.ResourceOptions) -> None:
        clients = (netpol.own_namespace(), *self._args.clients)
        ingress = (netpol.Rule(clients, (API_PORT,)),)
        name, meta = self._name + netpol.SUFFIX, self._meta(netpol.SUFFIX)
        netpol.policy(name, meta, self._selector, ingress, self._args.egress, child)
