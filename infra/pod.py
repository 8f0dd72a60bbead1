"""Pod building blocks shared by every workload, built from the deploy contract (`contract/`).

Commands, ports, env and probes come from a `ServiceSpec`, never retyped here; this module adds
only what the cluster needs around them: the hardened security contexts, writable scratch
volumes for a read-only root filesystem, and resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from contract.service import SCRATCH, ServiceSpec

# The non-root user baked into every image (see services/Dockerfile).
APP_UID = 10001
# Libraries that write to $HOME or caches get a writable place under the scratch volume.
SCRATCH_ENV = {
    "HOME": SCRATCH,
    "XDG_CACHE_HOME": f"{SCRATCH}/.cache",
    "MPLCONFIGDIR": f"{SCRATCH}/.matplotlib",
}

# Checkov findings every workload accepts, each with its reason. They travel on the object as
# `checkov.io/skip<n>` annotations, where checkov reads them, so `checkov` over the rendered
# manifests is clean with no skip list of its own. Checkov splits each value at "=": no "=" in a
# reason.
ACCEPTED_FINDINGS = {
    "CKV_K8S_43": "images are pinned by tag and the config refuses untagged and latest "
    "references; digests are accepted too, but images built into minikube have none",
    "CKV_K8S_15": "minikube must never pull (images are built into the node); on EKS the config "
    "pins a version tag or digest, so IfNotPresent pulls each version once per node",
}
# Accepted only where the pod mounts its service account token: IRSA needs it to assume its role.
IRSA_TOKEN_FINDING = (
    "CKV_K8S_38",
    "the token is mounted only because IRSA needs it to assume this workload's AWS role; "
    "every other pod mounts none",
)
# Accepted where a program reads a secret setting only from its environment (MLflow its backend
# store URI and its users' passwords, MLflow's client its credentials, the API its token): the
# variable comes from a Secret by secretKeyRef, never as a plain value.
SECRET_ENV_FINDING = (
    "CKV_K8S_35",
    "the program reads this setting from its environment only (MLflow its backend store URI, "
    "which holds the database password, and its users' passwords; MLflow's client its "
    "credentials; the API its token); the variable comes from a Secret by secretKeyRef, so "
    "the value is in neither the pod spec nor the rendered manifests",
)


def accepted_findings(irsa_token: bool = False, secret_env: bool = False) -> dict[str, str]:
    """The `checkov.io/skip<n>` annotations of a Deployment, Job or CronJob, with the token
    finding when its pod mounts a service account token for IRSA, and the secret variable finding
    when a setting reaches it from a Secret as a variable."""
    found = dict(ACCEPTED_FINDINGS)
    for accepted, (check, reason) in (
        (irsa_token, IRSA_TOKEN_FINDING),
        (secret_env, SECRET_ENV_FINDING),
    ):
        if accepted:
            found[check] = reason
    return {
        f"checkov.io/skip{n}": f"{check}={reason}"
        for n, (check, reason) in enumerate(sorted(found.items()), 1)
    }


@dataclass(frozen=True)
class Resources:
    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"

    def to_k8s(self) -> k8s.core.v1.ResourceRequirementsArgs:
        return k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": self.cpu_request, "memory": self.memory_request},
            limits={"cpu": self.cpu_limit, "memory": self.memory_limit},
        )


def pod_security() -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=APP_UID,
        run_as_group=APP_UID,
        fs_group=APP_UID,  # so the non-root user can write a mounted volume
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=APP_UID,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def scratch_volume() -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="scratch", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="512Mi")
    )


def _probe(path: str, initial_delay: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        initial_delay_seconds=initial_delay,
        period_seconds=10,
        timeout_seconds=5,
        failure_threshold=failures,
    )


def _tcp_probe(port: str, initial_delay: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=port),
        initial_delay_seconds=initial_delay,
        period_seconds=10,
        timeout_seconds=5,
        failure_threshold=failures,
    )


def env_list(values: Mapping[str, pulumi.Input[str]]) -> list[k8s.core.v1.EnvVarArgs]:
    return [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(values.items())]


def secret_variable(
    variable: str,
    secret: tuple[str, k8s.meta.v1.ObjectMetaArgs],
    key: str,
    value: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.EnvVarArgs:
    """A Secret (resource name and metadata) holding `value` under `key`, and `variable` read
    from it. The reference goes through the resource, so the workload waits for its Secret, and
    the value is in neither the pod spec nor its logs."""
    name, meta = secret
    created = k8s.core.v1.Secret(name, metadata=meta, string_data={key: value}, opts=opts)
    selector = k8s.core.v1.SecretKeySelectorArgs(name=created.metadata.name, key=key)
    return k8s.core.v1.EnvVarArgs(
        name=variable, value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=selector)
    )


@dataclass(frozen=True)
class TcpPorts:
    """The named ports of a process that speaks no HTTP (Dask's), probed by connecting: `live`
    listens while the process runs, `ready` once it takes work."""

    ports: Mapping[str, int]
    live: str
    ready: str

    def __post_init__(self) -> None:
        unknown = {self.live, self.ready} - set(self.ports)
        if unknown:
            raise ValueError(f"probed ports {sorted(unknown)} are not among {sorted(self.ports)}")


@dataclass(frozen=True)
class ContainerArgs:
    spec: ServiceSpec
    image: str
    pull_policy: str
    env: Mapping[str, pulumi.Input[str]]
    resources: Resources
    secret_env: tuple[k8s.core.v1.EnvVarArgs, ...] = ()
    mounts: tuple[k8s.core.v1.VolumeMountArgs, ...] = ()
    tcp: TcpPorts | None = None  # for a spec without an HTTP port


Probes = tuple[
    k8s.core.v1.ProbeArgs | None, k8s.core.v1.ProbeArgs | None, k8s.core.v1.ProbeArgs | None
]


def _ports_and_probes(
    args: ContainerArgs,
) -> tuple[list[k8s.core.v1.ContainerPortArgs] | None, Probes]:
    """The named ports, and the startup, liveness and readiness probes: HTTP on the spec's paths,
    or TCP connects on the named ports of `tcp`. A slow first start (imports, migrations) is
    covered by the startup probe, so liveness stays strict afterwards."""
    spec, tcp = args.spec, args.tcp
    if tcp is not None:
        if spec.port is not None:
            raise ValueError(f"{spec.name} has an HTTP port; it takes no TCP ports")
        ports = [
            k8s.core.v1.ContainerPortArgs(name=name, container_port=number)
            for name, number in tcp.ports.items()
        ]
        live, ready = tcp.live, tcp.ready
        return ports, (_tcp_probe(live, 5, 30), _tcp_probe(live, 0, 3), _tcp_probe(ready, 0, 3))
    http = None
    if spec.port is not None:
        http = [k8s.core.v1.ContainerPortArgs(name="http", container_port=spec.port)]
    return http, (
        _probe(spec.live_path, 5, 30) if spec.live_path else None,
        _probe(spec.live_path, 0, 3) if spec.live_path else None,
        _probe(spec.ready_path, 0, 3) if spec.ready_path else None,
    )


def container(args: ContainerArgs) -> k8s.core.v1.ContainerArgs:
    """The spec's argv (with `$(VAR)` left for Kubernetes to expand), port, env and probes."""
    spec = args.spec
    env = {**spec.env, **SCRATCH_ENV, **args.env}
    ports, (startup, liveness, readiness) = _ports_and_probes(args)
    return k8s.core.v1.ContainerArgs(
        name=spec.name,
        image=args.image,
        image_pull_policy=args.pull_policy,
        # command + args rather than args alone, so the image's ENTRYPOINT cannot change it.
        command=list(spec.args[:1]),
        args=list(spec.args[1:]),
        env=[*env_list(env), *args.secret_env],
        ports=ports,
        startup_probe=startup,
        liveness_probe=liveness,
        readiness_probe=readiness,
        resources=args.resources.to_k8s(),
        security_context=container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="scratch", mount_path=SCRATCH),
            *args.mounts,
        ],
    )
