"""`mlstack score`: whether the served version's forecasts came true.

The data is the series the model was trained on, grown by the points that arrived since. Each
series' points after its training end, up to the version's horizon, are compared with what the
version forecast from that end: realised SMAPE, MASE and interval coverage, beside the figures
its backtest gave. Each point is scored once per version (the run's ledger,
`points.LEDGER`); the figures cover every point scored so far, and are written to the version's
tags, its run's metrics (stepped by scoring time) and a per-series table. A call with nothing
new writes nothing.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from services.forecasting import forecasters
from services.forecasting.data import DataError, parse_dates, parse_values
from services.forecasting.forecaster import DEFAULT_LEVEL
from services.forecasting.longcsv import parse_long
from services.forecasting.source import read_bytes
from services.registry import ClientRegistry, Version
from services.trainer import points
from services.trainer.config import TrainConfig
from services.trainer.realised import SCORED, UNKNOWN, WAITING, score_all, with_figures

log = logging.getLogger("mlstack.score")


class ScoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class ScoreSummary:
    model: str
    version: str
    run_id: str
    status: str  # "scored", or "not enough new data" when this call scored nothing
    new_points: int
    points: int  # every point scored for this version so far
    series: int  # series with a scored point
    realised_smape: float | None
    realised_mase: float | None
    realised_coverage: float | None
    backtest_smape: float | None
    restated: int  # series whose history differs from what the version was trained on
    unknown: int  # series of the data the version does not know
    # `mlstack score`: each challenger's scoring and standing against this version (`shadow.py`)
    challengers: tuple[dict[str, object], ...] = field(default_factory=tuple)
    # what the evidence moved, when it did (`evidence.py`): move, from, to, reason
    move: dict[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def score(cfg: TrainConfig, client: MlflowClient, raw: bytes | None = None) -> ScoreSummary:
    """Score `cfg.model_name@cfg.model_alias` on the data (`raw`, else read from `cfg.data_uri`),
    then every challenger registered since it and the previous champion (`shadow.py`), and
    act on the evidence as the policy says (`evidence.py`)."""
    from services.trainer.evidence import act
    from services.trainer.shadow import shadow

    observed = observations(raw or read_bytes(cfg.data_uri, cfg.data_timeout_seconds), cfg)
    version = ClientRegistry(client).version(cfg.model_name, cfg.model_alias)
    if version is None:
        raise ScoreError(f"{cfg.model_name}@{cfg.model_alias} is not set: no version is served yet")
    summary = score_version(cfg, client, version, observed)
    shadowed = shadow(cfg, client, version, observed)
    moved = act(cfg, client, version, shadowed)
    return replace(summary, challengers=tuple(s.line() for s in shadowed), move=moved)


def score_version(
    cfg: TrainConfig, client: MlflowClient, version: Version, observed: pd.DataFrame
) -> ScoreSummary:
    """Score one version on the observed points it has not been scored on yet."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = ClientRegistry(client).download(cfg.model_name, version.version, Path(tmp))
        models = forecasters.load(folder)
        models = {uid: models[uid] for uid in models}  # built here, while the folder exists
    run = client.get_run(version.run_id)
    horizon = int(run.data.params.get("horizon", 1))
    ledger = points.read(client, version.run_id, points.LEDGER)
    training = points.read(client, version.run_id, points.TRAINING)
    fresh, table = score_all(observed, models, horizon, ledger, training, cfg.score_min_points)
    backtest = _backtest(client, run)
    if fresh.empty:
        log.info("nothing new to score for %s v%s", cfg.model_name, version.version)
        return _summary(version, WAITING, fresh, ledger, table, backtest)
    ledger = fresh if ledger is None else pd.concat([ledger, fresh], ignore_index=True)
    table = with_figures(table, ledger, models, training, observed, backtest[1])
    summary = _summary(version, SCORED, fresh, ledger, table, backtest)
    _write(client, version, ledger, table, summary)
    log.info(
        "scored %d new point(s) of %s v%s: realised smape %s over %d point(s)",
        len(fresh), cfg.model_name, version.version, summary.realised_smape, len(ledger),
    )  # fmt: skip
    return summary


def observations(raw: bytes, cfg: TrainConfig) -> pd.DataFrame:
    """Every readable row of the data as `unique_id, ds, y` (a CSV without the series column is
    the one series `cfg.series_id`); unreadable rows and repeated dates are not scored."""
    frame = parse_long(raw, cfg.columns)
    ids = frame["unique_id"].astype(str).str.strip()
    values, _ = parse_values(frame["y"].astype(str))
    rows = pd.DataFrame({"unique_id": ids, "ds": parse_dates(frame["ds"].astype(str)), "y": values})
    rows = rows[rows["ds"].notna() & np.isfinite(rows["y"])]
    if rows.empty:
        raise DataError("data has no row with a readable date and value")
    return rows.drop_duplicates(["unique_id", "ds"], keep=False).sort_values(["unique_id", "ds"])


def _backtest(client: MlflowClient, run: object) -> tuple[float | None, dict[str, float]]:
    """The version's backtest SMAPE overall and by series (its run's metric and table)."""
    data = run.data  # type: ignore[attr-defined]
    overall = data.metrics.get("smape", data.metrics.get("smape_mean"))  # smape_mean: before
    if "n_series" not in data.params:  # one series
        series_id = data.params.get("series_id", "y")
        return overall, {} if overall is None else {series_id: overall}
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run.info.run_id, "series.json", tmp)  # type: ignore[attr-defined]
        table = pd.read_json(Path(path), orient="split")
    found = table.dropna(subset=["smape"])
    return overall, dict(zip(found["unique_id"].astype(str), found["smape"], strict=True))


def _summary(
    version: Version,
    status: str,
    fresh: pd.DataFrame,
    ledger: pd.DataFrame | None,
    table: pd.DataFrame,
    backtest: tuple[float | None, dict[str, float]],
) -> ScoreSummary:
    def mean(column: str) -> float | None:
        if column not in table:
            return None
        values = table[column].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        return round(float(values.mean()), 6) if values.size else None

    scored = ledger if ledger is not None else pd.DataFrame(columns=["unique_id"])
    coverage = None
    if len(scored) and "yhat_lower" in scored:
        inside = (scored["y"] >= scored["yhat_lower"]) & (scored["y"] <= scored["yhat_upper"])
        coverage = round(float(inside.mean()), 6)
    restated = table.get("restated", pd.Series(dtype=str)).fillna("")
    return ScoreSummary(
        model=version.name,
        version=version.version,
        run_id=version.run_id,
        status=status,
        new_points=len(fresh),
        points=len(scored),
        series=int(scored["unique_id"].nunique()),
        realised_smape=mean("realised_smape") if status == SCORED else _tag(version, "smape"),
        realised_mase=mean("realised_mase") if status == SCORED else _tag(version, "mase"),
        realised_coverage=coverage,
        backtest_smape=None if backtest[0] is None else round(backtest[0], 6),
        restated=int((~restated.isin(["", "unknown"])).sum()),
        unknown=int((table["status"] == UNKNOWN).sum()),
    )


def _tag(version: Version, figure: str) -> float | None:
    found = version.tags.get(f"realised_{figure}")
    return None if found is None else float(found)


def _write(
    client: MlflowClient,
    version: Version,
    ledger: pd.DataFrame,
    table: pd.DataFrame,
    summary: ScoreSummary,
) -> None:
    """The ledger and the table on the version's run, its figures as the run's metrics (step:
    the scoring time) and as the version's tags."""
    now = int(time.time())
    points.write(client, version.run_id, points.LEDGER, ledger)
    points.write(client, version.run_id, points.SERIES, table)
    figures = {
        "realised_smape": summary.realised_smape,
        "realised_mase": summary.realised_mase,
        "realised_coverage": summary.realised_coverage,
        "realised_points": summary.points,
    }
    known = {k: float(v) for k, v in figures.items() if v is not None}
    client.log_batch(
        version.run_id, metrics=[Metric(k, v, now * 1000, now) for k, v in known.items()]
    )
    tags = {k: f"{v:.6f}" for k, v in known.items() if k != "realised_points"} | {
        "realised_points": str(summary.points),
        "realised_series": str(summary.series),
        "interval_level": str(DEFAULT_LEVEL),
    }
    if summary.backtest_smape is not None:
        tags["backtest_smape"] = f"{summary.backtest_smape:.6f}"
    tags["scored_at"] = str(now)  # last: the API exports a version's figures once it is set
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value)
