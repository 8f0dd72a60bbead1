"""Hot swap under load: concurrency 16 on `POST /predict` while `@prod` moves twice.

Each answer names the version that computed it, so the run counts failed requests and measures,
per move, the time from the alias write to the first answer from the new version. The target:
no failures, and each new version served within the poll interval (with its ±10 % jitter) plus
the version's load time as the API reports it.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from bench import load, servers
from bench.report import Target, table
from bench.serving import Setup
from contract.api import ApiEnv

POLL_SECONDS = 1.0
CONCURRENCY = 16


@dataclass
class Log:
    """What the load generator saw: (time, status, version or None) per response."""

    seen: list[tuple[float, int, str | None]] = field(default_factory=list)

    def observe(self, at: float, status: int, body: bytes) -> None:
        version = None
        if status == 200:
            try:
                version = str(orjson.loads(body)["model"]["version"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                status = -1  # a 200 without a readable version is a failure too
        self.seen.append((at, status, version))

    def first(self, version: str, after: float) -> float | None:
        return next((t for t, _, v in self.seen if v == version and t >= after), None)


def copy_versions(tracking_uri: str, model: str, count: int) -> list[str]:
    """New versions of `model` from the artifacts of the one at @prod (as a retrain would add)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    prod = client.get_model_version_by_alias(model, "prod")
    source = str(prod.source)
    # MLflow 3 sources are LoggedModels (`models:/m-...`); the registry wants that id repeated.
    model_id = prod.model_id or source.removeprefix("models:/").split("/")[0]
    made = [
        client.create_model_version(model, source, run_id=prod.run_id, model_id=model_id)
        for _ in range(count)
    ]
    return [str(v.version) for v in made]


def _served(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=5) as response:
        return json.loads(response.read())


async def _mover(
    setup: Setup, port: int, versions: list[str], log: Log, settle: float, timeout: float
) -> list[dict[str, Any]]:  # fmt: skip
    from mlflow import MlflowClient

    client = MlflowClient(setup.tracking_uri)
    moves = []
    for version in versions:
        await asyncio.sleep(settle)
        await asyncio.to_thread(client.set_registered_model_alias, setup.model, "prod", version)
        moved = time.monotonic()
        deadline = moved + timeout
        while log.first(version, moved) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first = log.first(version, moved)
        info = await asyncio.to_thread(_served, port)
        moves.append({
            "version": version,
            "seconds_to_new": round(first - moved, 3) if first else None,
            "load_seconds": round(float(info["load_seconds"]), 3),
            "served_now": info["version"],
        })  # fmt: skip
    return moves


async def _run(
    setup: Setup, port: int, versions: list[str], settle: float
) -> tuple[load.LoadResult, list[dict[str, Any]], Log]:
    log = Log()
    request = load.Request("127.0.0.1", port, "/predict", b'{"horizon": 30}')
    timeout = 4 * POLL_SECONDS + 30
    budget = load.Budget(10_000_000, len(versions) * (settle + timeout) + 2 * settle)
    driving = asyncio.ensure_future(
        load.drive(request, CONCURRENCY, 0, observe=log.observe, budget=budget)
    )
    moves = await _mover(setup, port, versions, log, settle, timeout)
    await asyncio.sleep(settle)  # steady load on the last version too
    budget.stop()
    return await driving, moves, log


def run(setup: Setup, moves: int = 2, settle: float = 3.0) -> dict[str, Any]:
    versions = copy_versions(setup.tracking_uri, setup.model, moves)
    settings = ApiEnv(model_poll_seconds=POLL_SECONDS)
    launch = partial(servers.start_api, setup.logs, setup.tracking_uri, setup.model, settings)
    with servers.cold(launch, "/predict", b'{"horizon": 30}') as api:
        result, done, log = asyncio.run(_run(setup, api.port, versions, settle))
    failed = sum(1 for _, status, _ in log.seen if status != 200)
    targets = [Target("hot swap: failed requests", failed, 0, False)]
    for move in done:
        bound = 1.1 * POLL_SECONDS + move["load_seconds"]
        measured = move["seconds_to_new"] if move["seconds_to_new"] is not None else float("inf")
        targets.append(
            Target(f"hot swap: seconds to v{move['version']}", measured, round(bound, 3), False)
        )
    return {
        "poll_seconds": POLL_SECONDS, "concurrency": CONCURRENCY, "load": result.to_dict(),
        "failed": failed, "moves": done, "targets": [t.to_dict() for t in targets],
        "_targets": targets,
    }  # fmt: skip


def hotswap_table(result: dict[str, Any]) -> str:
    r = result["load"]
    rows = [
        [f"v{m['version']}", m["seconds_to_new"], m["load_seconds"], m["served_now"]]
        for m in result["moves"]
    ]
    title = (
        f"Hot swap at concurrency {result['concurrency']}, poll {result['poll_seconds']} s: "
        f"{r['requests']} requests, {result['failed']} failed, {r['rps']} req/s, "
        f"p99 {r['p99_ms']} ms"
    )
    return table(["moved @prod to", "s to first answer", "load s", "served after"], rows, title)
