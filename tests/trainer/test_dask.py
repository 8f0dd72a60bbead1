"""The Dask path: the same training on a real `distributed.LocalCluster` gives the same model
as the local process pool."""

import logging
import os

import pytest
from mlflow.tracking import MlflowClient

from tests.panels import config, m3_monthly, series_table, write


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_training_on_a_dask_cluster_fits_every_series_as_the_pool_does(
    mlflow_server, cluster, tmp_path, caplog
):
    from services.trainer.run import train

    # Twelve series: two batches, so the local run uses the pool (a few would fit in-process).
    data = write(m3_monthly(12, start=100), tmp_path / "panel.csv")
    uri, name = mlflow_server.uri, f"dask-{os.getpid()}"
    with caplog.at_level(logging.INFO, logger="mlstack.train"):
        on_dask = train(config(uri, name, data, dask_scheduler_address=cluster.scheduler_address))
    assert f"fitting on the Dask cluster at {cluster.scheduler_address}" in caplog.text
    assert "12/12 series (100%)" in caplog.text
    on_pool = train(config(uri, name, data, promote=False))
    run = MlflowClient(uri).get_run(on_dask.run_id)
    assert run.data.params["parallel"] == cluster.scheduler_address
    # Where it actually fitted, workers counted when fitting started.
    assert run.data.tags["fitted_on"] == f"dask {cluster.scheduler_address} (2 workers)"
    assert MlflowClient(uri).get_run(on_pool.run_id).data.tags["fitted_on"] == "process pool (2)"
    assert on_dask.trained == on_pool.trained == 12 and on_dask.promoted
    dask_table = series_table(uri, on_dask.run_id).set_index("unique_id")
    pool_table = series_table(uri, on_pool.run_id).set_index("unique_id")
    assert dask_table.equals(pool_table)
