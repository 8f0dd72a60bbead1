"""Builders shared by the test areas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import AIRLINE

if TYPE_CHECKING:
    from services.trainer.run import TrainSummary


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
