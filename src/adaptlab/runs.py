"""Experiment configs (YAML) → runs → SQLite. Resumable: finished runs are skipped, and a run is stored whole or
not at all, so after `kill -9` at any moment the same command finishes the job without losing or duplicating a
result.

```yaml
models: [smollm2]                 # aliases, local folders, .gguf files or hub ids
datasets:
  - name: simple-reversals         # a generator (drawn into RUNDIR/data/) ...
    params: {n_facts: 20}
  - path: data/my-own              # ... or an existing dataset folder
methods: [pretrained, icl, ft, aug-oracle-ft]
seeds: [0, 1, 2]                   # each seed: a fresh draw of a generated dataset and a fresh method seed
                                   # (a dataset entry may give its own `seeds:` instead)
limit: 50                          # at most this many questions per split (optional)
options:                           # for every method (see MethodOptions)
  k: 8
  finetune: {steps: 200, batch_size: 8, learning_rate: 3.0e-4}
method_options:                    # per-method overrides, merged over `options`
  aug-local-ft: {augment: {max_new_tokens_local: 64}}
executor: sequential               # processes: runs side by side in worker processes on this machine
                                   # (see adaptlab.runs_local); ray: each run a Ray task (see adaptlab.runs_ray);
                                   # `--executor` overrides
workers: null                      # the processes executor: how many (default: one per physical core)
ray:
  address: null                    # a running cluster ("auto", "ray://head:10001"); none: start a local Ray
  num_cpus: null                   # a local Ray only: CPUs it may use (default: all)
  resources:                       # what each run's task reserves: per method, else `default`, else one
    default: {num_cpus: 1}         # CPU and (when the cluster has GPUs) one GPU
    ft: {num_cpus: 1, num_gpus: 1}
```
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError, describe_validation_error
from adaptlab.methods import get_method, method_names
from adaptlab.models.base import LanguageModel
from adaptlab.options import MethodOptions
from adaptlab.store import RunResult, Store

M = TypeVar("M", bound=BaseModel)


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    # This dataset's seeds, in place of the config's (a dataset with few questions per draw needs more draws for
    # the same standard error).
    seeds: list[Annotated[int, Field(ge=0, lt=2**63)]] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.name is None) == (self.path is None):
            raise ValueError("give either a generator `name` or a dataset `path`")
        if self.name is not None:
            from adaptlab.data.registry import GENERATORS

            if self.name not in GENERATORS:
                raise ValueError(f"unknown dataset {self.name!r}; known: {', '.join(GENERATORS)}")
            from adaptlab.data.registry import check_params

            try:
                check_params(self.name, self.params)
            except AdaptlabError as e:
                raise ValueError(str(e)) from None
        elif self.params:
            raise ValueError("`params` are for a generator `name`, not a dataset `path`")
        return self

    def label(self) -> str:
        return self.name or Path(self.path or "").name

    def seeds_in(self, config: RunConfig) -> list[int]:
        return self.seeds if self.seeds is not None else config.seeds


class TaskResources(BaseModel):
    """What one run's Ray task reserves (a run uses the GPU it reserves; `num_gpus: 0` runs on CPU)."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(1, ge=0)
    num_gpus: float = Field(0, ge=0)


class RayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)
    resources: dict[str, TaskResources] = Field(default_factory=dict)

    def resources_for(self, method: str, cluster_gpus: float = 0) -> TaskResources:
        """The method's entry, else `default`, else one CPU — and one GPU when the cluster has any."""
        return (self.resources.get(method) or self.resources.get("default")
                or TaskResources(num_gpus=1 if cluster_gpus >= 1 else 0))


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[str] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, lt=2**63)]] = Field(default_factory=lambda: [0], min_length=1)
    limit: int | None = Field(None, ge=1)
    device: str = "auto"
    dtype: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    executor: Literal["sequential", "processes", "ray"] = "sequential"
    workers: int | None = Field(None, ge=1)  # the processes executor: worker processes (default: physical cores)
    ray: RayOptions = Field(default_factory=RayOptions)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in method_names():
                raise ValueError(f"unknown method {name!r}; known: {', '.join(method_names())}")
        return v

    @model_validator(mode="after")
    def _options_valid(self) -> RunConfig:
        for name in self.method_options:
            if name not in self.methods:
                raise ValueError(f"method_options names {name!r}, which is not in methods")
        for name in self.ray.resources:
            if name != "default" and name not in self.methods:
                raise ValueError(f"ray.resources names {name!r}, which is neither `default` nor in methods")
        for name in self.methods:
            get_method(name, self.options_for(name))  # raises AdaptlabError on bad option values
        return self

    def options_for(self, method: str) -> MethodOptions:
        merged = _deep_merge(self.options, self.method_options.get(method, {}))
        return MethodOptions(**merged)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: Path | str) -> RunConfig:
    """Parse and validate a YAML config; any problem is one AdaptlabError line naming the file."""
    return load_yaml_model(path, RunConfig)


def load_yaml_model(path: Path | str, model: type[M]) -> M:
    """A YAML file validated as the pydantic `model`; any problem is one AdaptlabError line naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdaptlabError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise AdaptlabError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise AdaptlabError(f"{path}{where}: invalid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise AdaptlabError(f"{path}: expected a mapping of config fields at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise AdaptlabError(f"{path}: {describe_validation_error(e)}") from None
    except AdaptlabError as e:
        raise AdaptlabError(f"{path}: {e}") from None


def dataset_folder(spec: DatasetSpec, seed: int, rundir: Path) -> Path:
    """The dataset for this seed: generated (once) into the run folder, or the user's folder."""
    from adaptlab.data.io import MANIFEST
    from adaptlab.data.registry import make_dataset

    if spec.path is not None:
        return Path(spec.path)
    assert spec.name is not None
    suffix = f"-{_digest(spec.params)}" if spec.params else ""
    folder = rundir / "data" / f"{spec.name}-seed{seed}{suffix}"
    if not (folder / MANIFEST).exists():  # the manifest is written last: its presence means complete
        make_dataset(spec.name, seed, folder, spec.params)
    return folder


@dataclass
class PlannedRun:
    """One model × dataset × seed × method of a config, with its dataset loaded and its run id computed."""

    model: str
    dataset_spec: DatasetSpec
    seed: int
    method: str
    dataset: Dataset
    options: MethodOptions
    run_id: str
    model_fingerprint: str

    @property
    def label(self) -> str:
        return f"{self.model} · {self.dataset_spec.label()} · {self.method} · seed {self.seed}"

    @property
    def info(self) -> dict[str, Any]:
        return {"dataset_spec": self.dataset_spec.model_dump(exclude_none=True)}

    def workdir(self, rundir: Path) -> Path:
        return rundir / "work" / safe_name(self.run_id)


def safe_name(run_id: str) -> str:
    """A run id as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def plan_runs(config: RunConfig, rundir: Path) -> list[PlannedRun]:
    """Every run of the config, in order. Generates missing datasets and loads every dataset first, so that a bad
    dataset stops the job before any model is loaded or trained."""
    from adaptlab.data.io import load_dataset
    from adaptlab.experiment import run_identity
    from adaptlab.models.registry import model_fingerprint

    fingerprints = {m: model_fingerprint(m) for m in config.models}
    datasets: dict[tuple[int, int], Dataset] = {}
    for d, spec in enumerate(config.datasets):
        for seed in spec.seeds_in(config):
            dataset = load_dataset(dataset_folder(spec, seed, rundir))
            datasets[d, seed] = dataset.limited(config.limit) if config.limit is not None else dataset
    plan = []
    for model in config.models:
        for d, spec in enumerate(config.datasets):
            for seed in spec.seeds_in(config):
                for method in config.methods:
                    dataset, options = datasets[d, seed], config.options_for(method)
                    rid, _ = run_identity(model, fingerprints[model], dataset, method, seed, options)
                    plan.append(PlannedRun(model, spec, seed, method, dataset, options, rid, fingerprints[model]))
    return plan


def run_one(run: PlannedRun, model: LanguageModel, rundir: Path,
            on_questions: Callable[[int], None] | None = None) -> RunResult:
    """Prepare, score and measure one planned run (the store is the caller's)."""
    from adaptlab.experiment import run_experiment

    result = run_experiment(model, run.model, run.dataset, run.method, run.seed, run.options, run.workdir(rundir),
                            progress=on_questions, cache_dir=rundir / "cache", info=run.info,
                            model_fingerprint=run.model_fingerprint)
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


def save_config(config: RunConfig, rundir: Path) -> None:
    """Write the config beside the results; an earlier, different config is kept as config-N.yaml."""
    text = yaml.safe_dump(config.model_dump(), sort_keys=False)
    path = rundir / "config.yaml"
    if path.is_file() and path.read_text(encoding="utf-8", errors="replace") != text:
        n = 1
        while (rundir / f"config-{n}.yaml").exists():
            n += 1
        path.rename(rundir / f"config-{n}.yaml")
    path.write_text(text, encoding="utf-8")


# (run label, runs done, runs planned, questions of the run starting now, or 0 when none starts)
Progress = Callable[[str, int, int, int], None]
# (run label, the run's one-line error): a run that failed while the others went on (processes and Ray executors)
OnError = Callable[[str, str], None]
EXECUTORS = ("sequential", "processes", "ray")


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


def execute(config: RunConfig, rundir: Path, on_run: Progress | None = None,
            on_questions: Callable[[int], None] | None = None, *, executor: str | None = None,
            address: str | None = None, on_error: OnError | None = None) -> dict[str, Any]:
    """Run every model × dataset × seed × method not yet stored in RUNDIR/results.sqlite: one after another in this
    process, side by side in worker processes (`executor="processes"`, see `adaptlab.runs_local`), or each as a Ray
    task (`executor="ray"`, see `adaptlab.runs_ray`); default: the config's. Either way
    this process alone writes the store, and the plan, the run ids and what is skipped are the same.
    Returns counts (planned, skipped, ran, failed) and the plan's `run_ids`.

    One process at a time works in a run folder (a second one stops with a one-line error)."""
    from adaptlab.models.registry import load_model
    from adaptlab.store import exclusive

    executor = executor or config.executor
    if executor not in EXECUTORS:
        raise AdaptlabError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise AdaptlabError("--address is the address of a Ray cluster: it needs --executor ray")
    if executor == "ray":
        from adaptlab.runs_ray import check_reachable, import_ray

        import_ray()  # without Ray installed, or with no cluster at the address: say so before any work
        if address or config.ray.address:
            check_reachable(address or config.ray.address or "")
    with exclusive(rundir), Store(rundir / "results.sqlite") as store:
        plan = plan_runs(config, rundir)
        save_config(config, rundir)
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
        if executor == "ray" and todo:
            from adaptlab.runs_ray import execute_on_ray

            execute_on_ray(config, rundir.resolve(), todo, store, counts, on_run, on_error, address)
            return counts
        if executor == "processes" and len(todo) > 1:
            from adaptlab.runs_local import execute_in_processes

            execute_in_processes(config, rundir.resolve(), todo, store, counts, on_run, on_error)
            return counts
        loaded: dict[str, LanguageModel] = {}
        for run in todo:
            done = counts["skipped"] + counts["ran"]
            if on_run:
                on_run(run.label, done, len(plan), len(run.dataset.questions))
            if run.model not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[run.model] = load_model(run.model, device=config.device, dtype=config.dtype)
            store.save(run_one(run, loaded[run.model], rundir, on_questions))
            counts["ran"] += 1
            if on_run:
                on_run(run.label, done + 1, len(plan), 0)
    return counts


def config_run_ids(rundir: Path) -> list[str] | None:
    """The run ids of the config saved in RUNDIR (what its report shows), or None when there is none or it can no
    longer be planned (e.g. a dataset folder moved): then every stored run counts."""
    path = rundir / "config.yaml"
    if not path.is_file():
        return None
    try:
        return [r.run_id for r in plan_runs(load_config(path), rundir)]
    except AdaptlabError:
        return None


def _digest(params: dict[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
