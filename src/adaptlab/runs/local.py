"""The `processes` executor of `adaptlab run`: the planned runs shared among worker processes on this machine.

A small model cannot use two cores in one process (its matrix products are too small to split: the organism's demo
took 6 min 38 s on 2 threads and 3 min 34 s on one), so on a CPU machine runs go faster side by side, one thread
each. `workers` processes (default: one per physical core) each take the next run, load its model (kept for the
next run of the same model) and return the `RunResult`; this process alone writes the store, as with Ray
(`adaptlab.runs.on_ray`, whose notes on files, the shared generation cache and failures hold here too). Each run's
numbers depend on its seed alone, not on the process or the order, so the stored scores are the sequential
executor's (tests/test_runs_local.py).

Ctrl-C stops the workers and leaves every result stored so far in place; the same command resumes.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from adaptlab import errors
from adaptlab.runs.config import RunConfig
from adaptlab.runs.plan import PlannedRun
from adaptlab.runs.worker import OnError, Progress, run_task, settle

if TYPE_CHECKING:
    from adaptlab.store import Store


def worker_count(config: RunConfig, n_runs: int) -> int:
    """`config.workers`, else one per physical core; never more than there are runs."""
    from adaptlab.threads import physical_cores

    return max(1, min(config.workers or physical_cores(), n_runs))


def _start_worker(threads: int) -> None:
    """In each new worker: its share of the cores (OpenMP reads the variable at start-up, torch when told)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)


def one_line(error: BaseException) -> str:
    if isinstance(error, BrokenProcessPool):
        return "its worker process died (out of memory, or killed); the same command retries it"
    return errors.one_line(error)


def execute_in_processes(
    config: RunConfig,
    rundir: Path,
    todo: list[PlannedRun],
    store: Store,
    counts: dict[str, int],
    on_run: Progress | None = None,
    on_error: OnError | None = None,
) -> None:
    """Run `todo` in worker processes; store each result as it arrives; update `counts` (ran, failed)."""
    from adaptlab.threads import physical_cores

    workers = worker_count(config, len(todo))
    threads = max(1, physical_cores() // workers)
    # spawn, not fork: a forked child would inherit this process's torch and OpenMP state (and its threads).
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                               initargs=(threads,))
    if on_run:
        on_run(f"{len(todo)} runs in {workers} processes", counts["skipped"], counts["planned"], 0)
    pending: dict[Future, PlannedRun] = {}
    try:
        for run in todo:
            pending[pool.submit(run_task, run, None, rundir, config.device, config.dtype)] = run
        while pending:
            done, _ = wait(list(pending), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                error = future.exception()
                settle(pending.pop(future), None if error else future.result(), error and one_line(error), store,
                       counts, on_run, on_error)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
