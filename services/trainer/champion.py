"""The champion's side of a promotion: its model read per series (either artifact format) and
each series' spec refitted on the challenger's folds of the same data, in parallel like
training."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow.tracking import MlflowClient

from services.forecasting import forecasters
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
    champion: Version,
) -> tuple[set[str], dict[str, float | None]] | None:
    """The series the champion knows, and its spec of each refitted on the challenger's folds
    (those the challenger has scored); None when it cannot be read per series."""
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
    jobs = [
        Rescore(uid, tasks[uid].y, tasks[uid].frequency.season_length, tasks[uid].horizon, spec)
        for uid, spec in specs.items()
    ]
    log.info("  refitting champion v%s on %d series' folds", champion.version, len(jobs))
    scored = parallel.run(
        rescore_batch,
        jobs,
        cfg.train_workers,
        cfg.dask_scheduler_address,
        what="champion series",
    )
    return set(known), dict(scored)
