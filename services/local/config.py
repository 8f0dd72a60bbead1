"""What `mlstack up` runs with: state directory, ports, model, and each service's environment.

Only the values live here; the commands, ports and probes come from `services/spec.py`, so the
local stack runs exactly the entrypoints the cluster runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from services.local import process

BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data" / "airline.csv"

# Ports a newcomer expects: MLflow's, the API's (also what `kubectl port-forward` gives the demo)
# and Streamlit's. Prometheus gets 9099, not 9090, because Debian's `prometheus` package starts
# a system Prometheus on 9090.
DEFAULT_PORTS = {"mlflow": 5000, "api": 8000, "demo": 8501, "prometheus": 9099}


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path = Path(".mlstack")
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    model_name: str = "ForecastModel"
    experiment: str = "forecasting"
    data_uri: str = str(BUNDLED_DATA)
    families: str | None = None  # comma-separated model families for the first training
    api_token: str | None = None
    poll_seconds: int = 10

    def resolved(self) -> StackConfig:
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

    def tracking_env(self) -> dict[str, str]:
        port = self.ports["mlflow"]
        return {
            "MLFLOW_HOST": self.host,
            "MLFLOW_PORT": str(port),
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{self.state_dir / 'mlflow.db'}",
            "MLFLOW_ARTIFACTS_DESTINATION": str(self.state_dir / "artifacts"),
            "MLFLOW_SERVER_ALLOWED_HOSTS": f"{self.host}:{port},localhost:{port}",
            # MLflow's uvicorn reads UVICORN_* flags; without this, every registry poll of the
            # API prints two access-log lines into the console.
            "UVICORN_ACCESS_LOG": "false",
        }

    def trainer_env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "MODEL_NAME": self.model_name,
            "EXPERIMENT_NAME": self.experiment,
            "DATA_URI": self.data_uri,
        }

    def api_env(self) -> dict[str, str]:
        env = {
            "HOST": self.host,
            "PORT": str(self.ports["api"]),
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "MODEL_NAME": self.model_name,
            "MODEL_ALIAS": "prod",
            "MODEL_POLL_SECONDS": str(self.poll_seconds),
        }
        return env | ({"API_TOKEN": self.api_token} if self.api_token else {})

    def demo_env(self) -> dict[str, str]:
        env = {
            "DEMO_HOST": self.host,
            "DEMO_PORT": str(self.ports["demo"]),
            "API_URL": self.url("api"),
            # The chart's history: the series the first model was trained on.
            "DEMO_HISTORY": self.data_uri,
        }
        return env | ({"API_TOKEN": self.api_token} if self.api_token else {})
