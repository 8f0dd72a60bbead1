"""The global model fitted on a Dask cluster: mlforecast's DistributedMLForecast computes the
features on the workers, one partition of whole series each, and LightGBM's Dask estimator
trains one booster across them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from services.forecasting.global_model import MODEL, Fit, Fitter, by_series

if TYPE_CHECKING:
    from distributed import Client


def fitter_on(client: Client, model: dict[str, Any]) -> Fitter:
    """A fitter running each fit on `client`'s cluster, LightGBM with `model`'s parameters."""

    def fit(frame: pd.DataFrame, args: dict[str, Any], steps: int) -> Fit:
        import dask.dataframe as dd
        from mlforecast.distributed import DistributedMLForecast
        from mlforecast.distributed.models.dask.lgb import DaskLGBMForecast

        # Indexed by series id, a partition holds whole series (mlforecast's documented setup).
        workers = len(client.scheduler_info()["workers"])
        partitions = max(1, min(workers, frame["unique_id"].nunique()))
        parts = dd.from_pandas(frame.set_index("unique_id"), npartitions=partitions)
        forecaster = DistributedMLForecast(
            models={MODEL: DaskLGBMForecast(client=client, **model)},
            engine=client,
            **args,
        )
        forecaster.fit(parts.map_partitions(pd.DataFrame.reset_index))
        on_cluster: Any = forecaster.predict(steps)  # a Dask DataFrame
        fitted: Any = forecaster.models_[MODEL]  # the booster, brought back from the workers
        return Fit(by_series(on_cluster.compute(), steps), fitted.booster_.model_to_string())

    return fit
