"""Terraform and the Pulumi `eks` stack declare the same EKS side, from their defaults and from
the values they ship.

Each fact in `facts.FACTS` is read from both sides, twice (`SOURCES`):
- `defaults`: Terraform from `variables.tf`'s defaults alone, Pulumi from `Pulumi.yaml`'s
  defaults alone, so a default changed on one side fails even where a value file masks it;
- `shipped`: `terraform.tfvars.example` over those defaults, and `Pulumi.eks.yaml` over
  `Pulumi.yaml`'s.
Both sides also get what a user must set first (`EKS_SETTINGS`: who may reach the Kubernetes
API, which neither side ships, and Pulumi's region; Pulumi's defaults also need registry images).
A change made on one side only fails here, naming the fact and both values.

The security settings of issue 36 are facts too (`security_facts.py`): the control plane's role,
KMS key and log group, the VPC CNI's NetworkPolicy enforcement, the nodes' hop limit of 1
(`node_imds`), Grafana's namespaced sidecar and its admin password.
Deliberately not compared: an extra only Terraform has (a bucket lifecycle rule).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from k8s.harness import EKS_REGION, EKS_SETTINGS, PROJECT, ROOT, Graph, eks, run_program

from stacks.workloads import Workloads
from terraform.facts import FACTS, pulumi_facts, terraform_facts
from terraform.hcl import EXAMPLE_VARS, TERRAFORM, Terraform

ENDPOINT = "endpoint_public_access_cidrs"
# Terraform's variable with no default gets the same value the Pulumi side is given.
TF_REQUIRED = {ENDPOINT: EKS_SETTINGS[ENDPOINT]}
# Pulumi.yaml's image defaults name no registry, which the eks target refuses.
REGISTRY_IMAGES = {
    f"{role}_image": f"ghcr.io/example/mlstack-{image}:0.1.0"
    for role, image in (("mlflow", "mlflow"), ("trainer", "trainer"), ("api", "serving"))
}
SIDES = {
    "defaults": (
        "Terraform (terraform/variables.tf defaults)",
        "Pulumi (eks target: Pulumi.yaml defaults)",
    ),
    "shipped": (
        "Terraform (terraform/*.tf, terraform.tfvars.example)",
        "Pulumi (eks stack: Pulumi.eks.yaml over Pulumi.yaml)",
    ),
}
SOURCES = sorted(SIDES)
TERRAFORM_SIDE, PULUMI_SIDE = SIDES["shipped"]


@functools.cache
def pulumi_graph(source: str) -> Graph:
    if source == "defaults":
        overrides = {"target": "eks", **EKS_SETTINGS, **REGISTRY_IMAGES}
        return run_program("eks", overrides, stack_file=False)
    return eks()  # the session's run of the eks stack file


def terraform_module(source: str, directory: Path = TERRAFORM) -> Terraform:
    if source == "defaults":
        return Terraform(directory, var_file=None, var=TF_REQUIRED)
    return Terraform(directory)


@functools.cache
def pulumi_side(source: str) -> dict[str, Any]:
    return pulumi_facts(pulumi_graph(source))


@functools.cache
def terraform_side(source: str) -> dict[str, Any]:
    return terraform_facts(terraform_module(source))


@pytest.fixture(scope="module")
def eks_graph() -> Graph:
    return pulumi_graph("shipped")


def differences(
    terraform: dict[str, Any], pulumi: dict[str, Any], source: str = "shipped"
) -> list[str]:
    """One line per fact that differs, naming both sides' values."""
    terraform_name, pulumi_name = SIDES[source]
    return [
        f"{fact} differs: {terraform_name} has {terraform[fact]!r}; "
        f"{pulumi_name} has {pulumi[fact]!r}. Change the other side to match."
        for fact in FACTS
        if terraform[fact] != pulumi[fact]
    ]


@pytest.mark.parametrize("source", SOURCES)
def test_both_sides_describe_every_fact(source: str) -> None:
    for side, facts in zip(
        SIDES[source], (terraform_side(source), pulumi_side(source)), strict=True
    ):
        assert set(facts) == set(FACTS), f"{side} facts: {sorted(set(facts) ^ set(FACTS))}"
        missing = [fact for fact in FACTS if facts[fact] in (None, [], {})]
        assert not missing, f"{side} has no value for {missing}"


@pytest.mark.parametrize("fact", FACTS)
@pytest.mark.parametrize("source", SOURCES)
def test_terraform_and_the_pulumi_eks_stack_agree_on(source: str, fact: str) -> None:
    terraform, pulumi = terraform_side(source)[fact], pulumi_side(source)[fact]
    terraform_name, pulumi_name = SIDES[source]
    assert terraform == pulumi, (
        f"{fact} differs: {terraform_name} has {terraform!r}; {pulumi_name} has {pulumi!r}. "
        "Change the other side to match."
    )


def test_the_subnets_spread_over_at_least_two_availability_zones() -> None:
    zones = terraform_side("shipped")["subnet_availability_zones"]
    assert len(set(zones)) == len(zones) >= 2, f"subnets share or lack zones: {zones}"


def _with_vpc_default(tmp_path: Path, cidr: str) -> Path:
    """A copy of terraform/ whose variables.tf gives vpc_cidr another default."""
    module = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, module, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    text = (module / "variables.tf").read_text()
    block = text.index('variable "vpc_cidr" {')
    default = 'default     = "10.0.0.0/16"'
    at = text.index(default, block)
    assert at < text.index("\n}\n", block), "vpc_cidr's default is no longer written as expected"
    changed = text[:at] + f'default     = "{cidr}"' + text[at + len(default) :]
    (module / "variables.tf").write_text(changed)
    return module


def test_a_changed_default_in_variables_tf_fails_even_where_the_example_masks_it(
    tmp_path: Path,
) -> None:
    module = _with_vpc_default(tmp_path, "10.1.0.0/16")
    found = {
        source: differences(
            terraform_facts(terraform_module(source, module)), pulumi_side(source), source
        )
        for source in SOURCES
    }
    # The example sets vpc_cidr itself, so over it nothing differs; the defaults catch it.
    assert found["shipped"] == []
    assert [line.split(" ", 1)[0] for line in found["defaults"]] == ["vpc_cidr"]
    assert "has '10.1.0.0/16'" in found["defaults"][0]
    assert "has '10.0.0.0/16'" in found["defaults"][0]
    assert SIDES["defaults"][0] in found["defaults"][0]


def test_neither_side_ships_an_endpoint_cidr_and_both_stop_until_one_is_set() -> None:
    # Terraform: no default, so `terraform plan` asks for it (tests/terraform/test_terraform.py
    # runs that plan); the example sets a documentation range, never the open internet.
    tf = Terraform()
    assert "default" not in tf.variables[ENDPOINT]
    assert "0.0.0.0/0" not in tf.values[ENDPOINT]
    # Pulumi: Pulumi.yaml's default is empty and Pulumi.eks.yaml sets nothing, so the eks stack
    # as shipped (region set, nothing else) stops naming the key and the command that sets it.
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"][ENDPOINT]
    assert declared["default"] == []
    shipped = yaml.safe_load((ROOT / "Pulumi.eks.yaml").read_text())["config"]
    assert f"{PROJECT}:{ENDPOINT}" not in shipped
    with pytest.raises(pulumi.RunError) as stopped:
        run_program("eks", EKS_REGION)
    (line,) = str(stopped.value).splitlines()[1:]
    assert line.startswith(f"  {ENDPOINT}: is not set;")
    assert "your address/32" in line
    assert f"pulumi config set --path '{ENDPOINT}[0]'" in line


def test_an_endpoint_opened_to_the_internet_on_purpose_is_declared_on_both_sides() -> None:
    open_to_all = ["0.0.0.0/0"]
    pulumi = pulumi_facts(run_program("eks", {**EKS_SETTINGS, ENDPOINT: open_to_all}))
    terraform = terraform_facts(Terraform(var={ENDPOINT: open_to_all}))
    assert pulumi[ENDPOINT] == terraform[ENDPOINT] == open_to_all


def test_terraform_outputs_carry_the_pulumi_export_names_of_the_cloud_side(
    eks_graph: Graph,
) -> None:
    # What the eks stack exports beyond the shared workloads, plus Grafana (Terraform installs
    # the monitoring chart): Terraform users find the same values under the same names.
    workload_exports = set(Workloads.__dataclass_fields__)
    cloud = (set(eks_graph.exports) - workload_exports) | {"port_forward_grafana"}
    missing = sorted(cloud - set(Terraform().outputs))
    assert not missing, f"terraform/outputs.tf lacks the Pulumi export names {missing}"


def _example_with(tmp_path: Path, **values: str) -> Path:
    """terraform.tfvars.example with some assignments replaced (values as HCL)."""
    lines = EXAMPLE_VARS.read_text().splitlines()
    kept = [line for line in lines if line.split("=")[0].strip() not in values]
    path = tmp_path / "changed.tfvars"
    path.write_text("\n".join([*kept, *(f"{k} = {v}" for k, v in values.items())]) + "\n")
    return path


def test_a_change_to_terraform_alone_is_reported_with_both_values(tmp_path: Path) -> None:
    changed = Terraform(
        var_file=_example_with(tmp_path, vpc_cidr='"10.1.0.0/16"', node_desired_size="3")
    )
    found = differences(terraform_facts(changed), pulumi_side("shipped"))
    assert [line.split(" ", 1)[0] for line in found] == ["vpc_cidr", "node_sizes"]
    assert "has '10.1.0.0/16'" in found[0] and "has '10.0.0.0/16'" in found[0]
    assert found[0].index(TERRAFORM_SIDE) < found[0].index(PULUMI_SIDE)


def test_a_change_to_the_pulumi_stack_alone_is_reported() -> None:
    changed = pulumi_facts(
        run_program(
            "eks",
            {
                **EKS_SETTINGS,
                "node_instance_type": "m5.large",
                "monitoring_chart_version": "80.0.0",
            },
        )
    )
    found = differences(terraform_side("shipped"), changed)
    assert [line.split(" ", 1)[0] for line in found] == ["node_instance_types", "monitoring_chart"]
    assert "['m5.large']" in found[0] and "['t3.medium']" in found[0]
