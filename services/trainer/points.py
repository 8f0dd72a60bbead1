"""Tables of points a run keeps beside its model: the points each series was fitted on (logged
by training) and the ledger of points the served version has been scored on (`score.py`).
Both are `unique_id, ds, y, ...` frames, one row per series and date."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

TRAINING = "training/points.parquet"  # unique_id, ds, y: what each series was fitted on
LEDGER = "realised/points.parquet"  # the points scored so far (`score.LEDGER_COLUMNS`)
SERIES = "realised/series.json"  # the last scoring's per-series table


def training_frame(unique_id: str, ds: pd.DatetimeIndex, y: object) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": unique_id, "ds": ds, "y": y})


def log_training(points: pd.DataFrame) -> None:
    """The fitted points of every series (`training_frame`s), into the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = _saved(points, Path(tmp), TRAINING)
        mlflow.log_artifact(str(saved), str(Path(TRAINING).parent))


def read(client: MlflowClient, run_id: str, artifact: str) -> pd.DataFrame | None:
    """A run's table of points; None when the run has none (trained before it was kept)."""
    names = {f.path for f in client.list_artifacts(run_id, str(Path(artifact).parent))}
    if artifact not in names:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(client.download_artifacts(run_id, artifact, tmp))


def write(client: MlflowClient, run_id: str, artifact: str, frame: pd.DataFrame) -> None:
    """`frame` as the run's `artifact`, replacing an earlier one."""
    with tempfile.TemporaryDirectory() as tmp:
        client.log_artifact(
            run_id, str(_saved(frame, Path(tmp), artifact)), str(Path(artifact).parent)
        )


def _saved(frame: pd.DataFrame, folder: Path, artifact: str) -> Path:
    """`frame` in `folder` under the artifact's file name: Parquet, or JSON records."""
    path = folder / Path(artifact).name
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", date_format="iso", indent=1)
    return path
