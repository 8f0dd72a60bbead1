"""Terraform and the Pulumi `eks` stack declare the same EKS side.

Each fact in `facts.FACTS` is read from both: Terraform from `terraform/*.tf` with
`terraform.tfvars.example` over the variables' defaults, Pulumi from the program's resource
graph under mocks with `Pulumi.eks.yaml` over `Pulumi.yaml`'s defaults. A change made on one side
only fails here, naming the fact and both values.

Neither side ships `endpoint_public_access_cidrs` (each user sets their own address): the
Pulumi side gets the documentation range the example file sets, as a user would set theirs.

Deliberately not compared: extras only Terraform has (KMS envelope encryption of Kubernetes
secrets, all five control-plane log types, a bucket lifecycle rule).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from k8s.harness import EKS_REGION, EKS_SETTINGS, PROJECT, ROOT, Graph, run_program

from stacks.workloads import Workloads
from terraform.facts import FACTS, pulumi_facts, terraform_facts
from terraform.hcl import EXAMPLE_VARS, Terraform

ENDPOINT = "endpoint_public_access_cidrs"
TERRAFORM_SIDE = "Terraform (terraform/*.tf, terraform.tfvars.example)"
PULUMI_SIDE = "Pulumi (eks stack: Pulumi.eks.yaml over Pulumi.yaml)"


@pytest.fixture(scope="module")
def eks_graph() -> Graph:
    return run_program("eks", EKS_SETTINGS)


@pytest.fixture(scope="module")
def pulumi_side(eks_graph: Graph) -> dict[str, Any]:
    return pulumi_facts(eks_graph)


@pytest.fixture(scope="module")
def terraform_side() -> dict[str, Any]:
    return terraform_facts(Terraform())


def differences(terraform: dict[str, Any], pulumi: dict[str, Any]) -> list[str]:
    """One line per fact that differs, naming both sides' values."""
    return [
        f"{fact} differs: {TERRAFORM_SIDE} has {terraform[fact]!r}; "
        f"{PULUMI_SIDE} has {pulumi[fact]!r}. Change the other side to match."
        for fact in FACTS
        if terraform[fact] != pulumi[fact]
    ]


def test_both_sides_describe_every_fact(
    terraform_side: dict[str, Any], pulumi_side: dict[str, Any]
) -> None:
    for side, facts in ((TERRAFORM_SIDE, terraform_side), (PULUMI_SIDE, pulumi_side)):
        assert set(facts) == set(FACTS), f"{side} facts: {sorted(set(facts) ^ set(FACTS))}"
        missing = [fact for fact in FACTS if facts[fact] in (None, [], {})]
        assert not missing, f"{side} has no value for {missing}"


@pytest.mark.parametrize("fact", FACTS)
def test_terraform_and_the_pulumi_eks_stack_agree_on(
    fact: str, terraform_side: dict[str, Any], pulumi_side: dict[str, Any]
) -> None:
    assert terraform_side[fact] == pulumi_side[fact], (
        f"{fact} differs: {TERRAFORM_SIDE} has {terraform_side[fact]!r}; "
        f"{PULUMI_SIDE} has {pulumi_side[fact]!r}. Change the other side to match."
    )


def test_the_subnets_spread_over_at_least_two_availability_zones(
    terraform_side: dict[str, Any],
) -> None:
    zones = terraform_side["subnet_availability_zones"]
    assert len(set(zones)) == len(zones) >= 2, f"subnets share or lack zones: {zones}"


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


def test_a_change_to_terraform_alone_is_reported_with_both_values(
    tmp_path: Path, pulumi_side: dict[str, Any]
) -> None:
    changed = Terraform(
        var_file=_example_with(tmp_path, vpc_cidr='"10.1.0.0/16"', node_desired_size="3")
    )
    found = differences(terraform_facts(changed), pulumi_side)
    assert [line.split(" ", 1)[0] for line in found] == ["vpc_cidr", "node_sizes"]
    assert "has '10.1.0.0/16'" in found[0] and "has '10.0.0.0/16'" in found[0]
    assert found[0].index(TERRAFORM_SIDE) < found[0].index(PULUMI_SIDE)


def test_a_change_to_the_pulumi_stack_alone_is_reported(terraform_side: dict[str, Any]) -> None:
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
    found = differences(terraform_side, changed)
    assert [line.split(" ", 1)[0] for line in found] == ["node_instance_types", "monitoring_chart"]
    assert "['m5.large']" in found[0] and "['t3.medium']" in found[0]


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


def test_an_endpoint_open_to_the_internet_set_on_purpose_reaches_both_clusters(
    tmp_path: Path,
) -> None:
    open_to_all = ["0.0.0.0/0"]
    pulumi = pulumi_facts(run_program("eks", {**EKS_SETTINGS, ENDPOINT: open_to_all}))
    terraform = terraform_facts(
        Terraform(var_file=_example_with(tmp_path, endpoint_public_access_cidrs='["0.0.0.0/0"]'))
    )
    assert pulumi[ENDPOINT] == terraform[ENDPOINT] == open_to_all
