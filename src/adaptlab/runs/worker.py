"""What a worker does with one planned run (in this process, a worker process or a Ray task), and what the driver
does when it ends: the only code that runs a `PlannedRun` and stores its `RunResult`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.models.base import LanguageModel
from adaptlab.runs.plan import PlannedRun
from adaptlab.store import RunResult, Store

# (run label, runs done, runs planned, questions of the run starting now, or 0 when none starts)
Progress = Callable[[str, int, int, int], None]
# (run label, the run's one-line error): a run that failed while the others went on (processes and Ray executors)
OnError = Callable[[str, str], None]
def run_one(run: PlannedRun, model: LanguageModel, rundir: Path) -> RunResult:
    """Prepare, score and measure one planned run (the store is the caller's)."""
    from adaptlab.experiment import run_experiment

    result = run_experiment(model, run.model, run.dataset, run.method, run.seed, run.options, run.workdir(rundir),
                            cache_dir=rundir / "cache", info=run.info,
                            model_fingerprint=run.model_fingerprint, update_path=run.update_path,
                            trained=run.base_trained(rundir), retention=run.retention)
    assert result.run_id == run.run_id, "run id computed differently when planned and when run"
    return result


_loaded: dict[tuple[str, str, str | None], LanguageModel] = {}  # in a worker process: its last model


def run_task(run: PlannedRun, dataset: Dataset | None, rundir: Path, device: str, dtype: str | None) -> RunResult:
    """What one worker (a Ray task, or a process of the `processes` executor) does: load the run's model (or reuse
    the one this worker loaded last), run, return the result. `dataset`, when given, is the run's dataset sent
    apart from it (Ray: one stored copy per dataset for all its runs)."""
    from dataclasses import replace

    from adaptlab.models.registry import load_model

    key = (run.model, device, dtype)
    if key not in _loaded:
        _loaded.clear()  # one model in memory per worker
        _loaded[key] = load_model(run.model, device=device, dtype=dtype)
    return run_one(run if dataset is None else replace(run, dataset=dataset), _loaded[key], rundir)


def settle(run: PlannedRun, result: RunResult | None, error: str | None, store: Store, counts: dict[str, Any],
           on_run: Progress | None, on_error: OnError | None) -> None:
    """What a driver does when a worker's run ends: store its result, or count and report its one-line error."""
    if result is not None:
        store.save(result)
        counts["ran"] += 1
        label = run.label
    else:
        counts["failed"] += 1
        if on_error:
            on_error(run.label, error or "no message")
        label = f"{run.label} (failed)"
    if on_run:
        on_run(label, counts["skipped"] + counts["ran"] + counts["failed"], counts["planned"], 0)
