"""The stack's pods under podman, shared by the pod tests and the fault tests: the rendered
minikube objects, and a `Stack` that plays them with `kube.for_kube_play` and drives them the way
the kubelet and `kubectl port-forward` would."""

from __future__ import annotations

import base64
import http.server
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import yaml

from containers.kube import Playable, for_kube_play, init_job, pod_spec, service_hostnames
from containers.podman import Podman
from services.local.process import free_port
from stacks.config import MinikubeConfig

if TYPE_CHECKING:
    from k8s.harness import Graph

T = TypeVar("T")
READY_SECONDS = 300
TRAIN_SECONDS = 900


# MLflow asks who is calling: these tests call it as the trainer, whose password in the rendered
# Secret is what the mocks give every RandomPassword (tests/k8s/harness.py). The API ignores it.
WRITER = ("trainer", "generated-password")
WRITER_AUTH = "Basic " + base64.b64encode(":".join(WRITER).encode()).decode()


def call(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", WRITER_AUTH)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post(url: str, payload: Any) -> tuple[int, Any]:
    status, body = call(url, json.dumps(payload).encode())
    return status, json.loads(body)


@dataclass(frozen=True)
class Rendered:
    """The minikube stack's Kubernetes objects."""

    objects: list[dict[str, Any]]

    @classmethod
    def of(cls, graph: Graph) -> Rendered:
        """What the program under the mocks declared, as Kubernetes would get it."""
        return cls([o.manifest for o in graph.kubernetes_objects()])

    def one(self, kind: str, app: str) -> dict[str, Any]:
        (found,) = [
            o
            for o in self.objects
            if o["kind"] == kind
            and o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == app
        ]
        return found


@dataclass
class Stack:
    podman: Podman
    network: str
    images: dict[str, str]  # image name -> local tag
    played: dict[str, Playable] = field(default_factory=dict)  # pod key -> what kube play got
    containers: dict[str, str] = field(default_factory=dict)  # pod key -> its container
    hosts: dict[str, str] = field(default_factory=dict)  # Service hostname -> pod IP
    init_logs: dict[str, str] = field(default_factory=dict)  # pod key -> its init containers' logs

    def play(
        self,
        key: str,
        obj: dict[str, Any],
        extra: Sequence[dict[str, Any]] = (),
        name: str | None = None,
        ip: str | None = None,
    ) -> None:
        """kube play `obj` (with `extra` objects such as its PVC), converted by for_kube_play,
        after its init containers ran to completion (`init_job`; their logs in `init_logs`);
        `ip` gives its pod that address on the network (a pod played again keeps its Service's
        address, as a ClusterIP would)."""
        init = init_job(obj, f"{name or obj['metadata']['name']}-init")
        if init is not None:
            code, self.init_logs[key] = self.run_job(f"{key}-init", init)
            assert code == 0, f"{key}'s init containers exited {code}:\n{self.init_logs[key]}"
        spec = pod_spec(obj)
        ports = {
            p["containerPort"]: free_port() for c in spec["containers"] for p in c.get("ports", [])
        }
        images = {c["image"]: self.images[c["image"].split(":")[0]] for c in spec["containers"]}
        playable = for_kube_play(obj, images, self.hosts, ports, name=name)
        volumes = [o["metadata"]["name"] for o in extra if o["kind"] == "PersistentVolumeClaim"]
        manifest = yaml.safe_dump_all([*extra, playable.manifest])
        self.podman.play(manifest, self.network, [playable.pod], volumes, ip)
        self.played[key] = playable
        (self.containers[key],) = self.podman.containers(playable.pod).values()

    def secrets(self, rendered: Rendered) -> None:
        """Every rendered Secret as the podman secret the pods' `secretKeyRef`s read."""
        for secret in (o for o in rendered.objects if o["kind"] == "Secret"):
            self.podman.secret(secret)

    @contextmanager
    def data_server(self, body: bytes) -> Iterator[str]:
        """`body` over HTTP from the host at the pod network's gateway, as a data source the pods
        read (http:// DATA_URI); MLflow's artifact proxy asks for credentials the trainer
        sends MLflow only. Its URL."""
        gateway = self.gateway()

        class Data(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer((gateway, 0), Data)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://{gateway}:{server.server_address[1]}/data.csv"
        finally:
            server.shutdown()
            server.server_close()

    def gateway(self) -> str:
        """The pod network's gateway: where the host's connections to the pods come from."""
        (network,) = json.loads(self.podman.run("network", "inspect", self.network).stdout)
        return str(network["subnets"][0]["gateway"])

    def service_ip(self) -> str:
        """An address on the network that podman hands out last (it counts up from the start)."""
        (network,) = json.loads(self.podman.run("network", "inspect", self.network).stdout)
        subnet = ipaddress.ip_network(network["subnets"][0]["subnet"])
        return str(list(subnet.hosts())[-1])

    def url(self, key: str, path: str = "", port: int | None = None) -> str:
        """The pod's published port (of container port `port` when it has several) + `path`."""
        ports = self.played[key].ports
        published = ports[port] if port is not None else one(ports.values())
        return f"http://127.0.0.1:{published}{path}"

    def probe(self, key: str, kind: str) -> str:
        """An HTTP probe's URL on the published port."""
        probe = one(self.played[key].probes.values())[kind]
        assert probe.path is not None, f"{key}'s {kind} is a TCP probe, not HTTP"
        return self.url(key, probe.path, probe.port)

    def passes(self, key: str, kind: str) -> bool:
        """Whether the probe passes now: 200 from its path, or a TCP connect to the pod's IP at
        its port, as the kubelet connects."""
        probe = one(self.played[key].probes.values())[kind]
        try:
            if probe.path is not None:
                return call(self.probe(key, kind))[0] == 200
            address = (self.podman.ip(self.played[key].pod, self.network), probe.port)
            with socket.create_connection(address, timeout=5):
                return True
        except OSError:
            return False

    def wait_ready(self, key: str) -> None:
        """Run the readiness probe, as the kubelet would; fail early if the pod dies."""
        container = self.containers[key]
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.passes(key, "readinessProbe"):
                return
            info = self.podman.inspect(container)
            state = info["State"]
            if not state["Running"] or info.get("RestartCount", 0):  # restartPolicy: Always
                pytest.fail(f"{key} exited ({state['ExitCode']}):\n{self.podman.logs(container)}")
            time.sleep(1)
        pytest.fail(f"{key} not ready:\n{self.podman.logs(container)}")

    def kill(self, key: str) -> None:
        """SIGKILL the pod's container, like a node killing it; nothing restarts it (podman's
        restart policy skips a kill, as the kubelet's back-off would wait) until `start`. Returns
        once podman has also stopped the pod, which it does when its last container exits, so
        that this stop cannot catch the container started next."""
        self.podman.run("kill", self.containers[key])
        pod = self.played[key].pod
        deadline = time.monotonic() + READY_SECONDS
        while self.podman.run(
            "pod", "inspect", pod, "--format", "{{.State}}"
        ).stdout.strip() not in (
            "Exited",
            "Stopped",
        ):
            if time.monotonic() > deadline:
                pytest.fail(f"the pod {pod} did not stop after its container was killed")
            time.sleep(0.5)

    def start(self, key: str) -> None:
        """Start the pod's container again (and the pod with it)."""
        self.podman.run("start", self.containers[key])

    def run_job(self, key: str, job: dict[str, Any], name: str | None = None) -> tuple[int, str]:
        """A Job's pod to completion: its exit code (what the Job controller checks) and logs."""
        self.play(key, job, name=name)
        waited = self.podman.run("wait", self.containers[key], timeout=TRAIN_SECONDS)
        return int(waited.stdout.split()[-1]), self.podman.logs(self.containers[key])


def one(values: Iterable[T]) -> T:
    (value,) = values
    return value


def pod_network(podman: Podman, prefix: str) -> str:
    """A podman network for the pods: a /24 of the minikube stack's pod network, where pod
    addresses are. The host reaches the pods from its gateway."""
    pods = MinikubeConfig.model_fields["pod_network_cidr"].default
    n = time.time_ns()
    subnets = list(pods.subnets(new_prefix=24))
    return podman.network(f"{prefix}-{n % 10**9}", str(subnets[1 + n % (len(subnets) - 1)]))


def alias_version(mlflow: str, model: str) -> str | None:
    status, body = call(f"{mlflow}/api/2.0/mlflow/registered-models/alias?name={model}&alias=prod")
    return str(json.loads(body)["model_version"]["version"]) if status == 200 else None


def env_value(obj: dict[str, Any], name: str) -> str:
    (container,) = pod_spec(obj)["containers"]
    (value,) = [e["value"] for e in container["env"] if e["name"] == name]
    return str(value)


@contextmanager
def running_stack(
    podman: Podman, images: dict[str, str], rendered: Rendered, trainer: dict[str, Any]
) -> Iterator[Stack]:
    """MLflow ready, the `trainer` Job's pod exited 0, the API ready; all of it removed
    afterwards (pods, the PVC's volume, the network), whether the tests passed or not."""
    stack = Stack(podman, pod_network(podman, "mlstack-pods"), images)
    try:
        stack.secrets(rendered)
        # MLflow's pod at a fixed address, as its Service has one: podman stops a pod whose last
        # container exits, and a pod started again would get a new address otherwise.
        ip = stack.service_ip()
        stack.play(
            "mlflow",
            rendered.one("Deployment", "mlflow"),
            extra=[rendered.one("PersistentVolumeClaim", "mlflow")],
            ip=ip,
        )
        stack.wait_ready("mlflow")
        stack.hosts.update({h: ip for h in service_hostnames(rendered.one("Service", "mlflow"))})
        code, logs = stack.run_job("trainer", trainer)
        assert code == 0, f"the trainer pod exited {code}:\n{logs}"
        stack.play("api", rendered.one("Deployment", "api"))
        stack.wait_ready("api")
        yield stack
    finally:
        left = podman.cleanup()
        assert left == [], f"left behind: {left}"
