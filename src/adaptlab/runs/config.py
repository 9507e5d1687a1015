"""An experiment config: models × datasets × methods × seeds and every option, from YAML, validated whole.

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
retention: none                    # auto | general-knowledge | fresh-worlds: what each run's model still knows,
                                   # stored beside it (see adaptlab.retention)
options:                           # for every method (see MethodOptions)
  k: 8
  finetune: {steps: 200, batch_size: 8, learning_rate: 3.0e-4}
method_options:                    # per-method overrides, merged over `options`
  aug-local-ft: {augment: {max_new_tokens_local: 64}}
update_paths:                      # datasets with an update (a generator's `update_share`, a folder's update/):
  ft: [continue]                   # each method's update runs, along these of its paths (default: all of them)
executor: sequential               # processes: runs side by side in worker processes on this machine
                                   # (see adaptlab.runs.local); ray: each run a Ray task (see adaptlab.runs.on_ray);
                                   # `--executor` overrides
workers: null                      # the processes executor: how many (default: one per physical core)
track: mlflow                      # log every run to MLflow (or {to: mlflow, uri: URI, experiment: NAME};
                                   # see adaptlab.runs.track); `--track mlflow` does the same
ray:
  address: null                    # a running cluster ("auto", "ray://head:10001"); none: start a local Ray
  num_cpus: null                   # a local Ray only: CPUs it may use (default: all)
  resources:                       # what each run's task reserves: per method, else `default`, else one
    default: {num_cpus: 1}         # CPU and (when the cluster has GPUs) one GPU
    ft: {num_cpus: 1, num_gpus: 1}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptlab.errors import AdaptlabError, describe_validation_error
from adaptlab.methods import get_method, method_names
from adaptlab.options import MethodOptions
from adaptlab.retention import Retention

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

    @field_validator("seeds")
    @classmethod
    def _seeds_once(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            _no_repeats("seeds", v)
        return v

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


TRACKERS = ("mlflow",)


class TrackOptions(BaseModel):
    """Where runs are tracked: `track: mlflow`, or `track: {to: mlflow, uri: ..., experiment: ...}`."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["mlflow"] = "mlflow"
    uri: str | None = None  # default: sqlite inside the run folder (RUNDIR/mlruns/mlflow.db)
    experiment: str | None = None  # default: the run folder's name

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"to": value} if isinstance(value, str) else value


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[str] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, lt=2**63)]] = Field(default_factory=lambda: [0], min_length=1)
    limit: int | None = Field(None, ge=1)
    retention: Retention = "none"
    device: str = "auto"
    dtype: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    update_paths: dict[str, list[str]] = Field(default_factory=dict)  # per method: its update runs' paths
    executor: Literal["sequential", "processes", "ray"] = "sequential"
    workers: int | None = Field(None, ge=1)  # the processes executor: worker processes (default: physical cores)
    ray: RayOptions = Field(default_factory=RayOptions)
    track: TrackOptions | None = None  # log every run to an experiment tracker (see adaptlab.runs.track)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: list[str]) -> list[str]:
        _no_repeats("methods", v)
        for name in v:
            if name not in method_names():
                raise ValueError(f"unknown method {name!r}; known: {', '.join(method_names())}")
        return v

    @field_validator("models", "seeds")
    @classmethod
    def _listed_once(cls, v: list[Any], info: Any) -> list[Any]:
        _no_repeats(info.field_name, v)
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
        for name, paths in self.update_paths.items():
            if name not in self.methods:
                raise ValueError(f"update_paths names {name!r}, which is not in methods")
            _no_repeats(f"update_paths.{name}", paths)
            known = get_method(name, self.options_for(name)).update_paths
            for path in paths:
                if path not in known:
                    raise ValueError(f"update_paths.{name}: {name} has no update path {path!r}; its paths: "
                                     f"{', '.join(known) or 'none'}")
        return self

    def update_paths_for(self, method: str) -> tuple[str, ...]:
        """The paths of the method's update runs: the config's `update_paths` entry, else all the method's."""
        if method in self.update_paths:
            return tuple(self.update_paths[method])
        return get_method(method, self.options_for(method)).update_paths

    def options_for(self, method: str) -> MethodOptions:
        merged = _deep_merge(self.options, self.method_options.get(method, {}))
        return MethodOptions(**merged)


def _no_repeats(field: str, values: list[Any]) -> None:
    """A list that names one thing twice would run it twice and store it once: refused."""
    twice = [v for i, v in enumerate(values) if v in values[:i]]
    if twice:
        raise ValueError(f"{field} lists {twice[0]!r} twice")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: Path | str) -> RunConfig:
    """Parse and validate a YAML config; any problem is one AdaptlabError line naming the file."""
    return load_yaml_model(path, RunConfig)


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (which would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} written twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml_model(path: Path | str, model: type[M]) -> M:
    """A YAML file validated as the pydantic `model`; any problem is one AdaptlabError line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise AdaptlabError(f"{path}: is a folder, not a config file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)
    except FileNotFoundError:
        raise AdaptlabError(f"{path}: config file not found") from None
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot read the config ({e.strerror or e})") from None
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
