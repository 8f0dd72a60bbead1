"""Builders shared by the test areas."""

from __future__ import annotations

from tests.conftest import AIRLINE


def train_first_version(tracking_uri: str, model_name: str, experiment: str) -> str:
    """Train with the project's trainer and its fastest family; the first version takes @prod."""
    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    summary = train(
        TrainConfig(
            data_uri=str(AIRLINE),
            tracking_uri=tracking_uri,
            model_name=model_name,
            experiment=experiment,
            families=("seasonal_naive",),
        )
    )
    assert summary.promoted, f"the first version should be promoted: {summary.reason}"
    return summary.version
