"""podman as the tests drive it: the project's containers.conf, a storage root of the tests' own,
and every object the tests create recorded so that teardown removes exactly those."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

CONF = ROOT / "services" / "containers.conf"
# Shared by runs on this machine (images are cached by their layers); never the machine's own.
STORAGE = Path(os.environ.get("MLSTACK_PODMAN_ROOT", "/var/tmp/mlstack-podman"))
FLAGS = ("--root", str(STORAGE / "root"), "--runroot", str(STORAGE / "run"))


def unavailable() -> str | None:
    """Why containers cannot run here, or None when they can."""
    if shutil.which("podman") is None:
        return "podman is not installed (make test installs it with the other system packages)"
    if os.geteuid() != 0:
        return "the pods run under rootful podman (runc, netavark), which needs root"
    return None


@dataclass
class Podman:
    """Runs podman; remembers the pods, volumes and networks it made, to remove them all."""

    made: list[tuple[str, str]] = field(default_factory=list)  # (kind, name), in creation order

    @staticmethod
    def env() -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(CONF)}

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *FLAGS, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {result.stderr.strip()[-2000:]}")
        return result

    def inspect(self, name: str) -> dict[str, Any]:
        (info,) = json.loads(self.run("inspect", "--type", "container", name).stdout)
        return dict(info)

    def network(self, name: str, subnet: str) -> str:
        self.run("network", "create", "--subnet", subnet, name)
        self.made.append(("network", name))
        return name

    def container(self, name: str, image: str, network: str, ip: str) -> None:
        """`podman run -d` of `image` at `ip` on `network` (a server the pods reach, such as a
        database a managed service would provide); removed at the end like the rest."""
        self.remove("container", name)
        self.made.append(("container", name))
        self.run("run", "-d", "--name", name, "--network", network, "--ip", ip, image)

    def secret(self, obj: dict[str, Any]) -> None:
        """A rendered Secret, as kube play (4.3) reads a `secretKeyRef`: a podman secret of that
        name holding the Secret's data as JSON, base64 values (4.3 cannot read back the secrets
        it makes itself from a Secret in the play's YAML)."""
        data = dict(obj.get("data", {}))
        for key, value in obj.get("stringData", {}).items():
            data[key] = base64.b64encode(value.encode()).decode()
        name = obj["metadata"]["name"]
        self.remove("secret", name)
        self.made.append(("secret", name))
        self.run("secret", "create", name, "-", stdin=json.dumps(data))

    def play(
        self,
        manifest_yaml: str,
        network: str,
        pods: list[str],
        volumes: list[str],
        ip: str | None = None,
    ) -> None:
        """`podman kube play` from stdin (its one pod at `ip` when given); records what it will
        create before it runs."""
        # The session lock is held, so a pod or volume already under these names is a crashed
        # run's leftover: remove it rather than play into it.
        for kind, name in [("pod", p) for p in pods] + [("volume", v) for v in volumes]:
            self.remove(kind, name)
        self.made += [("volume", v) for v in volumes] + [("pod", p) for p in pods]
        address = ["--ip", ip] if ip else []
        self.run(
            "kube", "play", "--network", network, *address, "-", stdin=manifest_yaml, timeout=300
        )

    def containers(self, pod: str) -> dict[str, str]:
        """A pod's containers by their manifest name (kube play names them `<pod>-<name>`)."""
        listed = json.loads(
            self.run("ps", "-a", "--filter", f"pod={pod}", "--format", "json").stdout
        )
        names = [n for c in listed for n in c["Names"] if not c.get("IsInfra")]
        return {n.removeprefix(f"{pod}-"): n for n in names if n.startswith(f"{pod}-")}

    def ip(self, pod: str, network: str) -> str:
        infra = self.run("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").stdout.strip()
        networks = self.inspect(infra)["NetworkSettings"]["Networks"]
        return str(networks[network]["IPAddress"])

    def logs(self, container: str) -> str:
        result = self.run("logs", "--tail", "80", container, check=False)
        return result.stdout + result.stderr

    def remove(self, kind: str, name: str) -> None:
        if kind == "pod":
            self.run("pod", "rm", "--force", "--time", "5", name, check=False)
        elif kind == "secret":
            self.run("secret", "rm", name, check=False)  # 4.3's has no --force
        else:
            self.run(kind, "rm", "--force", name, check=False)

    def cleanup(self) -> list[str]:
        """Remove everything made (pods before the volumes and networks they use); returns what
        is still there afterwards, which should be nothing."""
        for kind, name in reversed(self.made):
            if kind == "pod":
                self.remove(kind, name)
        for kind, name in reversed(self.made):
            if kind != "pod":
                self.remove(kind, name)
        left = []
        for kind, name in self.made:
            # podman 4.3 has no `secret exists`; `inspect` fails the same way on a missing one.
            verb = "inspect" if kind == "secret" else "exists"
            if self.run(kind, verb, name, check=False).returncode == 0:
                left.append(f"{kind} {name}")
        return left
