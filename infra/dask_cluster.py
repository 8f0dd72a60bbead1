"""A Dask cluster for the trainer: one scheduler and N workers from the trainer image, reachable
only by the trainer and by each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from contract.trainer import (
    DASK_NANNY_PORT,
    DASK_SCHEDULER,
    DASK_SCHEDULER_PORT,
    DASK_WORKER,
    DASK_WORKER_PORT,
    dask_worker_env,
)
from infra import netpol, pod
from infra.naming import labels, res_name, selector_labels
from infra.options import child_options

COMPONENT = "training"
# The scheduler holds the tasks, and each task carries its batch of series.
SCHEDULER_RESOURCES = pod.Resources(memory_request="512Mi", memory_limit="2Gi")
SCHEDULER_PORTS = pod.TcpPorts({"dask": DASK_SCHEDULER_PORT}, live="dask", ready="dask")
# The nanny is the pod's main process and restarts a worker that dies: liveness asks it; the
# worker's own port says the pod takes tasks.
WORKER_PORTS = pod.TcpPorts(
    {"worker": DASK_WORKER_PORT, "nanny": DASK_NANNY_PORT}, live="nanny", ready="worker"
)


@dataclass(frozen=True)
class DaskClusterArgs:
    namespace: pulumi.Input[str]
    namespace_name: str  # the plain name, for the scheduler's DNS name
    image: str  # the trainer's: workers unpickle the trainer's functions, same versions
    pull_policy: str
    workers: int
    worker_resources: pod.Resources  # the trainer's size: each worker fits what it would
    client_selector: Mapping[str, str]  # the trainer's pods, the only clients
    scheduler_resources: pod.Resources = SCHEDULER_RESOURCES

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"a Dask cluster needs at least one worker, got {self.workers}")


SCHEDULER = selector_labels(DASK_SCHEDULER.name, COMPONENT)
WORKER = selector_labels(DASK_WORKER.name, COMPONENT)


def reach() -> tuple[netpol.Rule, ...]:
    """What a client's egress needs: the scheduler, and the workers it may fetch results from."""
    return (
        netpol.Rule(netpol.pods(SCHEDULER), (DASK_SCHEDULER_PORT,)),
        netpol.Rule(netpol.pods(WORKER), (DASK_WORKER_PORT,)),
    )


def scheduler_address(name: str, namespace: str) -> str:
    return f"tcp://{name}.{namespace}.svc.cluster.local:{DASK_SCHEDULER_PORT}"


class DaskCluster(pulumi.ComponentResource):
    """ServiceAccount (no token), scheduler Deployment and its ClusterIP Service on 8786, worker
    Deployment of N replicas, and two NetworkPolicies: the scheduler admits the trainer and the
    workers, and reaches the workers and their nannies; the workers admit the scheduler, the
    trainer and each other (Dask moves results between workers), their nannies the scheduler
    only, and reach the scheduler and each other."""

    scheduler: k8s.apps.v1.Deployment
    workers: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    address: pulumi.Output[str]

    def __init__(
        self, name: str, args: DaskClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:DaskCluster", name, None, opts)
        child = child_options(self, opts)
        self._args, self._name = args, name
        self._account = res_name(name, "dask")
        self._scheduler = res_name(name, DASK_SCHEDULER.name)
        self._worker = res_name(name, DASK_WORKER.name)
        k8s.core.v1.ServiceAccount(
            self._account,
            metadata=self._meta(self._account, "dask"),
            automount_service_account_token=False,
            opts=child,
        )
        self.address = pulumi.Output.from_input(
            scheduler_address(self._scheduler, args.namespace_name)
        )
        self.scheduler = self._deployment(
            self._scheduler, DASK_SCHEDULER.name, self._scheduler_container(), 1, child
        )
        self.service = self._service(child)
        self.workers = self._deployment(
            self._worker,
            DASK_WORKER.name,
            self._worker_container(),
            args.workers,
            # After the scheduler is ready: the workers connect to it as they start.
            pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[self.scheduler])
            ),
        )
        self._network_policies(child)
        self.register_outputs({"address": self.address})

    def _meta(self, name: str, app: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._args.namespace, labels=labels(app, COMPONENT)
        )

    def _scheduler_container(self) -> k8s.core.v1.ContainerArgs:
        return pod.container(
            pod.ContainerArgs(
                spec=DASK_SCHEDULER,
                image=self._args.image,
                pull_policy=self._args.pull_policy,
                env={},
                resources=self._args.scheduler_resources,
                tcp=SCHEDULER_PORTS,
            )
        )

    def _worker_container(self) -> k8s.core.v1.ContainerArgs:
        return pod.container(
            pod.ContainerArgs(
                spec=DASK_WORKER,
                image=self._args.image,
                pull_policy=self._args.pull_policy,
                env=dask_worker_env(
                    scheduler_address=self.address,
                    memory_limit=self._args.worker_resources.memory_limit,
                ),
                resources=self._args.worker_resources,
                tcp=WORKER_PORTS,
            )
        )

    def _deployment(
        self,
        name: str,
        app: str,
        main: k8s.core.v1.ContainerArgs,
        replicas: int,
        opts: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        meta = self._meta(name, app)
        meta.annotations = pod.accepted_findings()
        # One scheduler at a time: during a rolling update the Service would split the workers
        # between two. Workers come and go freely; the scheduler reschedules their tasks.
        strategy = "Recreate" if app == DASK_SCHEDULER.name else "RollingUpdate"
        return k8s.apps.v1.Deployment(
            name,
            metadata=meta,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type=strategy),
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=selector_labels(app, COMPONENT)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(app, COMPONENT)),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=self._account,
                        automount_service_account_token=False,
                        security_context=pod.pod_security(),
                        containers=[main],
                        volumes=[pod.scratch_volume()],
                    ),
                ),
            ),
            opts=opts,
        )

    def _service(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            self._scheduler,
            metadata=self._meta(self._scheduler, DASK_SCHEDULER.name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=SCHEDULER,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="dask", port=DASK_SCHEDULER_PORT, target_port="dask"
                    )
                ],
            ),
            opts=child,
        )

    def _network_policies(self, child: pulumi.ResourceOptions) -> None:
        # Whoever reaches the scheduler runs code on the workers: only the trainer may.
        trainer = dict(self._args.client_selector)
        self._policy(
            DASK_SCHEDULER.name,
            ingress=(netpol.Rule(netpol.pods(trainer, WORKER), (DASK_SCHEDULER_PORT,)),),
            egress=(netpol.Rule(netpol.pods(WORKER), (DASK_WORKER_PORT, DASK_NANNY_PORT)),),
            child=child,
        )
        self._policy(
            DASK_WORKER.name,
            ingress=(
                netpol.Rule(netpol.pods(SCHEDULER, trainer, WORKER), (DASK_WORKER_PORT,)),
                netpol.Rule(netpol.pods(SCHEDULER), (DASK_NANNY_PORT,)),
            ),
            egress=reach(),  # the scheduler, and other workers
            child=child,
        )

    def _policy(
        self,
        app: str,
        ingress: tuple[netpol.Rule, ...],
        egress: tuple[netpol.Rule, ...],
        child: pulumi.ResourceOptions,
    ) -> None:
        """The NetworkPolicy of the `app` pods."""
        name = res_name(self._name, app) + netpol.SUFFIX
        selector = selector_labels(app, COMPONENT)
        netpol.policy(name, self._meta(name, app), selector, ingress, egress, child)
