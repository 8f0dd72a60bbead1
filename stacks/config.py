"""The stack config: typed, frozen, validated once (read by `stacks.loading`).

`stacks.loading.load(pulumi.Config())` picks `MinikubeConfig` or `EksConfig` from the `target`
key (never from the stack name), so a new stack file with `target: eks` needs no code. Keys are
snake_case and match the model fields one to one; every bad key becomes one line of a
`pulumi.RunError` with a fix.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any, ClassVar

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from contract.trainer import Promotion, RealisedPoints, Significance, TrainEnv
from infra.prometheus_stack import CHART_VERSION
from stacks import subnets
from stacks.database_config import MlflowStore, RdsSettings
from stacks.errors import SECRET_FIELDS, TOKEN_COMMAND
from stacks.fields import ACM_ARN, CRON, HOSTNAME, PRIVATE, QUANTITY, Cidr, Image, OptionalSecret

TARGETS = ("minikube", "eks")
# Scoring's schedule when retraining is scheduled and `score_schedule` is left empty: hourly.
DEFAULT_SCORE_SCHEDULE = "0 * * * *"


class StackConfig(MlflowStore):
    """What both targets share: names, images, workloads, MLflow's store and monitoring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    prefix: str = Field("mlstack", pattern=r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
    namespace: str = Field("mlstack", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    kubernetes_version: str = Field("1.35", pattern=r"^1\.[0-9]{2}$")
    mlflow_image: Image = "mlstack-mlflow:0.1.0"
    trainer_image: Image = "mlstack-trainer:0.1.0"
    api_image: Image = "mlstack-serving:0.1.0"
    model_name: str = Field("ForecastModel", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    experiment_name: str = Field("forecasting", min_length=1)
    trainer_schedule: str = ""
    trainer_workers: int = Field(0, ge=0)  # Dask workers; 0 fits in the trainer's process pool
    # Empty: hourly when trainer_schedule is set, none otherwise; "off": none; else a cron.
    score_schedule: str = ""
    # The promotion policy, as the trainer and the score CronJob read it (`TrainEnv`).
    promotion: Promotion = TrainEnv.model_fields["promotion"].default
    min_realised_points: RealisedPoints = TrainEnv.model_fields["min_realised_points"].default
    promotion_significance: Significance = TrainEnv.model_fields["promotion_significance"].default
    forecast_degradation_ratio: float = Field(1.5, ge=1.0)  # realised / backtest SMAPE alert
    score_max_age_hours: int = Field(6, ge=1)  # MlstackForecastNotScored past this
    api_min_replicas: int = Field(1, ge=1)
    api_max_replicas: int = Field(3, ge=1)
    mlflow_storage_size: str = "5Gi"
    # Public access (issue 23): an Ingress in front of the API, off by default. Declared before
    # api_token, whose validator needs it: public means the token is required.
    public_access: bool = False
    public_host: str = Field(
        "mlstack.local", pattern=HOSTNAME, max_length=253, validate_default=True
    )
    api_token: OptionalSecret = Field(None, validate_default=True)
    monitoring_enabled: bool = True
    monitoring_chart_version: str = Field(CHART_VERSION, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    grafana_admin_password: OptionalSecret = None

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if value not in TARGETS:
            raise ValueError(f"'{value}' is not a target; valid values: {', '.join(TARGETS)}")
        return value

    @field_validator("trainer_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value and not CRON.match(value.strip()):
            raise ValueError(f"'{value}' is not a 5-field cron schedule, e.g. '0 3 * * 0'")
        return value.strip()

    @field_validator("score_schedule")
    @classmethod
    def _score_cron(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "off") or CRON.match(value):
            return value
        raise ValueError(
            f"'{value}' is not a 5-field cron schedule, e.g. '0 * * * *', nor 'off' (no scoring)"
        )

    @property
    def score_cron(self) -> str:
        """The score CronJob's schedule; empty for none."""
        if self.score_schedule == "off":
            return ""
        return self.score_schedule or (DEFAULT_SCORE_SCHEDULE if self.trainer_schedule else "")

    @field_validator("api_max_replicas")
    @classmethod
    def _max_at_least_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("api_min_replicas")
        if low is not None and value < low:
            raise ValueError(f"{value} is below api_min_replicas ({low})")
        return value

    @field_validator("mlflow_storage_size")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not QUANTITY.match(value):
            raise ValueError(f"'{value}' is not a Kubernetes quantity, e.g. '5Gi'")
        return value

    @field_validator("api_token")
    @classmethod
    def _token_when_public(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        if info.data.get("public_access") and (value is None or not value.get_secret_value()):
            raise ValueError(
                "is required when public_access is on: the API must not answer the internet "
                f"without a bearer token; set one with `{TOKEN_COMMAND}`"
            )
        return value

    @field_validator(*SECRET_FIELDS, mode="before")
    @classmethod
    def _must_be_secret(cls, value: Any, info: ValidationInfo) -> Any:
        plain = (info.context or {}).get("plaintext", set())
        if value not in ("", None) and info.field_name in plain:
            raise ValueError("is stored in plain text; it must be a Pulumi secret")
        return value


class MinikubeConfig(StackConfig):
    """A laptop cluster: a kubeconfig context, no cloud."""

    target: str = "minikube"
    kube_context: str = Field("minikube", min_length=1)
    # The TLS Secret (kubernetes.io/tls) the Ingress serves; empty for a self-signed one.
    public_tls_secret: str = Field("", pattern=r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$")
    # The pods' addresses (minikube's and kind's default): "the cluster" to the NetworkPolicies.
    pod_network_cidr: Cidr = IPv4Network("10.244.0.0/16")


class EksConfig(StackConfig, RdsSettings):
    """AWS: network, cluster, bucket and MLflow's database, then the same workloads."""

    DATABASES: ClassVar[tuple[str, ...]] = ("rds", "sqlite", "external")
    target: str = "eks"
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    vpc_cidr: Cidr = IPv4Network("10.0.0.0/16")
    public_subnet_cidrs: tuple[Cidr, ...] = (
        IPv4Network("10.0.0.0/20"),
        IPv4Network("10.0.16.0/20"),
    )
    # The ALB's own subnets, one per zone: no node or pod there, so the API trusts them alone.
    load_balancer_subnet_cidrs: tuple[Cidr, ...] = Field(
        (IPv4Network("10.0.32.0/26"), IPv4Network("10.0.32.64/26")), validate_default=True
    )
    availability_zones: tuple[str, ...] = ()
    # No default opens the API: empty (Pulumi.yaml's default) is refused until the user names who
    # may reach it, as Terraform's variable with no default is.
    endpoint_public_access_cidrs: tuple[Cidr, ...] = Field((), validate_default=True)
    node_instance_type: str = Field("t3.medium", pattern=r"^[a-z0-9-]+\.[a-z0-9]+$")
    node_min_size: int = Field(1, ge=1)
    node_desired_size: int = Field(2, ge=1)
    node_max_size: int = Field(3, ge=1)
    node_disk_size_gib: int = Field(20, ge=20)
    bucket_force_destroy: bool = True
    # Required when public_access is on; validated below, after public_access is known.
    public_certificate_arn: str = Field("", validate_default=True)
    public_access_cidrs: tuple[Cidr, ...] = Field((), validate_default=True)

    @field_validator("public_host")
    @classmethod
    def _public_name(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("public_access") and value.endswith(".local"):
            raise ValueError(
                f"'{value}' is a local name; on eks give the DNS name the certificate covers "
                "(a CNAME to the load balancer), e.g. api.example.com"
            )
        return value

    @field_validator("public_certificate_arn")
    @classmethod
    def _certificate(cls, value: str, info: ValidationInfo) -> str:
        if value and not ACM_ARN.match(value):
            raise ValueError(f"'{value}' is not an ACM certificate ARN")
        if info.data.get("public_access") and not value:
            raise ValueError(
                "is required when public_access is on: the load balancer serves HTTPS only, "
                "with an ACM certificate for public_host"
            )
        return value

    @field_validator("public_access_cidrs")
    @classmethod
    def _public_named(cls, value: tuple[IPv4Network, ...], info: ValidationInfo) -> Any:
        if info.data.get("public_access"):
            return named_cidrs(value, "the API's load balancer")
        return value

    @field_validator("mlflow_image", "trainer_image", "api_image")
    @classmethod
    def _from_registry(cls, value: str) -> str:
        head = value.split("/")[0]
        if "/" not in value or not ("." in head or ":" in head or head == "localhost"):
            raise ValueError(
                f"'{value}' names no registry; EKS nodes pull images, e.g. "
                f"'ghcr.io/<owner>/{value.split('/')[-1]}'"
            )
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _private(cls, value: IPv4Network) -> IPv4Network:
        if not any(value.subnet_of(block) for block in PRIVATE):
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        return value

    @field_validator("endpoint_public_access_cidrs")
    @classmethod
    def _endpoint_named(cls, value: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        return named_cidrs(value, "the EKS API endpoint")

    @field_validator("public_subnet_cidrs")
    @classmethod
    def _subnets(cls, value: tuple[IPv4Network, ...], info: ValidationInfo) -> Any:
        subnets.node_subnets(value, info.data.get("vpc_cidr"))
        return value

    @field_validator("load_balancer_subnet_cidrs")
    @classmethod
    def _lb_subnets(cls, value: tuple[IPv4Network, ...], info: ValidationInfo) -> Any:
        data = info.data
        subnets.load_balancer_subnets(value, data.get("vpc_cidr"), data.get("public_subnet_cidrs"))
        return value

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...], info: ValidationInfo) -> Any:
        if not value:
            return value  # looked up in the region at deploy time
        subnets = info.data.get("public_subnet_cidrs") or ()
        if len(set(value)) < 2:
            raise ValueError(
                f"EKS needs at least two distinct availability zones; got {list(value)}"
            )
        if subnets and len(value) != len(subnets):
            raise ValueError(
                f"{len(value)} zones for {len(subnets)} public_subnet_cidrs; "
                "give one zone per subnet"
            )
        region = info.data.get("region")
        stray = [z for z in value if region and not z.startswith(region)]
        if stray:
            raise ValueError(f"{stray} are not in region {region}")
        return value

    @field_validator("node_desired_size")
    @classmethod
    def _desired(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("node_min_size")
        if low is not None and value < low:
            raise ValueError(f"{value} is below node_min_size ({low}); need min <= desired <= max")
        return value

    @field_validator("node_max_size")
    @classmethod
    def _max(cls, value: int, info: ValidationInfo) -> int:
        desired = info.data.get("node_desired_size")
        if desired is not None and value < desired:
            raise ValueError(
                f"{value} is below node_desired_size ({desired}); need min <= desired <= max"
            )
        return value


def named_cidrs(value: tuple[IPv4Network, ...], what: str) -> tuple[IPv4Network, ...]:
    """The rule both public entry points share: no open default, the user names who may come."""
    if not value:
        raise ValueError(
            f"is not set; name who may reach {what}, e.g. your address/32 "
            "(0.0.0.0/0 opens it to the whole internet)"
        )
    return value


Config = MinikubeConfig | EksConfig
MODELS: dict[str, type[StackConfig]] = {"minikube": MinikubeConfig, "eks": EksConfig}
