"""The MLflow tracking server: registry store, artifact proxy, and who may reach it.

Two shapes, chosen by where its stores live. SQLite (or artifacts) on a volume: one replica, which
stops before the next starts (a ReadWriteOnce volume has one writer). A database (PostgreSQL) and
artifacts in S3: several replicas, rolled one at a time, spread across zones, under a disruption
budget, with no volume. With a database, each pod first runs `mlstack db-upgrade` as an init
container: the schema upgrade, which a PostgreSQL advisory lock lets only one pod run at a time
(the first upgrades, the others find it done), before any new server starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from contract.tracking import BACKEND_STORE_ENV, DB_UPGRADE, TRACKING, TRACKING_PORT, tracking_env
from infra import netpol, pod, replicas
from infra.naming import labels, res_name, selector_labels
from infra.options import child_options

DATA = "/data"
SQLITE_URI = f"sqlite:///{DATA}/mlflow.db"  # four slashes in all: an absolute path
RESOURCES = pod.Resources(memory_request="512Mi", memory_limit="2Gi")
# The upgrade imports MLflow and runs alembic: the server's memory, a short while.
UPGRADE_RESOURCES = pod.Resources(memory_request="256Mi", memory_limit="1Gi")
# On the pod template: a new database URI (a restored instance) rolls the pods, which read it once.
URI_CHECKSUM = "mlstack.dev/database-uri-sha256"


@dataclass(frozen=True)
class MlflowServerArgs:
    namespace: pulumi.Input[str]
    namespace_name: str  # the plain name, for DNS names known before deployment
    image: str
    pull_policy: str
    artifacts_destination: pulumi.Input[str]  # a path on the volume, or s3://bucket/prefix
    artifacts_on_volume: bool = True
    database_uri: pulumi.Input[str] | None = None  # PostgreSQL; SQLite on the volume when None
    # Replicas when the server can run several (`replicated`); one otherwise.
    replicas: int = 2
    storage_size: str = "5Gi"
    storage_class: pulumi.Input[str] | None = None
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Pods (by label) allowed to reach the server; the node (port-forward) always may.
    client_selectors: tuple[Mapping[str, str], ...] = ()
    # What the server may reach besides DNS and its database: its artifact store (S3 on EKS).
    egress: tuple[netpol.Rule, ...] = ()
    resources: pod.Resources = RESOURCES
    # Authentication's variables, from Secrets (infra/tracking_auth.py: `server_env`).
    auth_env: tuple[k8s.core.v1.EnvVarArgs, ...] = ()

    def __post_init__(self) -> None:
        dest = self.artifacts_destination
        if self.artifacts_on_volume and not (isinstance(dest, str) and dest.startswith(DATA)):
            raise ValueError(f"artifacts on the volume must live under {DATA}, got {dest!r}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")

    @property
    def needs_volume(self) -> bool:
        return self.database_uri is None or self.artifacts_on_volume

    @property
    def replicated(self) -> bool:
        """Several servers can share the stores: a database, and artifacts off the volume."""
        return not self.needs_volume


SELECTOR = selector_labels(TRACKING.name, "tracking")


def reach() -> netpol.Rule:
    """What a client's egress needs to reach the server (its pods: the Service's port is the
    container's)."""
    return netpol.Rule(netpol.pods(SELECTOR), (TRACKING_PORT,))


def allowed_hosts(service: str, namespace: str, port: int) -> str:
    """Every name an in-cluster client may use for the Service, with and without the port, and
    localhost for `kubectl port-forward`: MLflow 3 rejects any other Host header."""
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    hosts = [h for n in names for h in (n, f"{n}:{port}")]
    return ",".join([*hosts, "localhost:*", "127.0.0.1:*"])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class MlflowServer(pulumi.ComponentResource):
    """ServiceAccount, Deployment, ClusterIP Service, and the NetworkPolicy of its pods (its
    clients in; its artifact store and database out); with SQLite or artifacts on a volume the
    PersistentVolumeClaim; with a database its URI's Secret and the schema upgrade's init
    container; replicated, the PodDisruptionBudget."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_name: pulumi.Output[str]
    url: str  # known before deployment, so clients' settings are plain values

    def __init__(
        self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:MlflowServer", name, None, opts)
        child = child_options(self, opts)
        self._args, self._name = args, res_name(name, TRACKING.name)
        self._labels = labels(TRACKING.name, "tracking")
        self._selector = SELECTOR
        account = self._service_account(child)
        claim = self._volume_claim(child) if args.needs_volume else None
        self.deployment = self._deployment(account, claim, child)
        if args.replicated:
            replicas.disruption_budget(self._name, self._meta(), self._selector, child)
        self.service = self._service(child)
        self._network_policy(child)
        self.service_name = self.service.metadata.name
        host = f"{self._name}.{args.namespace_name}.svc.cluster.local"
        self.url = f"http://{host}:{TRACKING_PORT}"
        self.register_outputs({"service_name": self.service_name, "url": self.url})

    def _meta(self, suffix: str = "") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=self._name + suffix, namespace=self._args.namespace, labels=self._labels
        )

    def _service_account(self, child: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccount:
        meta = self._meta()
        meta.annotations = dict(self._args.service_account_annotations)
        return k8s.core.v1.ServiceAccount(
            self._name, metadata=meta, automount_service_account_token=False, opts=child
        )

    def _volume_claim(self, child: pulumi.ResourceOptions) -> k8s.core.v1.PersistentVolumeClaim:
        meta = self._meta("-data")
        # A claim bound on first use would hold `pulumi up` until the pod that uses it exists.
        meta.annotations = {"pulumi.com/skipAwait": "true"}
        return k8s.core.v1.PersistentVolumeClaim(
            self._name + "-data",
            metadata=meta,
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=self._args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": self._args.storage_size}
                ),
            ),
            opts=child,
        )

    def _containers(
        self, child: pulumi.ResourceOptions
    ) -> tuple[k8s.core.v1.ContainerArgs, list[k8s.core.v1.ContainerArgs]]:
        """The server, and with a database the schema upgrade before it; both read the URI (it
        holds a password) from a Secret, the server's SQLite path is a plain value. Only the
        server reads authentication's passwords."""
        args = self._args
        hosts = allowed_hosts(self._name, args.namespace_name, TRACKING_PORT)
        env = tracking_env(artifacts_destination=args.artifacts_destination, allowed_hosts=hosts)
        uri: tuple[k8s.core.v1.EnvVarArgs, ...] = ()
        if args.database_uri is None:
            env[BACKEND_STORE_ENV] = SQLITE_URI
        else:
            secret = (self._name + "-db", self._meta("-db"))
            uri = (pod.secret_variable(BACKEND_STORE_ENV, secret, "uri", args.database_uri, child),)
        mounts = (k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA),)
        server = pod.ContainerArgs(
            spec=TRACKING,
            image=args.image,
            pull_policy=args.pull_policy,
            env=env,
            resources=args.resources,
            secret_env=(*uri, *args.auth_env),
            mounts=mounts if args.needs_volume else (),
        )
        upgrade = pod.ContainerArgs(
            spec=DB_UPGRADE,
            image=args.image,
            pull_policy=args.pull_policy,
            env={},
            resources=UPGRADE_RESOURCES,
            secret_env=uri,
        )
        return pod.container(server), [pod.container(upgrade)] if uri else []

    def _template_annotations(self) -> dict[str, pulumi.Input[str]] | None:
        uri = self._args.database_uri
        return None if uri is None else {URI_CHECKSUM: pulumi.Output.from_input(uri).apply(_sha256)}

    def _deployment(
        self,
        account: k8s.core.v1.ServiceAccount,
        claim: k8s.core.v1.PersistentVolumeClaim | None,
        child: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        args = self._args
        main, init = self._containers(child)
        volumes = [pod.scratch_volume()]
        if claim is not None:
            source = k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=claim.metadata.name
            )
            volumes.append(k8s.core.v1.VolumeArgs(name="data", persistent_volume_claim=source))
        irsa_token = bool(args.service_account_annotations)  # IRSA needs its token
        meta = self._meta()
        meta.annotations = pod.accepted_findings(irsa_token, secret_env=bool(init or args.auth_env))
        return k8s.apps.v1.Deployment(
            self._name,
            metadata=meta,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas if args.replicated else 1,
                strategy=replicas.rolling_update()
                if args.replicated
                # One writer on a ReadWriteOnce volume: stop the old pod before the new one.
                else k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=self._labels, annotations=self._template_annotations()
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        automount_service_account_token=irsa_token,
                        security_context=pod.pod_security(),
                        init_containers=init or None,
                        containers=[main],
                        volumes=volumes,
                        topology_spread_constraints=replicas.spread(self._selector)
                        if args.replicated
                        else None,
                    ),
                ),
            ),
            opts=child,
        )

    def _service(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            self._name,
            metadata=self._meta(),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self._selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=TRACKING_PORT, target_port="http")
                ],
            ),
            opts=child,
        )

    def _network_policy(self, child: pulumi.ResourceOptions) -> None:
        # Traffic from the pod's own node (kubelet probes) is always allowed by Kubernetes, and
        # `kubectl port-forward` connects on the pod's loopback, so only the named client pods
        # need a rule. A database is reached on its port wherever it is, but at the metadata
        # address.
        ingress: tuple[netpol.Rule, ...] = ()
        if self._args.client_selectors:
            clients = netpol.pods(*self._args.client_selectors)
            ingress = (netpol.Rule(clients, (TRACKING_PORT,)),)
        egress = self._args.egress
        if self._args.database_uri is not None:
            egress += (netpol.Rule((netpol.beyond(),), (netpol.POSTGRES_PORT,)),)
        name, meta = self._name + netpol.SUFFIX, self._meta(netpol.SUFFIX)
        netpol.policy(name, meta, self._selector, ingress, egress, child)
