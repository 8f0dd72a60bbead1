"""Where the series are fitted: in this process when one batch or one worker is all there is
(a few series: a pool's start would cost more than the fitting), in a process pool otherwise;
the same results either way."""

import numpy as np
import pytest

from services.forecasting.specs import Spec
from services.trainer import parallel
from services.trainer.fit import Rescore, rescore_batch


def jobs(count: int) -> list[Rescore]:
    y = 100 + 10 * np.sin(np.arange(40) * 2 * np.pi / 12) + np.arange(40)
    return [Rescore(f"s{i}", y + i, 12, 6, Spec("seasonal_naive")) for i in range(count)]


def test_batches_keep_the_order_are_even_and_a_few_series_make_one():
    for count, workers in [(1, 2), (8, 2), (9, 2), (26, 2), (301, 2), (3003, 8)]:
        found = parallel.batches(list(range(count)), workers)
        assert [i for batch in found for i in batch] == list(range(count))
        sizes = {len(batch) for batch in found}
        assert max(sizes) - min(sizes) <= 1 and max(sizes) <= parallel.MAX_BATCH
        assert len(found) == 1 or count > parallel.MIN_BATCH
    assert len(parallel.batches(list(range(parallel.MIN_BATCH)), 8)) == 1


@pytest.mark.parametrize(("count", "workers"), [(1, None), (1, 4), (8, 2), (20, 1)])
def test_one_batch_or_one_worker_runs_in_this_process(count, workers):
    where: list[str] = []
    results = parallel.run(rescore_batch, jobs(count), workers, where=where.append)
    assert where == ["this process"]
    assert sorted(uid for uid, _ in results) == sorted(j.unique_id for j in jobs(count))


def test_several_batches_and_workers_run_in_a_pool_with_the_same_results():
    where: list[str] = []
    pooled = parallel.run(rescore_batch, jobs(10), 2, where=where.append)
    assert where == ["process pool (2)"]
    assert sorted(pooled) == sorted(parallel.run(rescore_batch, jobs(10), 1))
