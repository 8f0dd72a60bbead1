"""What a stack exports, the same names on every target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from stacks.workloads import Workloads


@dataclass(frozen=True)
class StackOutputs(Workloads):
    """The workloads' outputs, on a cloud target its bucket and kubeconfig (and MLflow's RDS
    endpoint), and with `public_access` the API's public URL."""

    bucket_name: pulumi.Output[str] | None = None
    kubeconfig: pulumi.Output[str] | None = None
    public_url: pulumi.Output[str] | None = None
    mlflow_database_endpoint: pulumi.Output[str] | None = None  # with mlflow_database: rds

    @classmethod
    def of(cls, workloads: Workloads, **cloud: Any) -> StackOutputs:
        return cls(**asdict_shallow(workloads), **cloud)

    def exports(self) -> dict[str, pulumi.Output[str]]:
        """The set outputs by name; secrets stay secret."""
        return {k: v for k, v in asdict_shallow(self).items() if v is not None}


def asdict_shallow(obj: Any) -> dict[str, Any]:
    # dataclasses.asdict deep-copies, which Outputs do not survive.
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
