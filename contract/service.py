"""`ServiceSpec`: a service's command, port, environment defaults and probes.

Arguments may reference environment variables as `$(NAME)`, which Kubernetes expands natively
and `command()` expands locally, so only the values differ between targets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The writable scratch volume every pod mounts over its read-only root (infra/pod.py); HOME in
# the images.
SCRATCH = "/tmp"
ALL_INTERFACES = "0.0.0.0"  # where a service in a container listens

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    extra: str  # the pyproject extra the image installs
    args: tuple[str, ...]
    port: int | None = None  # container port, named "http"
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ready_path: str | None = None
    live_path: str | None = None
    needs: tuple[str, ...] = ()  # commands it runs besides its own, e.g. the one it execs

    @property
    def commands(self) -> tuple[str, ...]:
        """Every command the service needs on PATH: its own first."""
        return (self.args[0], *self.needs)

    def command(self, env: Mapping[str, str]) -> list[str]:
        """The argv with `$(NAME)` expanded from `env` over the spec's defaults."""
        values = {**self.env, **env}

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"{self.name}: argument needs ${name}, which is not set")
            return values[name]

        return [_VAR.sub(expand, arg) for arg in self.args]
