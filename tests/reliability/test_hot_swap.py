"""The API under steady load while `@prod` moves: a real `mlstack serve`, several keep-alive
clients on loopback, and the alias moved SWAPS times (2 in `make test`, more with `make soak`).
No request may fail, every answer names the version it came from, and no client ever sees an
older version after a newer one."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import pytest

from tests.api import running_api
from tests.conftest import TrackingServer
from tests.factories import wait_for
from tests.serving.factories import new_version

CLIENTS = 4
SWAPS = int(os.environ.get("SOAK_SWAPS", "2"))
HORIZONS = (1, 3, 6, 12, 24, 36)  # hits and misses of the per-version forecast cache


@dataclass
class Client:
    """One keep-alive client sending /predict in a loop and recording what came back."""

    url: str
    index: int
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            n = self.index
            while not stop.is_set():
                body = {"horizon": HORIZONS[n % len(HORIZONS)], "level": 0.8 if n % 2 else 0.95}
                n += 1
                try:
                    response = http.post("/predict", json=body)
                except httpx.HTTPError as exc:  # a dropped connection is a failed request too
                    self.errors.append(repr(exc))
                    continue
                version = response.json().get("model", {}).get("version")
                self.answers.append((response.status_code, version))

    def saw(self, version: str) -> bool:
        return bool(self.answers) and self.answers[-1][1] == version


@pytest.mark.slow
def test_moving_prod_under_load_fails_no_request_and_versions_only_move_forward(
    tmp_path: Path, mlflow_server: TrackingServer, model_name: str
) -> None:
    uri = mlflow_server.uri
    versions = [new_version(uri, model_name)]
    with running_api(tmp_path, uri, model_name) as api:
        wait_for(lambda: api.version() == versions[0], what="the first version")
        clients = [Client(api.url, i) for i in range(CLIENTS)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: all(len(c.answers) >= 10 for c in clients), what="steady traffic")
            for swap in range(SWAPS):
                # Trained while the load runs, then promoted: the API loads it beside the
                # served version and swaps between two requests.
                version = new_version(uri, model_name, scale=1.0 + (swap + 1) / 10, promote=False)
                mlflow.MlflowClient(uri).set_registered_model_alias(model_name, "prod", version)
                versions.append(version)
                wait_for(lambda v=version: all(c.saw(v) for c in clients), what=f"v{version}")
            seen = [len(c.answers) for c in clients]
            wait_for(
                lambda: all(len(c.answers) >= n + 10 for c, n in zip(clients, seen, strict=True)),
                what="traffic after the last swap",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        server_errors = api.server_errors()

    for client in clients:
        assert client.errors == [], f"client {client.index}: {client.errors[:3]}"
        assert {status for status, _ in client.answers} == {200}
        order = [int(v) for _, v in client.answers if v is not None]
        assert len(order) == len(client.answers), "an answer named no version"
        assert order == sorted(order), f"client {client.index} went back to an older version"
        assert set(order) == {int(v) for v in versions}
    assert server_errors == []
