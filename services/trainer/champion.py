"""The champion's side of a promotion: its model read per series (either artifact format) and
each series' spec refitted on the challenger's folds of the same data, in parallel like
training."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow.tracking import MlflowClient

from services.forecasting import backtest, forecasters
from services.forecasting.panelfit import GlobalMember, global_windows
from services.forecasting.specs import Spec
from services.registry import ClientRegistry, Version
from services.trainer import parallel
from services.trainer.config import TrainConfig
from services.trainer.fit import Rescore, Task, rescore_batch

log = logging.getLogger("mlstack.train")


def champion_scores(
    client: MlflowClient,
    cfg: TrainConfig,
    tasks: Mapping[str, Task],
    challenger: Mapping[str, float | None],
    global_member: GlobalMember | None,
    champion: Version,
) -> tuple[set[str], dict[str, float | None]] | None:
    """The series the champion knows, and its spec of each refitted on the challenger's folds
    (those the challenger has scored; its global member's forecasts of them stand in for a
    global member the champion has); None when it cannot be read per series."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = ClientRegistry(client).download(cfg.model_name, champion.version, Path(tmp))
            known = forecasters.load(folder)
            specs = {
                uid: known[uid].fitted.spec for uid in known if challenger.get(uid) is not None
            }
        except Exception as exc:  # another kind of model, or a broken one: not comparable
            log.info("  champion v%s cannot be read per series: %s", champion.version, exc)
            return None
    jobs = [_rescore(tasks[uid], spec, global_member) for uid, spec in specs.items()]
    log.info("  refitting champion v%s on %d series' folds", champion.version, len(jobs))
    scored = parallel.run(
        rescore_batch,
        jobs,
        cfg.train_workers,
        cfg.dask_scheduler_address,
        what="champion series",
    )
    return set(known), dict(scored)


def _rescore(task: Task, spec: Spec, global_member: GlobalMember | None) -> Rescore:
    m = task.frequency.season_length
    windows = None
    if global_member is not None:
        try:
            folds = backtest.make_folds(task.y.size, task.horizon, m)
        except ValueError:  # too short to score: rescore_one says so
            folds = None
        if folds is not None:
            found = global_windows(global_member, task.unique_id, task.y.size, folds)
            windows = tuple(None if w is None else w.mean for w in found)
    return Rescore(task.unique_id, task.y, m, task.horizon, spec, windows)
