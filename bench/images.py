"""Image sizes: the four images as `make test` builds them (podman, in the tests' own storage
root) or as `make images` leaves them with docker or podman; whichever holds them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from bench.report import table

NAMES = ("mlstack-mlflow", "mlstack-trainer", "mlstack-serving", "mlstack-demo")
TESTS_STORAGE = os.environ.get("MLSTACK_PODMAN_ROOT", "/var/tmp/mlstack-podman")


def engines() -> list[tuple[str, list[str]]]:
    """(where, command) for each place images may be, the tests' storage first."""
    out = []
    if shutil.which("podman"):
        root = ("--root", f"{TESTS_STORAGE}/root", "--runroot", f"{TESTS_STORAGE}/run")
        out += [("podman, tests' storage", ["podman", *root]), ("podman", ["podman"])]
    if shutil.which("docker"):
        out.append(("docker", ["docker"]))
    return out


def sizes() -> dict[str, Any]:
    """The newest image of each name, from the first place that has any, in MB."""
    for where, command in engines():
        listed = subprocess.run(
            [*command, "images", "--format", "json"], capture_output=True, text=True, check=False
        )
        if listed.returncode != 0 or not listed.stdout.strip():
            continue
        found = _newest(json.loads(listed.stdout))
        if found:
            return {"where": where, "images": found}
    return {"where": None, "images": {}}


def _newest(images: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for image in sorted(images, key=lambda i: i.get("Created", 0)):
        for tag in image.get("Names") or image.get("RepoTags") or []:
            name = tag.rsplit("/", 1)[-1].split(":")[0]
            if name in NAMES:
                found[name] = {"tag": tag, "mb": round(image["Size"] / 1e6)}
    return found


def images_table(result: dict[str, Any]) -> str:
    if not result["images"]:
        return "Images: none built here (make images, or make test with podman)"
    rows = [[n, result["images"][n]["tag"], result["images"][n]["mb"]]
            for n in NAMES if n in result["images"]]  # fmt: skip
    return table(["image", "tag", "MB"], rows, f"Image sizes ({result['where']})")
