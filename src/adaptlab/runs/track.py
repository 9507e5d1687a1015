"""Experiment tracking: every stored run, and the report, logged to MLflow (the optional `track` extra).

`adaptlab run CONFIG --out RUNDIR --track mlflow` (or `eval`, or `track: mlflow` in the config) logs each run once
it is stored, from the process that writes the store, whatever the executor: one MLflow run per adaptlab run, named
by its label and tagged `adaptlab.run_id`, with

- params: model, dataset, method, seed, and the run's configuration (the model's fingerprint, the dataset's digest,
  every method option, flattened with dots: `method_options.finetune.steps`);
- metrics: each split's accuracy per metric with its standard error and chance level (`rephrase/per_char`,
  `rephrase/per_char_stderr`, `rephrase/chance`, `rephrase/n`); each cost phase's tokens, FLOPs, seconds, peak
  memory, queries and dollars (`cost/finetune/flops`); the training loss per step (`train/loss`, from the run's
  `loss_curve`), and the run info's other numbers (`info/final_loss`);
- artifacts: the run's info (`run_info.json`).

A run already tracked (an MLflow run with its id and status FINISHED) is skipped, so a resumed or repeated study
logs nothing twice; a run stored but not yet tracked (stored before `--track`, or by a command that stopped before
tracking) is logged by the next tracked command; an MLflow run left unfinished by a crash is replaced.
`adaptlab report RUNDIR --track mlflow` logs report.md and report.html to one MLflow run of the folder, tagged
`adaptlab.kind = report`, replaced on every report.

The default store is a SQLite database inside the run folder, `RUNDIR/mlruns/mlflow.db`, with artifacts in
`RUNDIR/mlruns/artifacts` (`mlflow ui --backend-store-uri sqlite:///RUNDIR/mlruns/mlflow.db`); `--tracking-uri`
(or the config's `track.uri`) names any other (a tracking server `http://host:5000`, another database). The
experiment is the run folder's name unless `track.experiment` says otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adaptlab.errors import AdaptlabError
from adaptlab.runs.config import TRACKERS, TrackOptions, load_config
from adaptlab.store import RunResult, Store

RUN_TAG = "adaptlab.run_id"
KIND_TAG = "adaptlab.kind"
PARAM_LIMIT = 6000  # MLflow's longest param value
BATCH = {"params": 100, "metrics": 1000, "tags": 100}  # MLflow's limits per log_batch call


def tracking(track: str | None, uri: str | None, configured: TrackOptions | None) -> TrackOptions | None:
    """The tracking a command asks for: `--track`/`--tracking-uri` over the config's `track`; None: no tracking."""
    if track is None and uri is None:
        return configured
    if track is not None and track not in TRACKERS:
        raise AdaptlabError(f"--track {track!r}: unknown tracker; known: {', '.join(TRACKERS)}")
    base = configured or TrackOptions()
    return base.model_copy(update={"uri": uri} if uri is not None else {})


def import_mlflow() -> Any:
    """The `mlflow` module, or a one-line error saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise AdaptlabError("tracking with MLflow needs the `track` extra: pip install 'adaptlab[track]'") from None
    for name in ("mlflow", "alembic"):  # database set-up and migrations are not news for someone running a study
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def default_uri(rundir: Path) -> str:
    return f"sqlite:///{(rundir.resolve() / 'mlruns' / 'mlflow.db').as_posix()}"


class Tracker:
    """An MLflow client bound to one experiment."""

    def __init__(self, options: TrackOptions, rundir: Path):
        import_mlflow()
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.error = MlflowException
        uri = options.uri or default_uri(rundir)
        artifacts = None
        if options.uri is None:
            (rundir / "mlruns").mkdir(parents=True, exist_ok=True)
            artifacts = (rundir.resolve() / "mlruns" / "artifacts").as_uri()
        name = options.experiment or rundir.resolve().name
        self.uri = uri
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(name)
            self.experiment = (found.experiment_id if found is not None
                               else self.client.create_experiment(name, artifact_location=artifacts))
        except MlflowException as e:
            raise AdaptlabError(f"MLflow at {uri}: {_first_line(e)}") from None

    def _runs(self) -> Iterator[Any]:
        token = None
        while True:
            page = self.client.search_runs([self.experiment], max_results=1000, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def tracked(self) -> set[str]:
        """The adaptlab run ids already logged whole; unfinished MLflow runs of adaptlab runs (a crash while logging)
        are deleted, to be logged again."""
        done = set()
        for run in self._runs():
            rid = run.data.tags.get(RUN_TAG)
            if rid is None:
                continue
            if run.info.status == "FINISHED":
                done.add(rid)
            else:
                self.client.delete_run(run.info.run_id)
        return done

    def log_run(self, result: RunResult, label: str) -> None:
        from mlflow.entities import Metric, Param, RunTag

        run = self.client.create_run(self.experiment, run_name=label, tags={
            RUN_TAG: result.run_id, KIND_TAG: "run", "adaptlab.model": result.model,
            "adaptlab.dataset": result.dataset, "adaptlab.method": result.method})
        rid = run.info.run_id
        params = [Param(k, v) for k, v in run_params(result).items()]
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v, step in run_metrics(result)]
        tags = [RunTag(f"cost/{c.phase}/kind", c.kind) for c in result.costs]
        for i in range(0, max(len(params), len(tags)), BATCH["params"]):
            self.client.log_batch(rid, params=params[i:i + BATCH["params"]], tags=tags[i:i + BATCH["tags"]])
        for i in range(0, len(metrics), BATCH["metrics"]):
            self.client.log_batch(rid, metrics=metrics[i:i + BATCH["metrics"]])
        self.client.log_dict(rid, result.info, "run_info.json")
        self.client.set_terminated(rid, "FINISHED")

    def log_report(self, rundir: Path, files: list[Path]) -> str:
        """The report's files as artifacts of the folder's report run (made once, replaced afterwards)."""
        run = next((r for r in self._runs() if r.data.tags.get(KIND_TAG) == "report"), None)
        if run is None:
            run = self.client.create_run(self.experiment, run_name=f"report: {rundir.resolve().name}",
                                         tags={KIND_TAG: "report"})
        rid = run.info.run_id
        for path in files:
            self.client.log_artifact(rid, str(path))
        self.client.set_terminated(rid, "FINISHED")
        return rid


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:300]


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        yield prefix, value


def run_params(result: RunResult) -> dict[str, str]:
    """A run's params: what it is, and its configuration flattened (values as MLflow stores them: text)."""
    out = {"model": result.model, "dataset": result.dataset, "method": result.method, "seed": str(result.seed)}
    for key, value in _flat("", result.config):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[key] = text[:PARAM_LIMIT]
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def run_metrics(result: RunResult) -> list[tuple[str, float, int]]:
    """(name, value, step) of every metric a run logs."""
    out: list[tuple[str, float, int]] = []
    chance: dict[str, tuple[float, int]] = {}
    for m in result.metrics:
        out += [(f"{m.split}/{m.metric}", m.accuracy, 0), (f"{m.split}/{m.metric}_stderr", m.stderr, 0)]
        chance.setdefault(m.split, (m.chance, m.n))
    for split, (level, n) in chance.items():
        out += [(f"{split}/chance", level, 0), (f"{split}/n", float(n), 0)]
    fields = ("tokens_processed", "tokens_reused", "tokens_trained", "tokens_generated", "tokens_cached", "flops",
              "seconds", "peak_memory_bytes", "queries", "dollars")
    for c in result.costs:
        out += [(f"cost/{c.phase}/{f}", float(getattr(c, f)), 0) for f in fields]
    for step, loss in result.info.get("loss_curve") or []:
        if _number(loss) is not None:
            out.append(("train/loss", float(loss), int(step)))
    for key, value in _flat("", {k: v for k, v in result.info.items() if k != "loss_curve"}):
        number = _number(value)
        if number is not None:
            out.append((f"info/{key}", number, 0))
    return out


def track_stored(tracker: Tracker, store: Store, run_ids: list[str], labels: dict[str, str]) -> int:
    """Log the runs of `run_ids` that are stored and not tracked yet; returns how many were logged."""
    try:
        done = tracker.tracked()
        logged = 0
        for rid in run_ids:
            if rid in done or not store.is_done(rid):
                continue
            tracker.log_run(store.result(rid), labels.get(rid, rid))
            done.add(rid)
            logged += 1
    except tracker.error as e:
        raise AdaptlabError(f"MLflow at {tracker.uri}: {_first_line(e)} (the runs are stored; the same command "
                            "logs what is missing)") from None
    return logged


def track_report(tracker: Tracker, rundir: Path, files: list[Path]) -> str:
    """Log a report's files; returns the MLflow run id they are in."""
    try:
        return tracker.log_report(rundir, files)
    except tracker.error as e:
        raise AdaptlabError(f"MLflow at {tracker.uri}: {_first_line(e)}") from None


def configured(rundir: Path) -> TrackOptions | None:
    """The tracking a run folder's saved config asks for (its `track` key), if any."""
    path = rundir / "config.yaml"
    if not path.is_file():
        return None
    return load_config(path).track

