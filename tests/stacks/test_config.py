"""Stack config: every bad key is refused with a message naming it and the fix."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s.harness import EKS_CONFIG, EKS_REGION, EKS_SETTINGS, PROJECT, ROOT, stack_config
from pydantic import ValidationError

from stacks.config import MODELS, EksConfig, MinikubeConfig
from stacks.errors import format_errors
from stacks.loading import load, parse

EKS = EKS_CONFIG


def errors(raw: dict[str, Any], plaintext: frozenset[str] = frozenset()) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(raw, plaintext)
    return format_errors(caught.value)


def load_stack(
    stack: str, overrides: dict[str, Any] | None = None, secrets: dict[str, str] | None = None
) -> Any:
    config, secret_keys = stack_config(stack, overrides, secrets)
    pulumi.runtime.set_all_config(config, secret_keys)
    return load(pulumi.Config(PROJECT))


def test_minikube_stack_file_loads_as_minikube_config() -> None:
    cfg = load_stack("minikube")
    assert isinstance(cfg, MinikubeConfig)
    assert cfg.kube_context == "minikube"


def test_eks_stack_file_loads_as_eks_config_once_region_is_set() -> None:
    cfg = load_stack("eks", EKS_SETTINGS)
    assert isinstance(cfg, EksConfig)
    assert cfg.region == "us-east-1"
    assert [str(c) for c in cfg.public_subnet_cidrs] == ["10.0.0.0/20", "10.0.16.0/20"]
    assert [str(c) for c in cfg.load_balancer_subnet_cidrs] == ["10.0.32.0/26", "10.0.32.64/26"]


def test_target_key_not_stack_name_picks_the_model() -> None:
    # A new stack (say `staging`) only needs `target: eks`; the stack name plays no part.
    cfg = load_stack(
        "minikube",
        {"target": "eks", **EKS_SETTINGS, **{k: v for k, v in EKS.items() if k.endswith("image")}},
    )
    assert isinstance(cfg, EksConfig)


def test_eks_without_region_says_how_to_set_it() -> None:
    with pytest.raises(
        pulumi.RunError,
        match=r"region: is required \(fix: pulumi config set "
        r"aws:region us-east-1\)",
    ):
        load_stack("eks")


ENDPOINT_FIX = "(fix: pulumi config set --path 'endpoint_public_access_cidrs[0]' <your address>/32)"


def test_eks_stack_file_ships_no_endpoint_cidrs_and_says_how_to_set_them() -> None:
    # `pulumi up -s eks` with the stack file as shipped, and only the region set.
    with pytest.raises(pulumi.RunError) as stopped:
        load_stack("eks", EKS_REGION)
    assert str(stopped.value).splitlines() == [
        "invalid stack config:",
        "  endpoint_public_access_cidrs: is not set; name who may reach the EKS API endpoint, "
        "e.g. your address/32 (0.0.0.0/0 opens it to the whole internet) " + ENDPOINT_FIX,
    ]


def test_an_empty_endpoint_cidr_list_is_refused_like_an_unset_one() -> None:
    message = errors({**EKS, "endpoint_public_access_cidrs": []})
    assert "endpoint_public_access_cidrs: is not set; " in message
    assert message.endswith(ENDPOINT_FIX)


def test_the_endpoint_can_be_opened_to_the_internet_on_purpose() -> None:
    cfg = load_stack("eks", {**EKS_REGION, "endpoint_public_access_cidrs": ["0.0.0.0/0"]})
    assert isinstance(cfg, EksConfig)
    assert [str(c) for c in cfg.endpoint_public_access_cidrs] == ["0.0.0.0/0"]


def test_unknown_target_lists_valid_values() -> None:
    assert "target: 'gke' is not a target; valid values: minikube, eks" in errors({"target": "gke"})


def test_malformed_cidr_is_refused() -> None:
    message = errors({**EKS, "vpc_cidr": "10.0.0.300/16"})
    assert "vpc_cidr: '10.0.0.300/16' is not a valid IPv4 CIDR" in message


def test_cidr_with_host_bits_is_refused() -> None:
    message = errors({**EKS, "endpoint_public_access_cidrs": ["203.0.113.7/24"]})
    assert "endpoint_public_access_cidrs: '203.0.113.7/24' is not a valid IPv4 CIDR" in message


def test_public_vpc_range_is_refused() -> None:
    assert "vpc_cidr: 8.8.0.0/16 is not a private (RFC 1918) range" in errors(
        {**EKS, "vpc_cidr": "8.8.0.0/16", "public_subnet_cidrs": ["8.8.0.0/20", "8.8.16.0/20"]}
    )


def test_overlapping_subnets_are_refused() -> None:
    message = errors({**EKS, "public_subnet_cidrs": ["10.0.0.0/20", "10.0.8.0/21"]})
    assert "public_subnet_cidrs: 10.0.0.0/20 overlaps 10.0.8.0/21" in message


def test_subnet_outside_the_vpc_is_refused() -> None:
    message = errors({**EKS, "public_subnet_cidrs": ["10.0.0.0/20", "10.1.0.0/20"]})
    assert "public_subnet_cidrs: 10.1.0.0/20 is outside vpc_cidr 10.0.0.0/16" in message


def test_one_subnet_is_fewer_than_two_zones() -> None:
    message = errors({**EKS, "public_subnet_cidrs": ["10.0.0.0/20"]})
    assert "public_subnet_cidrs: EKS needs subnets in at least two availability zones; got 1" in (
        message
    )


LB = "load_balancer_subnet_cidrs"


@pytest.mark.parametrize(
    ("cidrs", "problem"),
    [
        (["10.0.32.0/26"], "1 subnets for 2 public_subnet_cidrs; give one per availability zone"),
        (["10.0.32.0/26", "10.1.32.0/26"], "10.1.32.0/26 is outside vpc_cidr 10.0.0.0/16"),
        (["10.0.32.0/26", "10.0.32.64/28"], "10.0.32.64/28 is smaller than /27: an ALB needs"),
        (["10.0.32.0/26", "10.0.32.32/27"], "10.0.32.0/26 overlaps 10.0.32.32/27"),
        (
            ["10.0.32.0/26", "10.0.16.0/26"],
            "10.0.16.0/26 overlaps public_subnet_cidrs 10.0.16.0/20: the load balancer's subnets "
            "must hold no node or pod",
        ),
    ],
    ids=["one-for-two-zones", "outside-the-vpc", "too-small", "overlapping", "in-a-node-subnet"],
)
def test_bad_load_balancer_subnets_are_refused(cidrs: list[str], problem: str) -> None:
    (line,) = errors({**EKS, LB: cidrs}).splitlines()[1:]
    assert line.startswith(f"  {LB}: {problem}")
    # Item by item: the CLI refuses a JSON string for a key Pulumi.yaml types as an array.
    fix = f"pulumi config set --path '{LB}[0]' 10.0.32.0/26 && pulumi config set --path '{LB}[1]'"
    assert f"(fix: {fix} 10.0.32.64/26)" in line


def test_load_balancer_subnets_follow_the_node_subnets_count() -> None:
    nodes = ["10.0.0.0/20", "10.0.16.0/20", "10.0.48.0/20"]
    assert "2 subnets for 3 public_subnet_cidrs" in errors({**EKS, "public_subnet_cidrs": nodes})
    three = ["10.0.32.0/27", "10.0.32.32/27", "10.0.32.64/27"]
    cfg = parse({**EKS, "public_subnet_cidrs": nodes, LB: three})
    assert isinstance(cfg, EksConfig)
    assert [str(c) for c in cfg.load_balancer_subnet_cidrs] == three


def test_one_distinct_zone_is_fewer_than_two_zones() -> None:
    message = errors({**EKS, "availability_zones": ["us-east-1a", "us-east-1a"]})
    assert "availability_zones: EKS needs at least two distinct availability zones" in message


def test_zones_outside_the_region_are_refused() -> None:
    message = errors({**EKS, "availability_zones": ["eu-west-1a", "eu-west-1b"]})
    assert "availability_zones: ['eu-west-1a', 'eu-west-1b'] are not in region us-east-1" in message


def test_node_min_above_desired_is_refused() -> None:
    message = errors({**EKS, "node_min_size": 3, "node_desired_size": 2, "node_max_size": 4})
    assert "node_desired_size: 2 is below node_min_size (3); need min <= desired <= max" in message


def test_node_desired_above_max_is_refused() -> None:
    message = errors({**EKS, "node_min_size": 1, "node_desired_size": 5, "node_max_size": 3})
    assert "node_max_size: 3 is below node_desired_size (5); need min <= desired <= max" in message


@pytest.mark.parametrize("image", ["mlstack-serving", "localhost:5000/mlstack-serving"])
def test_image_without_tag_is_refused(image: str) -> None:
    message = errors({"target": "minikube", "api_image": image})
    assert f"api_image: '{image}' has no tag; pin one, e.g. '{image}:0.1.0'" in message


def test_latest_tag_is_refused() -> None:
    assert "uses 'latest'" in errors({"target": "minikube", "api_image": "mlstack-serving:latest"})


def test_digest_pins_an_image_without_tag() -> None:
    image = "ghcr.io/o/mlstack-serving@sha256:" + "a" * 64
    assert parse({**EKS, "api_image": image}).api_image == image


def test_eks_image_without_registry_is_refused() -> None:
    message = errors({**EKS, "api_image": "mlstack-serving:0.1.0"})
    assert "api_image: 'mlstack-serving:0.1.0' names no registry" in message


@pytest.mark.parametrize("key", ["grafana_admin_password", "mlflow_database_uri"])
def test_secret_in_plain_text_is_refused(key: str) -> None:
    message = errors({"target": "minikube", key: "hunter2"}, frozenset({key}))
    assert (
        f"{key}: is stored in plain text; it must be a Pulumi secret "
        f"(fix: pulumi config set --secret {PROJECT}:{key} <value>)"
    ) in message
    assert "hunter2" not in message


def test_secret_set_as_secret_is_accepted_and_kept_secret() -> None:
    cfg = load_stack("minikube", secrets={"grafana_admin_password": "s3cret-value"})
    assert cfg.grafana_admin_password is not None
    assert cfg.grafana_admin_password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(cfg)


def test_plain_secret_through_pulumi_config_stops_with_run_error() -> None:
    with pytest.raises(pulumi.RunError, match="grafana_admin_password: is stored in plain text"):
        load_stack("minikube", {"grafana_admin_password": "hunter2"})


def test_trainer_workers_default_to_zero_and_read_as_an_integer() -> None:
    assert load_stack("minikube").trainer_workers == 0
    assert load_stack("minikube", {"trainer_workers": "3"}).trainer_workers == 3


@pytest.mark.parametrize(
    ("value", "problem"),
    [("-1", "Input should be greater than or equal to 0"), ("many", "Input should be a valid")],
)
def test_negative_or_non_integer_trainer_workers_are_refused_naming_the_key(
    value: str, problem: str
) -> None:
    with pytest.raises(pulumi.RunError) as stopped:
        load_stack("minikube", {"trainer_workers": value})
    (line,) = str(stopped.value).splitlines()[1:]
    assert line.startswith(f"  trainer_workers: {problem}")
    assert line.endswith(f"(fix: pulumi config set {PROJECT}:trainer_workers 3)")


def test_misspelt_key_is_reported_with_rm_hint() -> None:
    hint = rf"\(fix: pulumi config rm {PROJECT}:node_desired_szie\)"
    with pytest.raises(pulumi.RunError, match=rf"node_desired_szie: is not a known key {hint}"):
        load_stack("minikube", {"node_desired_szie": "2"})


def test_every_bad_key_gets_its_own_line() -> None:
    message = errors({**EKS, "api_image": "x", "node_min_size": 0, "trainer_schedule": "daily"})
    lines = message.splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "api_image",
        "trainer_schedule",
        "node_min_size",
    ]


def test_malformed_list_value_names_the_key() -> None:
    with pytest.raises(pulumi.RunError, match="public_subnet_cidrs: "):
        load_stack("eks", {**EKS_SETTINGS, "public_subnet_cidrs": "10.0.0.0/20"})


def test_pulumi_yaml_declares_every_key_with_description_and_the_model_default() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = {k: f for model in MODELS.values() for k, f in model.model_fields.items()}
    fields.pop("region")  # the AWS provider's own key, aws:region
    assert set(declared) == set(fields)
    for key, spec in declared.items():
        assert spec.get("description"), key
        default = fields[key].default
        if key == "target":
            continue  # each model defaults to its own target; the project default is minikube
        expected = "" if default is None else default
        if isinstance(expected, tuple):
            expected = [str(v) for v in expected]
        elif not isinstance(expected, bool | int | float):
            expected = str(expected)
        assert spec["default"] == expected, key


@pytest.mark.parametrize("stack", ["minikube", "eks"])
def test_stack_files_hold_only_declared_keys(stack: str) -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert {k.removeprefix(f"{PROJECT}:") for k in values} <= set(declared)


KEYS = sorted({k for model in MODELS.values() for k in model.model_fields} - {"region", "target"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(KEYS),
    value=st.text(max_size=40),
    target=st.sampled_from(["minikube", "eks"]),
)
def test_fuzzed_values_give_a_config_error_never_a_traceback(
    key: str, value: str, target: str
) -> None:
    overrides = {"target": target, **EKS_SETTINGS, key: value}
    try:
        load_stack(target, overrides)
    except pulumi.RunError as err:
        # A bad value may also surface on the key checked against it (min vs desired).
        lines = str(err).splitlines()
        assert lines[0] == "invalid stack config:"
        assert all("(fix: pulumi config " in line for line in lines[1:])
