"""Each series' points that arrived after the served version's training, beside what the version
forecast for them (`score.py`): which are new, whether the history the version was fitted on
was restated since, and each series' realised figures over every point scored so far."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from services.forecasting import metrics
from services.forecasting.forecaster import DEFAULT_LEVEL, Forecaster

SCORED, WAITING = "scored", "not enough new data"
UNKNOWN, ABSENT = "unknown to the model", "not in the data"
RESTATED_TOLERANCE = 1e-6  # relative: a value changed by less is the same value


def score_all(
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


def with_figures(
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
