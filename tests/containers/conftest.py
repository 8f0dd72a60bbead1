"""Session fixtures: podman (or the exact reason it cannot run), and the four images built once
per session from services/Dockerfile on a base made here (`make base-image`, `make images`)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from containers.podman import FLAGS, STORAGE, Podman, unavailable
from containers.stack import Rendered
from tests.conftest import ROOT

TAG = "e2e"


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    """podman with the tests' storage root, one session at a time on this machine (the pods have
    their manifest names); whatever a test made is removed at the end, also after a failure."""
    reason = unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the pods")
        pytest.skip(reason)
    STORAGE.mkdir(parents=True, exist_ok=True)
    with open(STORAGE / "tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Podman()


def _make(*args: str, timeout: float) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args, f"PODMAN_FLAGS={' '.join(FLAGS)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"make {args[0]}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture(scope="session")
def images(podman: Podman) -> dict[str, str]:
    """The four images, `make images ENGINE=podman` on the local base: image name -> local tag.
    Layers are cached in the tests' storage root, so a second session rebuilds only what changed."""
    base = _make("base-image", timeout=900).strip().splitlines()[-1]
    _make("images", "ENGINE=podman", f"BASE_IMAGE={base}", f"IMAGE_TAG={TAG}", timeout=2400)
    names = ("mlstack-mlflow", "mlstack-trainer", "mlstack-serving", "mlstack-demo")
    for name in names:
        podman.run("image", "exists", f"localhost/{name}:{TAG}")
    return {name: f"localhost/{name}:{TAG}" for name in names}


@pytest.fixture(scope="session")
def postgres_image(podman: Podman) -> str:
    """A PostgreSQL server's image, built from the same local Debian base as the stack's images
    (tests/containers/postgres.Containerfile), for the pods of the PostgreSQL mode."""
    base = _make("base-image", timeout=900).strip().splitlines()[-1]
    image = f"localhost/mlstack-postgres:{TAG}"
    containerfile = Path(__file__).with_name("postgres.Containerfile")
    podman.run(
        "build",
        "--network",
        "host",
        "-f",
        str(containerfile),
        "--build-arg",
        f"BASE_IMAGE={base}",
        "-t",
        image,
        str(containerfile.parent),
        timeout=900,
    )
    return image


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    """The minikube stack's Kubernetes objects, as `pulumi up -s minikube` would send them."""
    from k8s.harness import minikube

    return Rendered.of(minikube())


@pytest.fixture(autouse=True)
def _mlflow_client_as_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's client in these tests speaks as the rendered stack's trainer (stack.WRITER)."""
    from containers.stack import WRITER

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", WRITER[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", WRITER[1])
