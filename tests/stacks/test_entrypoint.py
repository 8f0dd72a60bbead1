"""`__main__.py`, as `pulumi up` runs it: config in, stack built, outputs exported."""

from __future__ import annotations

import runpy
from typing import Any

import pulumi
import pytest
from k8s.harness import EKS_SETTINGS, ROOT, Recorder, mocks, stack_config

from stacks.outputs import StackOutputs
from tests.binaries import imported_by

EXPECTED = {
    "minikube": {
        "namespace",
        "mlflow_service",
        "api_service",
        "trainer_job",
        "port_forward_api",
        "port_forward_mlflow",
        "port_forward_grafana",
        "grafana_admin_password",
    },
}
EXPECTED["eks"] = EXPECTED["minikube"] | {"bucket_name", "kubeconfig", "mlflow_database_endpoint"}


def run_main(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        root = pulumi.runtime.get_root_resource()
        before = set(root.outputs)  # type: ignore[union-attr]
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        fresh = {k: v for k, v in root.outputs.items() if k not in before}  # type: ignore[union-attr]
        root.outputs.clear()  # type: ignore[union-attr]
        return pulumi.Output.all(**fresh).apply(exported.update)

    with mocks(Recorder(), stack):
        config, secret_keys = stack_config(stack, overrides)
        pulumi.runtime.set_all_config(config, secret_keys)
        program()
    return exported


@pytest.mark.parametrize(("stack", "overrides"), [("minikube", {}), ("eks", EKS_SETTINGS)])
def test_main_exports_the_stack_outputs(stack: str, overrides: dict[str, Any]) -> None:
    exported = run_main(stack, overrides)
    assert set(exported) == EXPECTED[stack]


def test_every_stack_output_is_exported_on_eks() -> None:
    # minikube leaves the cloud outputs unset; EKS sets them all, and `__main__` drops none.
    # public_url is set only with public_access on (tests/stacks/test_public_access.py).
    fields = set(StackOutputs.__dataclass_fields__) - {"public_url"}
    assert set(run_main("eks", EKS_SETTINGS)) == fields


def test_main_stops_on_bad_config_with_the_config_error() -> None:
    with pytest.raises(pulumi.RunError, match="node_max_size: 1 is below node_desired_size"):
        run_main("eks", {**EKS_SETTINGS, "node_max_size": 1})


# Every module of the program, then the eks target with every part on (public access, a Dask
# cluster, a retraining schedule), which reaches what the modules import only when they build.
EVERY_PART = """
import importlib, pkgutil, sys
import infra, stacks
for package in (infra, stacks):
    for found in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{found.name}")
sys.path.insert(0, "tests")
from k8s.harness import EKS_PUBLIC, TOKEN, run_program
run_program("eks", {**EKS_PUBLIC, "trainer_workers": 2, "trainer_schedule": "0 3 * * 0"}, TOKEN)
"""


def test_the_program_imports_the_deploy_contract_and_never_the_application() -> None:
    # services/ sets BLAS threads on import and pulls in NumPy; infra/ and stacks/ read what they
    # share with it from contract/ alone.
    loaded = imported_by(EVERY_PART)
    assert {"stacks", "infra", "contract", "pulumi"} <= loaded
    assert loaded & {"services", "numpy", "mlflow"} == set()
