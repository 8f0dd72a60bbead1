"""Run batches of series in parallel: a process pool on this machine (every core by default),
or the Dask cluster at DASK_SCHEDULER_ADDRESS; in this process when one batch or one worker is
all there is (a pool's start costs more than a series of one). Tasks are batches, not single
series, so the scheduling cost stays small beside the fitting; progress goes to the log every
few seconds."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

log = logging.getLogger("mlstack.train")

T = TypeVar("T")
R = TypeVar("R")
MAX_BATCH = 50
BATCHES_PER_WORKER = 4  # enough to balance uneven series, few enough to cost nothing
# A worker's start (its imports, statsforecast's first fit) costs seconds, more than fitting a
# few short series: fewer than this many a batch are fitted beside the others (measured on M3
# monthly series: 32 fitted in this process sooner than in a pool of two, on a busy machine).
MIN_BATCH = 8


def batches(items: Sequence[T], workers: int) -> list[list[T]]:
    """Consecutive batches, their sizes a share of the items that differs by one at most: one
    batch for `MIN_BATCH` items or fewer, `BATCHES_PER_WORKER` a worker where there are enough
    items, `MAX_BATCH` items a batch at most."""
    n = len(items)
    size = max(MIN_BATCH, min(MAX_BATCH, math.ceil(n / (workers * BATCHES_PER_WORKER))))
    count = math.ceil(n / size)
    return [list(items[i * n // count : (i + 1) * n // count]) for i in range(count)]


def run(
    work: Callable[[list[T]], list[R]],
    items: Sequence[T],
    workers: int | None = None,
    scheduler: str | None = None,
    what: str = "series",
    outcome: Callable[[R], str] | None = None,
    outcomes: Sequence[str] = (),
    where: Callable[[str], object] = lambda _: None,
) -> list[R]:
    """`work` over `items` in batches, in parallel; the results in completion order. Progress
    counts the results by `outcome` (in the order of `outcomes`, then as they come). `where`
    hears what fits them once that is known: `dask <address> (N workers)`, `process pool (N)`
    or `this process`."""
    progress = Progress(len(items), what, outcomes)
    results: list[R] = []
    count = workers or os.cpu_count() or 1
    groups = batches(items, count)
    if scheduler:
        done = run_dask(work, items, scheduler, where)
    elif count == 1 or len(groups) == 1:
        done = run_inline(work, groups, where)
    else:
        done = run_pool(work, groups, count, where)
    for batch in done:
        results.extend(batch)
        progress.update([outcome(r) for r in batch] if outcome else [""] * len(batch))
    progress.finish()
    return results


def run_inline(
    work: Callable[[list[T]], list[R]],
    groups: list[list[T]],
    where: Callable[[str], object] = lambda _: None,
) -> Iterator[list[R]]:
    log.info("fitting in this process")
    where("this process")
    for batch in groups:
        yield work(batch)


def run_pool(
    work: Callable[[list[T]], list[R]],
    groups: list[list[T]],
    count: int,
    where: Callable[[str], object] = lambda _: None,
) -> Iterator[list[R]]:
    # forkserver: workers are forked from a clean, single-threaded process (not from this one,
    # with its MLflow client's threads and locks) that imported the fitting code once, so every
    # pool of this process starts warm. As with spawn, a calling script needs a __main__ guard.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([work.__module__, "statsforecast.models"])
    log.info("fitting in %d worker process(es)", count)
    where(f"process pool ({count})")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = [pool.submit(work, batch) for batch in groups]
        for future in as_completed(futures):
            yield future.result()


def run_dask(
    work: Callable[[list[T]], list[R]],
    items: Sequence[T],
    scheduler: str,
    where: Callable[[str], object] = lambda _: None,
) -> Iterator[list[R]]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler, timeout="30s") as client:
        info: dict[str, Any] = client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 1) for w in workers.values()) or 1
        log.info(
            "fitting on the Dask cluster at %s (%d worker(s), %d thread(s))",
            scheduler,
            len(workers),
            threads,
        )
        where(f"dask {scheduler} ({len(workers)} workers)")
        futures = client.map(work, batches(items, threads), pure=False)
        for future in dask_completed(futures):
            yield future.result()


class Progress:
    """A line every few seconds: done, rate, the results by outcome, ETA; and one at the end
    (unless the last one said it all)."""

    def __init__(self, total: int, what: str, outcomes: Sequence[str] = (), every: float = 5.0):
        self.total, self.what, self.every = total, what, every
        self.done = 0
        self.counts: Counter[str] = Counter(dict.fromkeys(outcomes, 0))
        self.started = self.shown = time.monotonic()
        self.shown_done = -1

    def update(self, outcomes: Sequence[str]) -> None:
        self.done += len(outcomes)
        self.counts.update(o for o in outcomes if o)
        if time.monotonic() - self.shown >= self.every:
            self.show()

    def finish(self) -> None:
        if self.shown_done != self.done:
            self.show()

    def counted(self) -> str:
        """The results so far by outcome, those with none left out: `40 trained, 2 floor`."""
        return ", ".join(f"{n:,} {outcome}" for outcome, n in self.counts.items() if n)

    def show(self) -> None:
        self.shown = time.monotonic()
        elapsed = max(self.shown - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        eta = "done" if self.done >= self.total else f"ETA {_duration(left)}"
        self.shown_done = self.done
        counted = f", {self.counted()}" if self.counted() else ""
        log.info(
            "%s/%s %s (%.0f%%), %.1f/s%s, %s",
            f"{self.done:,}",
            f"{self.total:,}",
            self.what,
            100 * self.done / max(self.total, 1),
            rate,
            counted,
            eta,
        )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
