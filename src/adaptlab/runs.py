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
limit: 50                          # at most this many questions per split (optional)
options:                           # for every method (see MethodOptions)
  k: 8
  finetune: {steps: 200, batch_size: 8, learning_rate: 3.0e-4}
method_options:                    # per-method overrides, merged over `options`
  aug-local-ft: {augment: {max_new_tokens_local: 64}}
```
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptlab.errors import AdaptlabError, describe_validation_error
from adaptlab.methods import MethodOptions, get_method, method_names


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

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


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    limit: int | None = Field(None, ge=1)
    device: str = "auto"
    dtype: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

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
        for name in self.methods:
            get_method(name, self.options_for(name))  # raises AdaptlabError on bad option values
        return self

    def options_for(self, method: str) -> MethodOptions:
        merged = _deep_merge(self.options, self.method_options.get(method, {}))
        try:
            return MethodOptions(**merged)
        except TypeError as e:
            bad = re.search(r"'(\w+)'", str(e))
            raise ValueError(f"unknown option {bad.group(1)!r}" if bad else str(e)) from None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: Path | str) -> RunConfig:
    """Parse and validate a YAML config; any problem is one AdaptlabError line naming the file."""
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
        return RunConfig.model_validate(raw)
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


# (run label, runs done, runs planned, questions of the run starting now, or 0 when none starts)
Progress = Callable[[str, int, int, int], None]


def execute(config: RunConfig, rundir: Path, on_run: Progress | None = None,
            on_questions: Callable[[int], None] | None = None) -> dict[str, int]:
    """Run every model × dataset × seed × method not yet stored in RUNDIR/results.sqlite."""
    from adaptlab.data.io import load_dataset
    from adaptlab.experiment import run_config, run_experiment, run_id
    from adaptlab.models.registry import load_model
    from adaptlab.store import Store

    rundir.mkdir(parents=True, exist_ok=True)
    (rundir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    plan = [(m, d, s, meth) for m in config.models for d in config.datasets for s in config.seeds
            for meth in config.methods]
    counts = {"planned": len(plan), "skipped": 0, "ran": 0}
    with Store(rundir / "results.sqlite") as store:
        loaded: dict[str, Any] = {}
        for i, (model_name, spec, seed, method) in enumerate(plan):
            folder = dataset_folder(spec, seed, rundir)
            dataset = load_dataset(folder)
            if config.limit is not None:
                dataset = dataset.limited(config.limit)
            options = config.options_for(method)
            extra = {"dataset": spec.model_dump(exclude_none=True), "limit": config.limit}
            rid = run_id(model_name, dataset.name, method, seed, run_config(options, extra))
            label = f"{model_name} · {spec.label()} · {method} · seed {seed}"
            if store.is_done(rid):
                counts["skipped"] += 1
                if on_run:
                    on_run(f"{label} (done)", i + 1, len(plan), 0)
                continue
            if on_run:
                on_run(label, i, len(plan), len(dataset.questions))
            if model_name not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[model_name] = load_model(model_name, device=config.device, dtype=config.dtype)
            workdir = rundir / "work" / re.sub(r"[^A-Za-z0-9_.-]+", "_", rid)
            result = run_experiment(loaded[model_name], model_name, dataset, method, seed, options, workdir,
                                    progress=on_questions, cache_dir=rundir / "cache", extra_config=extra)
            store.save(result)
            counts["ran"] += 1
            if on_run:
                on_run(label, i + 1, len(plan), 0)
    return counts


def _digest(params: dict[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
