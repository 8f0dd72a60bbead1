"""Builders shared by the test areas."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tests.conftest import AIRLINE

if TYPE_CHECKING:
    from services.trainer.run import TrainSummary

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    what: str = "condition",
    timeout: float = 60.0,
    *,
    done: Callable[[T], object] = bool,
    every: float = 0.05,
) -> T:
    """Call `probe` until `done` accepts its value (by default: until it is truthy) and return
    that value; after `timeout` seconds fail, naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            last = repr(value)[:300]
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last}")
        time.sleep(every)


def train_version(
    tracking_uri: str, model_name: str, experiment: str, data: Path = AIRLINE, promote: bool = True
) -> TrainSummary:
    """Train with the project's trainer and its fastest family; `promote` lets it move @prod."""
    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    return train(
        TrainConfig(
            data_uri=str(data),
            tracking_uri=tracking_uri,
            model_name=model_name,
            experiment=experiment,
            promote=promote,
            families=("seasonal_naive",),
        )
    )


def train_first_version(tracking_uri: str, model_name: str, experiment: str) -> str:
    """The first version of a new model, which takes @prod."""
    summary = train_version(tracking_uri, model_name, experiment)
    assert summary.promoted, f"the first version should be promoted: {summary.reason}"
    return summary.version
