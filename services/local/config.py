"""What `mlstack up` runs with: state directory, ports, model, and each service's environment.

Only the values live here; the commands, ports and probes come from the deploy contract
(`contract/`), so the local stack runs exactly the entrypoints the cluster runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import SecretStr

from contract.api import API_PORT, PROD_ALIAS, ApiEnv
from contract.demo import DEMO_PORT, demo_env
from contract.tracking import READER, TRACKING_PORT, WRITER, auth_env, client_env
from contract.trainer import BUNDLED_DATA, TrainEnv
from services.local import credentials, process

# Ports a newcomer expects: MLflow's, the API's (also what `kubectl port-forward` gives the demo)
# and Streamlit's. Prometheus gets 9099, not 9090, because Debian's `prometheus` package starts
# a system Prometheus on 9090.
DEFAULT_PORTS = {"mlflow": TRACKING_PORT, "api": API_PORT, "demo": DEMO_PORT, "prometheus": 9099}
# Restarts in a row of a service that keeps exiting before the stack gives up on it: with the
# supervisor's backoff (1, 2, 4, 8, 16 s) about half a minute of trying.
DEFAULT_MAX_RESTARTS = 5


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = Path(".mlstack")
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    model_name: str = "ForecastModel"
    experiment: str = "forecasting"
    data_uri: str = str(BUNDLED_DATA)
    families: str | None = None  # comma-separated model families for the first training
    api_token: str | None = None
    poll_seconds: int = 10
    # MLflow's registry in this PostgreSQL (upgraded first by `mlstack db-upgrade`); SQLite in
    # the state directory when None.
    tracking_db: str | None = None
    max_restarts: int = DEFAULT_MAX_RESTARTS

    def resolved(self) -> LocalConfig:
        """Absolute paths, and a free port for every port given as 0 (tests, parallel stacks)."""
        ports: dict[str, int] = {}
        for name, port in self.ports.items():
            picked = port
            while not port and (not picked or picked in ports.values()):
                picked = process.free_port(self.host)  # the OS may hand out a port twice
            ports[name] = picked
        data = Path(self.data_uri)
        data_uri = str(data.resolve()) if data.exists() else self.data_uri
        return replace(self, state_dir=self.state_dir.resolve(), ports=ports, data_uri=data_uri)

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def credentials(self) -> credentials.Credentials:
        """MLflow's passwords, made on the first start (services/local/credentials.py)."""
        return credentials.load_or_create(self.state_dir)

    def tracking_env(self) -> dict[str, str]:
        env = process.tracking_env(
            self.state_dir, self.ports["mlflow"], self.host, store=self.tracking_db
        )
        made = self.credentials
        auth = auth_env(
            admin_password=made.admin_password,
            secret_key=made.secret_key,
            writer_password=made.writer_password,
            reader_password=made.reader_password,
            reader_model=self.model_name,
        )
        # MLflow's uvicorn reads UVICORN_* flags; without this, every registry poll of the
        # API prints two access-log lines into the console.
        return env | auth | {"UVICORN_ACCESS_LOG": "false"}

    def trainer_env(self) -> dict[str, str]:
        """The trainer's and the scorer's: MLflow's writer."""
        return TrainEnv(
            mlflow_tracking_uri=self.url("mlflow"),
            data_uri=self.data_uri,
            model_name=self.model_name,
            experiment_name=self.experiment,
        ).to_env() | client_env(WRITER, self.credentials.writer_password)

    def reader_env(self) -> dict[str, str]:
        """MLflow's read-only identity: the API's, and the stack's own reads of `@prod`."""
        return client_env(READER, self.credentials.reader_password)

    def api_env(self) -> dict[str, str]:
        settings = ApiEnv(
            mlflow_tracking_uri=self.url("mlflow"),
            model_name=self.model_name,
            model_alias=PROD_ALIAS,
            host=self.host,
            port=self.ports["api"],
            model_poll_seconds=self.poll_seconds,
            model_cache_dir=self.state_dir / "model-cache",
        )
        if self.api_token:
            settings |= ApiEnv(api_token=SecretStr(self.api_token))
        return settings.to_env() | self.reader_env()

    def demo_env(self) -> dict[str, str]:
        return demo_env(
            api_url=self.url("api"),
            host=self.host,
            port=self.ports["demo"],
            token=self.api_token or None,
        )
