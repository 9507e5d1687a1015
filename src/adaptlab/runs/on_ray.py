"""The Ray executor of `adaptlab run`: each planned run (model × dataset × seed × method) is one Ray task.

- **One writer.** Tasks return their `RunResult`; the driver (this process) stores each as it arrives, in the one
  transaction that also marks it done (`Store.save`). So there is never a second writer of `results.sqlite`, and
  resume, skip-what-is-done and the run ids are exactly the sequential executor's (`runs.plan_runs` makes the
  plan for both).
- **Files.** Generated datasets are drawn by the driver before any task starts and travel to the tasks through
  Ray's object store (one copy per dataset), so no task writes a dataset file and a worker needs no access to the
  run folder for them. A fine-tuning run writes its checkpoints into its own `RUNDIR/work/<run id>/` (no two tasks
  share one). The augmentation cache `RUNDIR/cache/generations.sqlite` is shared: SQLite serialises the writers,
  and an entry's key is everything that determines its text (model, prompt, settings, seed), so two tasks that
  race to write one entry write the same text. On a cluster, put the run folder on storage every node mounts.
- **Resources.** A task reserves `ray.resources[method]` (else `ray.resources.default`, else one CPU and, when
  the cluster has GPUs, one GPU): e.g. one GPU per fine-tuning run and half a GPU per scoring run. Ray sets
  each task's `CUDA_VISIBLE_DEVICES` (and `OMP_NUM_THREADS`, unless set) to what it reserved, so `device: auto`
  uses the GPU a task holds, and a CPU task as many threads as it has CPUs.
  A worker process keeps its last model loaded for its next task of the same model.
- **Failures.** A run that raises is reported (`on_error`: its label and one-line error) and the others go on;
  it is not stored, so the next `adaptlab run` retries it.
- **Ctrl-C** cancels every task still queued or running, stops a Ray this process started, and leaves every
  result stored so far in place.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptlab import errors
from adaptlab.errors import AdaptlabError
from adaptlab.runs.config import RunConfig
from adaptlab.runs.plan import PlannedRun
from adaptlab.runs.worker import OnError, Progress, run_task, settle

if TYPE_CHECKING:
    from adaptlab.store import Store

INSTALL_HINT = "pip install 'adaptlab[ray]'"
# Passed on to the tasks' processes on a cluster (a local Ray's workers inherit the driver's environment).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "ADAPTLAB_CACHE",
                 "TOKENIZERS_PARALLELISM")

def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AdaptlabError(f"the ray executor needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


def connect(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Join the Ray at `address`, or start a local one (no address); True if this call started or joined it (and
    so must shut it down)."""
    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    common: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, runtime_env={"env_vars": env} if env else None, **common)
        else:
            # "local": a new Ray of our own, even when a `ray start` cluster runs on this machine (or left its
            # address in /tmp/ray), which ray.init() would otherwise join.
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        detail = " ".join(str(e).split())[:300]
        hint = ""
        if address and address != "auto" and "RAY_AUTH_MODE" not in os.environ:
            # Ray 2.60 clusters require a token, and only `--address auto` picks up ~/.ray/auth_token unasked.
            hint = (" (a cluster started with token authentication needs RAY_AUTH_MODE=token and its token in "
                    "~/.ray/auth_token or RAY_AUTH_TOKEN; see `ray get-auth-token`)")
        raise AdaptlabError(f"could not start or reach {where}: {detail}{hint}") from None
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address that nothing listens on is a one-line error at once, instead of Ray
    retrying the connection for minutes."""
    import socket

    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise AdaptlabError(f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                            "`ray start --head`, or leave out --address for a local Ray") from None


def one_line(error: BaseException) -> str:
    """A task's failure as one line: the run's own error when it raised one, else what happened to its worker."""
    cause = getattr(error, "cause", None)
    return errors.one_line(cause if isinstance(cause, BaseException) else error)


def execute_on_ray(
    config: RunConfig,
    rundir: Path,
    todo: list[PlannedRun],
    store: Store,
    counts: dict[str, int],
    on_run: Progress | None = None,
    on_error: OnError | None = None,
    address: str | None = None,
) -> None:
    """Run `todo` as Ray tasks; store each result as it arrives; update `counts` (ran, failed)."""
    ray = import_ray()
    if on_run:
        on_run(f"starting Ray for {len(todo)} runs", counts["skipped"], counts["planned"], 0)
    owned = connect(ray, address or config.ray.address, config.ray.num_cpus)
    task = ray.remote(run_task)
    pending: dict[Any, PlannedRun] = {}
    try:
        datasets: dict[int, Any] = {}
        gpus = ray.cluster_resources().get("GPU", 0)
        for run in todo:
            if id(run.dataset) not in datasets:
                datasets[id(run.dataset)] = ray.put(run.dataset)
            need = config.ray.resources_for(run.method, gpus)
            ref = task.options(num_cpus=need.num_cpus, num_gpus=need.num_gpus, name=run.label).remote(
                replace(run, dataset=None), datasets[id(run.dataset)], rundir, config.device, config.dtype)
            pending[ref] = run
        while pending:
            # With a timeout, so that Ctrl-C (handled between waits, not inside one) is seen within a second.
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    settle(run, ray.get(ref), None, store, counts, on_run, on_error)
                except (ray.exceptions.RayError, AdaptlabError) as e:
                    settle(run, None, one_line(e), store, counts, on_run, on_error)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if owned:
            ray.shutdown()
