"""From the rendered Kubernetes objects to what `podman kube play` (4.3) runs, changed in one place.

`for_kube_play` (with `init_job`, which runs a Deployment's init containers the way the kubelet
does) is the only code that edits a rendered object. It changes just what podman cannot take and
says why for each change; a command, args, env value, user, volume mount or
security context is never touched, because those are what the pod tests put under test
(`untouched` lists them, and the tests compare them before and after); `$(NAME)` references in
a command are expanded exactly as the kubelet expands them, since podman does not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What the conversion must leave exactly as rendered, per container and per pod.
UNTOUCHED_CONTAINER = ("command", "args", "env", "securityContext", "volumeMounts", "resources")
UNTOUCHED_POD = ("securityContext", "volumes", "restartPolicy")
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class Probe:
    """A probe as the kubelet would run it: an HTTP GET of `path`, or (no path) a TCP connect,
    on the container port `port` (a named port resolved to its number)."""

    port: int
    path: str | None = None


@dataclass(frozen=True)
class Playable:
    pod: str  # the pod name kube play gives it
    manifest: dict[str, Any]  # the object kube play gets
    probes: dict[str, dict[str, Probe]]  # container -> {probe kind: probe}, for the test to run
    ports: dict[int, int]  # container port -> its published port on 127.0.0.1


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec inside a Deployment, a Job or a Pod."""
    spec = obj["spec"]
    return dict(spec["template"]["spec"] if "template" in spec else spec)


def untouched(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `for_kube_play` must not change, for comparing before and after."""
    spec = pod_spec(obj)
    return {
        "pod": {k: spec.get(k) for k in UNTOUCHED_POD},
        "containers": {
            c["name"]: {
                **{k: c.get(k) for k in UNTOUCHED_CONTAINER},
                "command": kubelet_expand(c.get("command"), c.get("env", [])),
                "args": kubelet_expand(c.get("args"), c.get("env", [])),
            }
            for c in spec["containers"]
        },
    }


def init_job(obj: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """A Deployment's init containers as a Job of their own, named `name` (None without any).

    podman 4.3 restarts an init container under the pod's `restartPolicy: Always` for as long as
    the pod lives, and never starts the containers after it. The kubelet runs the init
    containers to completion first, then the containers: the test does the same, running this
    Job's pod to its end before it plays the Deployment (`for_kube_play` leaves them out). The
    init containers and the pod around them (security context, volumes, service account) are
    kept as rendered; only the restart policy is the Job's own, and an emptyDir is the pod's own
    (the db-upgrade init container writes nothing the server reads).
    """
    spec = pod_spec(obj)
    if not spec.get("initContainers"):
        return None
    pod = {k: v for k, v in spec.items() if k not in ("initContainers", "containers")}
    pod["containers"] = copy.deepcopy(spec["initContainers"])
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": obj["metadata"]["namespace"]},
        "spec": {
            "template": {
                "metadata": copy.deepcopy(obj["spec"]["template"]["metadata"]),
                "spec": pod,
            }
        },
    }


def kubelet_expand(words: list[str] | None, env: list[dict[str, Any]]) -> list[str] | None:
    """`$(NAME)` in a command or args replaced from the container's plain env, as the kubelet
    does before it starts the container (undefined names stay as written, as there)."""
    if words is None:
        return None
    values = {e["name"]: e["value"] for e in env if "value" in e}
    return [_VAR.sub(lambda m: values.get(m.group(1), m.group(0)), w) for w in words]


def probe_of(container: Mapping[str, Any], probe: Mapping[str, Any]) -> Probe:
    """An httpGet or tcpSocket probe of `container`, its port resolved from the named ports."""
    if "httpGet" in probe:
        action, path = probe["httpGet"], probe["httpGet"]["path"]
    elif "tcpSocket" in probe:
        action, path = probe["tcpSocket"], None
    else:
        raise ValueError(f"{container['name']}: a probe the tests cannot run: {sorted(probe)}")
    port = action["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return Probe(port=int(port), path=path)


def service_hostnames(service: Mapping[str, Any]) -> list[str]:
    """Every name a pod may use for a Service, as cluster DNS resolves it."""
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    fqdn = f"{name}.{namespace}.svc"
    return [name, f"{name}.{namespace}", fqdn, f"{fqdn}.cluster.local"]


def for_kube_play(
    obj: Mapping[str, Any],
    images: Mapping[str, str],
    hosts: Mapping[str, str],
    ports: Mapping[int, int],
    name: str | None = None,
) -> Playable:
    """`obj` (a rendered Deployment or Job) as `podman kube play` runs it.

    images: rendered image -> locally built tag; hosts: Service hostname -> pod IP;
    ports: container port -> free port on 127.0.0.1; name: a pod name for a Job run again or
    for one more replica of a Deployment.
    """
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    if out["kind"] == "Job":
        # 1. Job -> Pod. kube play skips Jobs (info log only); a Job runs its pod template to
        #    completion, which a Pod with the template's `restartPolicy: Never` does once. The
        #    test checks the exit code where the Job controller would.
        template = out["spec"]["template"]
        out = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name or out["metadata"]["name"],
                "namespace": out["metadata"]["namespace"],
                "labels": template["metadata"]["labels"],
            },
            "spec": template["spec"],
        }
        pod = out["metadata"]["name"]
    else:
        # Replicas -> one. kube play (4.3) starts every replica of a play as `<deployment>-pod-N`,
        # all publishing the same host ports, so all but the first fail to start; each replica
        # is the Deployment played again under another name (`name`), with ports of its own.
        out["spec"]["replicas"] = 1
        if name:
            out["metadata"] = {**out["metadata"], "name": name}
        pod = f"{out['metadata']['name']}-pod-0"
    spec = out["spec"]["template"]["spec"] if out["kind"] == "Deployment" else out["spec"]
    # 7. Init containers -> left out: the test runs them first, as a Job of their own (`init_job`
    #    says why), where the kubelet would run them before the containers.
    spec.pop("initContainers", None)
    # 2. Services -> hostAliases. There is no kube-proxy or cluster DNS: each Service name a pod
    #    may use resolves to the serving pod's IP on the test's podman network, the address a
    #    ClusterIP would route to (the target port is the container port, as in the Services).
    if hosts:
        by_ip: dict[str, list[str]] = {}
        for host, ip in sorted(hosts.items()):
            by_ip.setdefault(ip, []).append(host)
        spec["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in by_ip.items()]
    probes: dict[str, dict[str, Probe]] = {}
    published: dict[int, int] = {}
    for container in spec["containers"]:
        # 3. Images -> the tags built from services/Dockerfile by the test session (`localhost/`
        #    names, which podman never tries to pull; imagePullPolicy stays `Never`).
        container["image"] = images[container["image"]]
        # 4. `$(NAME)` in command/args -> expanded from the container's env, which is what the
        #    kubelet does; podman 4.3 passes them literally (`--port '$(MLFLOW_PORT)'`). The
        #    argv the process gets is the one Kubernetes would give it.
        for key in ("command", "args"):
            if key in container:
                container[key] = kubelet_expand(container[key], container.get("env", []))
        # 5. Probes -> removed, and handed to the test, which runs them itself (GET the path, or
        #    connect to the port): podman 4.3 ignores readiness and startup probes and runs
        #    liveness probes as `curl`/`nc` inside the image, on systemd timers that never fire
        #    here.
        probes[container["name"]] = {
            kind: probe_of(container, container.pop(kind)) for kind in PROBES if kind in container
        }
        # 6. Ports -> also published on 127.0.0.1 (hostPort/hostIP): the test reaches a pod the
        #    way `kubectl port-forward` does. The container port and its name stay.
        for port in container.get("ports", []):
            port["hostPort"] = ports[port["containerPort"]]
            port["hostIP"] = "127.0.0.1"
            published[port["containerPort"]] = port["hostPort"]
    return Playable(pod=pod, manifest=out, probes=probes, ports=published)
