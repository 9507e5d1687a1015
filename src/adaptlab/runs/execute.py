"""`adaptlab run`: a config's runs not yet stored, one after another, in worker processes or on Ray, into
RUNDIR/results.sqlite. Resumable: finished runs are skipped, and a run is stored whole or not at all, so after
`kill -9` at any moment the same command finishes the job without losing or duplicating a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adaptlab.errors import AdaptlabError
from adaptlab.models.base import LanguageModel
from adaptlab.runs.config import RunConfig, TrackOptions
from adaptlab.runs.plan import PlannedRun, plan_runs
from adaptlab.runs.worker import OnError, Progress, run_one
from adaptlab.store import Store

EXECUTORS = ("sequential", "processes", "ray")


def save_config(config: RunConfig, rundir: Path) -> None:
    """Write the config beside the results; an earlier, different config is kept as config-N.yaml."""
    # A config without `track` or `update_paths` is written as before the key existed: its folder's config.yaml
    # stays the same file.
    unset = {key for key, value in (("track", config.track), ("update_paths", config.update_paths)) if not value}
    text = yaml.safe_dump(config.model_dump(exclude=unset or None), sort_keys=False)
    path = rundir / "config.yaml"
    if path.is_file() and path.read_text(encoding="utf-8", errors="replace") != text:
        n = 1
        while (rundir / f"config-{n}.yaml").exists():
            n += 1
        path.rename(rundir / f"config-{n}.yaml")
    path.write_text(text, encoding="utf-8")


def execute(config: RunConfig, rundir: Path, on_run: Progress | None = None, *, executor: str | None = None,
            address: str | None = None, on_error: OnError | None = None, keep_config: bool = True,
            track: TrackOptions | None = None) -> dict[str, Any]:
    """Run every model × dataset × seed × method not yet stored in RUNDIR/results.sqlite: one after another in this
    process, side by side in worker processes (`executor="processes"`, see `adaptlab.runs.local`), or each as a Ray
    task (`executor="ray"`, see `adaptlab.runs.on_ray`); default: the config's. Either way
    this process alone writes the store, and the plan, the run ids and what is skipped are the same.
    Returns counts (planned, skipped, ran, failed) and the plan's `run_ids`. The config is written beside the
    results (`config.yaml`, the runs a report shows) unless `keep_config` is False (`adaptlab eval`: a folder of
    single runs, every stored run reported).

    `track` (default: the config's `track`): once the runs are done, every run of the plan that is stored and not
    yet tracked is logged by this process (see `adaptlab.runs.track`); counts then has `tracked`.

    One process at a time works in a run folder (a second one stops with a one-line error)."""
    from adaptlab.store import exclusive

    executor = executor or config.executor
    if executor not in EXECUTORS:
        raise AdaptlabError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise AdaptlabError("--address is the address of a Ray cluster: it needs --executor ray")
    if executor == "ray":
        from adaptlab.runs.on_ray import check_reachable, import_ray

        import_ray()  # without Ray installed, or with no cluster at the address: say so before any work
        if address or config.ray.address:
            check_reachable(address or config.ray.address or "")
    track = track or config.track
    if track is not None:
        from adaptlab.runs.track import import_mlflow

        import_mlflow()  # without the tracker installed: say so before any work
    from adaptlab.models.registry import check_model

    for model in config.models:  # before the run folder is made: a mistyped model costs nothing
        check_model(model)
    if keep_config and (rundir / "config.yaml").exists() and not (rundir / "config.yaml").is_file():
        raise AdaptlabError(f"{rundir / 'config.yaml'}: is not a file; the run folder keeps its config there")
    with exclusive(rundir), Store(rundir / "results.sqlite") as store:
        plan = plan_runs(config, rundir)  # everything validated (models, datasets, options) before the config is kept
        if keep_config:
            save_config(config, rundir)
        tracker = None
        if track is not None:  # connected (and its experiment made) before any run: a bad tracker costs nothing
            from adaptlab.runs.track import Tracker

            tracker = Tracker(track, rundir)
        counts: dict[str, Any] = {"planned": len(plan), "skipped": 0, "ran": 0, "failed": 0,
                                  "run_ids": [r.run_id for r in plan]}
        todo = []
        for run in plan:
            if store.is_done(run.run_id):
                counts["skipped"] += 1
                if on_run:
                    on_run(f"{run.label} (done)", counts["skipped"], len(plan), 0)
            else:
                todo.append(run)
        _run_todo(config, rundir, todo, store, counts, on_run, on_error, executor, address, len(plan))
        if tracker is not None:
            from adaptlab.runs.track import track_stored

            counts["tracked"] = track_stored(tracker, store, counts["run_ids"], {r.run_id: r.label for r in plan})
    return counts


def _run_todo(config: RunConfig, rundir: Path, todo: list[PlannedRun], store: Store, counts: dict[str, Any],
              on_run: Progress | None, on_error: OnError | None, executor: str, address: str | None,
              planned: int) -> None:
    """The runs not stored yet, by the executor asked for; each stored as it ends."""
    from adaptlab.models.registry import load_model

    if executor == "ray" and todo:
        from adaptlab.runs.on_ray import execute_on_ray

        execute_on_ray(config, rundir.resolve(), todo, store, counts, on_run, on_error, address)
        return
    if executor == "processes" and len(todo) > 1:
        from adaptlab.runs.local import execute_in_processes

        execute_in_processes(config, rundir.resolve(), todo, store, counts, on_run, on_error)
        return
    loaded: dict[str, LanguageModel] = {}
    for run in todo:
        done = counts["skipped"] + counts["ran"]
        if run.model not in loaded:  # before the run is announced: a model that cannot load is one line
            loaded.clear()  # one model in memory at a time
            loaded[run.model] = load_model(run.model, device=config.device, dtype=config.dtype)
        if on_run:
            on_run(run.label, done, planned, len(run.dataset.questions))
        store.save(run_one(run, loaded[run.model], rundir))
        counts["ran"] += 1
        if on_run:
            on_run(run.label, done + 1, planned, 0)
