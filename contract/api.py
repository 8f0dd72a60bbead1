"""The API (`mlstack serve`): its spec, and its environment as one typed value, `ApiEnv`.

`ApiEnv`'s fields are the serving settings: `services/serving/settings.py` reads them from the
environment, and the Kubernetes Deployment (infra/serving.py) and the local stack write them, each
variable named after its field. The bearer token is the one field that never travels as a plain
value on Kubernetes: a Secret holds it (`TOKEN_ENV`).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from types import MappingProxyType

from pydantic import Field, SecretStr, field_validator

from contract.env import Env
from contract.service import ALL_INTERFACES, SCRATCH, ServiceSpec

API_PORT = 8000
# The registry alias the API serves and the trainer promotes to.
PROD_ALIAS = "prod"
# On the scratch volume: the model cache outlives a container restart in the pod.
MODEL_CACHE_DIR = f"{SCRATCH}/mlstack/model-cache"
# A bearer token shorter than this is refused at start: a guessable token protects nothing.
MIN_TOKEN_CHARS = 32
# In-flight requests get this long after SIGTERM (infra/serving.py sizes the pod's grace on it,
# stacks/public.py a load balancer's draining).
GRACEFUL_SHUTDOWN_SECONDS = 20


class ApiEnv(Env):
    """Everything `mlstack serve` reads from its environment."""

    mlflow_tracking_uri: str | None = None
    model_name: str = "ForecastModel"
    model_alias: str = PROD_ALIAS
    model_poll_seconds: float = Field(30.0, gt=0)
    max_horizon: int = Field(365, ge=1)
    # Forecasts one request may ask for: ids in /predict's series, rows in /invocations.
    max_series_per_request: int = Field(100, ge=1)
    # Forecast rows one request may ask for: the sum of its forecasts' horizons (by default as
    # many as the two limits above allow; lower it to bound every answer's size).
    max_points_per_request: int = Field(100 * 365, ge=1)
    api_token: SecretStr | None = None  # empty or unset: auth off
    host: str = "127.0.0.1"
    port: int = Field(API_PORT, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Of a body over the limit, how much is read and dropped so the client can read its 413.
    max_discard_bytes: int = Field(64 * 1024 * 1024, ge=0)
    # Memory the cached forecasts of the served version may take; 0 disables the cache.
    forecast_cache_bytes: int = Field(64 * 2**20, ge=0)
    retry_after_seconds: int = Field(5, ge=1)
    # A per-client token bucket (services/serving/ratelimit.py): 0 turns it off (the default; on
    # behind a public entry). Behind a proxy, the client is read from X-Forwarded-For only when
    # the peer is one of the trusted proxies: comma-separated CIDRs, addresses or DNS names (a
    # headless Service's name: its ready pods), see `proxy_entries`.
    rate_limit_per_minute: int = Field(0, ge=0)
    rate_limit_burst: int = Field(20, ge=1)
    rate_limit_trusted_proxies: str = ""
    # How long an idle client connection stays open; behind a load balancer, longer than its
    # idle timeout, or it reuses a connection the API has just closed (a 502).
    keep_alive_seconds: int = Field(5, ge=1)
    # From a request's first byte, how long its head and body may take to arrive: then 408 and
    # the connection is closed (a slow client holds no connection for longer).
    request_read_seconds: float = Field(10.0, gt=0)
    log_level: str = "info"
    # Serve a pyfunc of another kind (not the trainer's JSON forecasters): loading it runs its
    # code (a pickle, or the code logged with it) in the API, so it trusts whoever can write to
    # the registry. Off: such a version is refused and the served one kept.
    allow_foreign_models: bool = False
    # The last version loaded and warmed, served after a restart while the registry is down;
    # empty turns the cache off.
    model_cache_dir: Path | None = Path(MODEL_CACHE_DIR)
    # prometheus_client's own variable: with several workers, where each writes its metrics.
    prometheus_multiproc_dir: str | None = None

    @field_validator("model_cache_dir", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        length = len(value.get_secret_value()) if value is not None else 0
        if 0 < length < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the token has {length} characters; use at least {MIN_TOKEN_CHARS} (e.g. the "
                "output of `openssl rand -hex 32`), or leave it empty to turn auth off"
            )
        return value

    @field_validator("rate_limit_trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        proxy_entries(value)  # a ValueError names the bad entry
        return value


# Dot-separated labels of letters, digits and hyphens, the last not all digits (so a mistyped
# address such as 10.0.0.300 is no name).
_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
DNS_NAME = re.compile(rf"(?=.{{1,253}}$)(?:{_LABEL}\.)*(?![0-9]+$){_LABEL}", re.IGNORECASE)


def proxy_entries(text: str) -> tuple[IPv4Network | IPv6Network | str, ...]:
    """The trusted proxies' comma-separated entries: networks (CIDRs, or addresses) and DNS
    names (lower-cased), in the order given; empty for none."""
    entries: list[IPv4Network | IPv6Network | str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            entries.append(ip_network(part, strict=False))
        except ValueError:
            if not DNS_NAME.fullmatch(part):
                raise ValueError(
                    f"trusted proxy {part!r} is neither a CIDR, an address nor a DNS name"
                ) from None
            entries.append(part.lower())
    return tuple(entries)


TOKEN_ENV = ApiEnv.env_name("api_token")

API = ServiceSpec(
    name="api",
    image="mlstack-serving",
    extra="serve",
    args=("mlstack", "serve"),
    port=API_PORT,
    env=MappingProxyType(ApiEnv(host=ALL_INTERFACES, port=API_PORT).to_env()),
    ready_path="/readyz",
    live_path="/healthz",
)
