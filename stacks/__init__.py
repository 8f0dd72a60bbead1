"""Stack composition: one validated config in, the target's resources and outputs out."""

from __future__ import annotations

from stacks.config import Config, EksConfig
from stacks.outputs import StackOutputs


def build(cfg: Config) -> StackOutputs:
    """Build the target the config names; the target key, not the stack name, decides."""
    if isinstance(cfg, EksConfig):
        from stacks import eks

        return eks.build(cfg)
    from stacks import minikube

    return minikube.build(cfg)
