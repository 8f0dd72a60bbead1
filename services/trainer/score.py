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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from services.forecasting import forecasters, metrics
from services.forecasting.data import DataError, parse_csv, parse_dates, parse_values, read_bytes
from services.forecasting.forecaster import DEFAULT_LEVEL, Forecaster
from services.forecasting.panel import header, parse_panel
from services.registry import ClientRegistry, Version
from services.trainer import points
from services.trainer.config import TrainConfig

log = logging.getLogger("mlstack.score")

SCORED, WAITING = "scored", "not enough new data"
UNKNOWN, ABSENT = "unknown to the model", "not in the data"
FIGURES = ("realised_smape", "realised_mase", "realised_coverage", "realised_points")
RESTATED_TOLERANCE = 1e-6  # relative: a value changed by less is the same value


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def score(cfg: TrainConfig, client: MlflowClient, raw: bytes | None = None) -> ScoreSummary:
    """Score `cfg.model_name@cfg.model_alias` on the data (`raw`, else read from `cfg.data_uri`)."""
    observed = observations(raw or read_bytes(cfg.data_uri, cfg.data_timeout_seconds), cfg)
    version = ClientRegistry(client).version(cfg.model_name, cfg.model_alias)
    if version is None:
        raise ScoreError(f"{cfg.model_name}@{cfg.model_alias} is not set: no version is served yet")
    with tempfile.TemporaryDirectory() as tmp:
        folder = ClientRegistry(client).download(cfg.model_name, version.version, Path(tmp))
        models = forecasters.load(folder)
        models = {uid: models[uid] for uid in models}  # built here, while the folder exists
    run = client.get_run(version.run_id)
    horizon = int(run.data.params.get("horizon", 1))
    ledger = points.read(client, version.run_id, points.LEDGER)
    training = points.read(client, version.run_id, points.TRAINING)
    fresh, table = _score_all(observed, models, horizon, ledger, training, cfg.score_min_points)
    backtest = _backtest(client, run)
    if fresh.empty:
        log.info("nothing new to score for %s v%s", cfg.model_name, version.version)
        return _summary(version, WAITING, fresh, ledger, table, backtest)
    ledger = fresh if ledger is None else pd.concat([ledger, fresh], ignore_index=True)
    table = _with_figures(table, ledger, models, training, observed, backtest[1])
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
    if cfg.id_column in header(raw):
        frame = parse_panel(raw, cfg.id_column, cfg.ds_column, cfg.y_column)
        ids = frame["unique_id"].astype(str).str.strip()
    else:
        frame = parse_csv(raw, cfg.ds_column, cfg.y_column)
        ids = pd.Series(cfg.series_id, index=frame.index)
    values, _ = parse_values(frame["y"].astype(str))
    rows = pd.DataFrame({"unique_id": ids, "ds": parse_dates(frame["ds"].astype(str)), "y": values})
    rows = rows[rows["ds"].notna() & np.isfinite(rows["y"])]
    if rows.empty:
        raise DataError("data has no row with a readable date and value")
    return rows.drop_duplicates(["unique_id", "ds"], keep=False).sort_values(["unique_id", "ds"])


def _score_all(
    observed: pd.DataFrame,
    models: dict[str, Forecaster],
    horizon: int,
    ledger: pd.DataFrame | None,
    training: pd.DataFrame | None,
    min_points: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new points to add to the ledger, and a row per series saying what became of it."""
    done = set() if ledger is None else set(zip(ledger["unique_id"], ledger["ds"], strict=True))
    fresh: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    groups = {str(uid): group for uid, group in observed.groupby("unique_id", sort=True)}
    for uid in sorted(set(groups) | set(models)):
        if uid not in models:
            rows.append({"unique_id": uid, "status": UNKNOWN, "new_points": 0})
            continue
        if uid not in groups:
            rows.append({"unique_id": uid, "status": ABSENT, "new_points": 0})
            continue
        new, row = _series(uid, groups[uid], models[uid], horizon, done, min_points)
        row["restated"] = _restated(uid, groups[uid], models[uid], training, ledger)
        rows.append(row)
        if new is not None:
            fresh.append(new)
    frame = pd.concat(fresh, ignore_index=True) if fresh else pd.DataFrame()
    return frame, pd.DataFrame(rows)


def _series(
    uid: str,
    seen: pd.DataFrame,
    model: Forecaster,
    horizon: int,
    done: set[tuple[str, pd.Timestamp]],
    min_points: int,
) -> tuple[pd.DataFrame | None, dict[str, object]]:
    """One series' points not scored yet within the horizon, with the version's forecast."""
    dates = model.frequency.dates_after(model.last_ds, horizon)
    later = seen[seen["ds"] > model.last_ds]
    fresh = np.array([(uid, d) not in done for d in later["ds"]], dtype=bool)
    due = later[later["ds"].isin(dates).to_numpy() & fresh]
    row: dict[str, object] = {
        "unique_id": uid,
        "new_points": len(due),
        "beyond_horizon": int((~later["ds"].isin(dates)).sum()),
    }
    if len(due) < min_points or due.empty:
        row["status"] = WAITING
        return None, row
    forecast = model.forecast(horizon, DEFAULT_LEVEL).set_index(dates)
    picked = forecast.loc[due["ds"]]
    new = pd.DataFrame(
        {
            "unique_id": uid,
            "ds": due["ds"].to_numpy(),
            "y": due["y"].to_numpy(),
            "yhat": picked["yhat"].to_numpy(),
            "yhat_lower": picked["yhat_lower"].to_numpy(),
            "yhat_upper": picked["yhat_upper"].to_numpy(),
            "step": dates.get_indexer(pd.DatetimeIndex(due["ds"])) + 1,
            "scored_at": int(time.time()),
        }
    )
    row["status"] = SCORED
    return new, row


def _restated(
    uid: str,
    seen: pd.DataFrame,
    model: Forecaster,
    training: pd.DataFrame | None,
    ledger: pd.DataFrame | None,
) -> str:
    """The dates where the data now disagrees with what the version was trained (or scored)
    on; "" when it agrees, "unknown" when the run kept no training points."""
    known = [t[t["unique_id"] == uid][["ds", "y"]] for t in (training, ledger) if t is not None]
    merged = seen.merge(pd.concat(known), on="ds", suffixes=("", "_then")) if known else seen[:0]
    changed = ~np.isclose(merged["y"], merged["y_then"], rtol=RESTATED_TOLERANCE, atol=0)
    dates = merged.loc[changed, "ds"].dt.strftime("%Y-%m-%d").tolist()
    if not dates and training is None:
        return "unknown"
    return ", ".join(dates[:5]) + (f" and {len(dates) - 5} more" if len(dates) > 5 else "")


def _with_figures(
    table: pd.DataFrame,
    ledger: pd.DataFrame,
    models: dict[str, Forecaster],
    training: pd.DataFrame | None,
    observed: pd.DataFrame,
    backtest: dict[str, float],
) -> pd.DataFrame:
    """Each series' realised figures over all its scored points, beside its backtest SMAPE."""
    history = training if training is not None else observed
    figures = []
    for uid, done in ledger.groupby("unique_id", sort=True):
        model = models[str(uid)]
        past = history[(history["unique_id"] == uid) & (history["ds"] <= model.last_ds)]["y"]
        try:
            mase = metrics.mase(done["y"], done["yhat"], past, model.frequency.season_length)
        except ValueError:  # too little history for the scale
            mase = float("nan")
        figures.append(
            {
                "unique_id": uid,
                "points": len(done),
                "realised_smape": metrics.smape(done["y"], done["yhat"]),
                "realised_mase": mase,
                "realised_coverage": metrics.coverage(
                    done["y"], done["yhat_lower"], done["yhat_upper"]
                ),
                "backtest_smape": backtest.get(str(uid)),
            }
        )
    return table.merge(pd.DataFrame(figures), on="unique_id", how="left")


def _backtest(client: MlflowClient, run: object) -> tuple[float | None, dict[str, float]]:
    """The version's backtest SMAPE overall and by series (its run's metric and table)."""
    data = run.data  # type: ignore[attr-defined]
    overall = data.metrics.get("smape_mean", data.metrics.get("smape"))
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
