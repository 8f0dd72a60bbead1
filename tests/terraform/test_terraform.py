"""terraform/ on its own: formatted, pinned, documented, checkov-clean, and its variable
validations reject exactly the values the Pulumi stack config rejects.

Providers cannot be downloaded here, so nothing runs `terraform init` on the real root module.
The validation tests copy `variables.tf` alone into a temporary module, which needs no provider,
and let `terraform plan` evaluate its validation blocks for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from stacks.config import EksConfig
from stacks.loading import parse
from terraform.hcl import EXAMPLE_VARS, TERRAFORM, Terraform
from tests.binaries import binary, run

# No registry this project installs from ships Terraform (see the README, Terraform).
TERRAFORM_HINT = (
    "install Terraform >= 1.9 from HashiCorp (https://developer.hashicorp.com/terraform/install)"
)
# No version check against HashiCorp, no user CLI config, no prompts.
TF_ENV = {
    **os.environ,
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_CLI_CONFIG_FILE": os.devnull,
    "TF_INPUT": "0",
}


@pytest.fixture(scope="module")
def terraform_bin() -> str:
    """The terraform binary: skips where it is missing, fails under CI (which installs it)."""
    return binary("terraform", TERRAFORM_HINT)


def terraform(
    program: str, *args: str, cwd: Path = TERRAFORM, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run([program, *args], cwd=cwd, env=TF_ENV, stdin=stdin)


def test_terraform_files_are_formatted(terraform_bin: str) -> None:
    result = terraform(terraform_bin, "fmt", "-check", "-diff", "-recursive")
    assert result.returncode == 0, (
        f"run `terraform fmt terraform/`:\n{result.stdout}{result.stderr}"
    )


def test_the_example_tfvars_file_is_formatted(terraform_bin: str) -> None:
    result = terraform(terraform_bin, "fmt", "-check", "-", stdin=EXAMPLE_VARS.read_text())
    assert result.returncode == 0, f"format terraform.tfvars.example:\n{result.stdout}"


def test_terraform_and_its_providers_are_pinned_to_a_major_version() -> None:
    (block,) = Terraform().blocks("terraform")
    assert block["required_version"][0].startswith("~> ")
    (providers,) = block["required_providers"]
    assert set(providers) == {"aws", "helm", "random"}
    for name, (spec,) in providers.items():
        assert re.fullmatch(r"~> \d+\.\d+", spec["version"]), f"{name}: {spec['version']}"


def test_every_variable_has_a_description_and_a_type() -> None:
    for name, body in Terraform().variables.items():
        assert body.get("description", [""])[0].strip(), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"


def test_every_output_has_a_description() -> None:
    for name, body in Terraform().outputs.items():
        assert body.get("description", [""])[0].strip(), f"output {name} has no description"


def test_the_example_tfvars_sets_only_declared_variables() -> None:
    tf = Terraform()
    example = {
        k for k in tf.values if k not in {n for n, v in tf.variables.items() if "default" in v}
    }
    assert example <= set(tf.variables)
    assert "endpoint_public_access_cidrs" in tf.values  # required: it has no default


def test_every_checkov_skip_in_terraform_gives_a_reason() -> None:
    skips = [
        (path.name, match)
        for path in TERRAFORM.glob("*.tf")
        for match in re.finditer(r"#checkov:skip=(\S+?)(?::(.*))?$", path.read_text(), re.M)
    ]
    assert skips, "expected the justified skips documented in terraform/"
    for file, match in skips:
        reason = (match.group(2) or "").strip()
        assert len(reason.split()) >= 6, f"{file}: skip {match.group(1)} needs a reason"


NODE_SUBNET_IDS = "${[for s in aws_subnet.public : s.id]}"


def test_no_load_balancer_subnet_reaches_the_cluster_the_nodes_or_the_database() -> None:
    tf = Terraform()
    naming = {
        f"{typ}.{name}"
        for block in tf.blocks("resource")
        for typ, named in block.items()
        for name, body in named.items()
        if "aws_subnet.load_balancer" in json.dumps(body)
    }
    assert naming == {"aws_route_table_association.load_balancer"}
    placed = [
        tf.raw("aws_eks_cluster", "this")["vpc_config"][0]["subnet_ids"],
        tf.raw("aws_eks_node_group", "this")["subnet_ids"],
        tf.raw("aws_db_subnet_group", "mlflow")["subnet_ids"],
    ]
    assert placed == [[NODE_SUBNET_IDS]] * 3


@pytest.mark.slow  # checkov over terraform/
def test_checkov_as_users_run_it_finds_nothing_in_terraform() -> None:
    # `checkov -d terraform`, no var file and no skip list: accepted findings are the inline
    # `#checkov:skip` comments beside their resources. JSON only so the test can read the report;
    # no Bridgecrew account, so nothing is uploaded or downloaded.
    checkov = Path(sys.executable).with_name("checkov")
    result = run(
        [str(checkov), "-d", str(TERRAFORM), "--output", "json"],
        env={**os.environ, "BC_API_KEY": "", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        timeout=300,
    )
    loaded = json.loads(result.stdout)
    reports = loaded if isinstance(loaded, list) else [loaded]  # one per framework that ran
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for report in reports
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failures in terraform/:\n" + "\n".join(failed)
    assert result.returncode == 0, result.stderr
    (terraform_report,) = [r for r in reports if r["check_type"] == "terraform"]
    summary = terraform_report["summary"]
    assert summary["passed"] > 100 and summary["parsing_errors"] == 0, summary


# Validation parity: terraform/variables.tf and stacks/config.py refuse the same bad values.

BASE = Terraform().values  # the example's values, valid on both sides
BAD_VALUES: dict[str, dict[str, Any]] = {
    "public_vpc_cidr": {"vpc_cidr": "8.0.0.0/16"},
    "vpc_cidr_just_outside_172_16": {"vpc_cidr": "172.32.0.0/16"},
    "vpc_cidr_with_host_bits": {"vpc_cidr": "10.0.0.1/16"},
    "malformed_vpc_cidr": {"vpc_cidr": "10.0.0.0/33"},
    "subnet_outside_the_vpc": {"public_subnet_cidrs": ["10.0.0.0/20", "10.1.0.0/20"]},
    "overlapping_subnets": {"public_subnet_cidrs": ["10.0.0.0/20", "10.0.8.0/24"]},
    "a_single_subnet": {"public_subnet_cidrs": ["10.0.0.0/20"]},
    "subnet_with_host_bits": {"public_subnet_cidrs": ["10.0.0.0/20", "10.0.16.1/20"]},
    "load_balancer_subnet_in_a_node_subnet": {
        "load_balancer_subnet_cidrs": ["10.0.32.0/26", "10.0.16.0/26"]
    },
    "load_balancer_subnet_outside_the_vpc": {
        "load_balancer_subnet_cidrs": ["10.0.32.0/26", "10.1.32.0/26"]
    },
    "load_balancer_subnet_below_a_27": {
        "load_balancer_subnet_cidrs": ["10.0.32.0/26", "10.0.32.64/28"]
    },
    "overlapping_load_balancer_subnets": {
        "load_balancer_subnet_cidrs": ["10.0.32.0/26", "10.0.32.32/27"]
    },
    "one_load_balancer_subnet_for_two_zones": {"load_balancer_subnet_cidrs": ["10.0.32.0/26"]},
    "load_balancer_subnet_with_host_bits": {
        "load_balancer_subnet_cidrs": ["10.0.32.0/26", "10.0.32.65/26"]
    },
    "the_same_zone_twice": {"availability_zones": ["us-east-1a", "us-east-1a"]},
    "zones_of_another_region": {"availability_zones": ["eu-west-1a", "eu-west-1b"]},
    "more_zones_than_subnets": {"availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"]},
    "desired_above_max": {"node_desired_size": 4},
    "min_above_desired": {"node_min_size": 3, "node_desired_size": 2},
    "zero_nodes": {"node_min_size": 0, "node_desired_size": 0},
    "tiny_root_volume": {"node_disk_size_gib": 10},
    "uppercase_prefix": {"prefix": "MLstack"},
    "unversioned_kubernetes": {"kubernetes_version": "latest"},
    "chart_version_range": {"monitoring_chart_version": "~79.10"},
    "endpoint_cidr_with_host_bits": {"endpoint_public_access_cidrs": ["203.0.113.7/24"]},
    "no_endpoint_cidrs": {"endpoint_public_access_cidrs": []},
    "unknown_database": {"mlflow_database": "mysql"},
    "database_storage_below_gp3s_least": {"mlflow_database_storage_gib": 10},
    "database_without_backups": {"mlflow_database_backup_retention_days": 0},
    "backups_beyond_35_days": {"mlflow_database_backup_retention_days": 36},
    "instance_class_without_db": {"mlflow_database_instance_class": "t4g.small"},
    "malformed_snapshot": {"mlflow_database_snapshot": "not a snapshot!"},
}


Plan = Callable[[dict[str, Any], str], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def plan(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """`terraform plan` with the values given, in a module holding only variables.tf: it
    evaluates the validations offline."""
    module = tmp_path_factory.mktemp("variables")
    shutil.copy(TERRAFORM / "variables.tf", module)
    result = terraform(terraform_bin, "init", "-backend=false", cwd=module)
    assert result.returncode == 0, result.stderr

    def planned(values: dict[str, Any], name: str) -> subprocess.CompletedProcess[str]:
        var_file = module / f"{name}.tfvars.json"
        var_file.write_text(json.dumps(values))
        args = ("plan", "-no-color", "-lock=false", f"-var-file={var_file.name}")
        return terraform(terraform_bin, *args, cwd=module)

    return planned


NODE_SIZES = {"node_min_size", "node_desired_size", "node_max_size"}


def named(keys: set[str]) -> set[str]:
    """Keys an error may name: a size ordering is reported on whichever size breaks it."""
    return keys | NODE_SIZES if keys & NODE_SIZES else keys


def pulumi_parse(values: dict[str, Any]) -> None:
    # Only the stack config's own keys: `tags` is a Terraform-only convenience.
    parse({"target": "eks", **{k: v for k, v in values.items() if k in EksConfig.model_fields}})


def test_the_example_values_pass_both_terraform_and_pulumi_validation(plan: Plan) -> None:
    result = plan(BASE, "example")
    assert result.returncode == 0, result.stdout + result.stderr
    pulumi_parse(BASE)


@pytest.mark.parametrize("case", BAD_VALUES)
def test_pulumi_config_refuses(case: str) -> None:
    with pytest.raises(ValidationError) as refused:
        pulumi_parse({**BASE, **BAD_VALUES[case]})
    keys = {str(e["loc"][0]) for e in refused.value.errors()}
    assert keys <= named(set(BAD_VALUES[case])), f"refused {keys}, not {set(BAD_VALUES[case])}"


@pytest.mark.parametrize("case", BAD_VALUES)
def test_terraform_variables_refuse(case: str, plan: Plan) -> None:
    result = plan({**BASE, **BAD_VALUES[case]}, case)
    assert result.returncode != 0, f"terraform accepted {BAD_VALUES[case]}"
    assert "Invalid value for variable" in result.stderr, result.stderr
    assert any(f"var.{key}" in result.stderr for key in named(set(BAD_VALUES[case]))), result.stderr


def test_without_endpoint_cidrs_terraform_and_pulumi_both_stop_naming_the_key(plan: Plan) -> None:
    unset = {k: v for k, v in BASE.items() if k != "endpoint_public_access_cidrs"}
    result = plan(unset, "no-endpoint")
    assert result.returncode != 0, "terraform planned with no endpoint_public_access_cidrs"
    assert "No value for required variable" in result.stderr, result.stderr
    assert '"endpoint_public_access_cidrs"' in result.stderr, result.stderr
    with pytest.raises(ValidationError) as refused:
        pulumi_parse(unset)
    assert [e["loc"][0] for e in refused.value.errors()] == ["endpoint_public_access_cidrs"]


def test_an_endpoint_open_on_purpose_passes_both_terraform_and_pulumi_validation(
    plan: Plan,
) -> None:
    open_to_all = {**BASE, "endpoint_public_access_cidrs": ["0.0.0.0/0"]}
    result = plan(open_to_all, "open-endpoint")
    assert result.returncode == 0, result.stdout + result.stderr
    pulumi_parse(open_to_all)
