"""A config's plan: every model × dataset × seed × method as a `PlannedRun`, with its dataset drawn and loaded and
its run id computed, before any model is loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.options import MethodOptions
from adaptlab.retention import Retention
from adaptlab.runs.config import DatasetSpec, RunConfig, load_config


def dataset_folder(spec: DatasetSpec, seed: int, rundir: Path) -> Path:
    """The dataset for this seed: generated (once per generator version) into the run folder, or the user's
    folder. A folder drawn by an earlier version of the generator is drawn again: its data is not what the config
    asks for now (its runs stay stored under their own ids)."""
    from adaptlab.data.io import MANIFEST, read_manifest
    from adaptlab.data.registry import generator, make_dataset

    if spec.path is not None:
        return Path(spec.path)
    assert spec.name is not None
    suffix = f"-{_digest(spec.params)}" if spec.params else ""
    folder = rundir / "data" / f"{spec.name}-seed{seed}{suffix}"
    manifest = folder / MANIFEST  # written last: its presence means complete
    if not manifest.exists() or read_manifest(manifest).generator_version != generator(spec.name).VERSION:
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
    # An update run: the path the method is brought up to date along, and the run id of its ordinary run (whose
    # trained model it loads when `adaptlab finetune` left one)
    update_path: str | None = None
    base_run_id: str | None = None
    retention: Retention = "none"

    @property
    def label(self) -> str:
        if self.update_path is not None:
            return (f"{self.model} · {self.dataset_spec.label()}@update · {self.method}/{self.update_path} · "
                    f"seed {self.seed}")
        return f"{self.model} · {self.dataset_spec.label()} · {self.method} · seed {self.seed}"

    @property
    def info(self) -> dict[str, Any]:
        return {"dataset_spec": self.dataset_spec.model_dump(exclude_none=True)}

    def workdir(self, rundir: Path) -> Path:
        return rundir / "work" / safe_name(self.run_id)

    def base_trained(self, rundir: Path) -> Path | None:
        """An update run: where its ordinary run's trained model would be (`adaptlab finetune`)."""
        from adaptlab.training.trained import TRAINED

        return rundir / "work" / safe_name(self.base_run_id) / TRAINED if self.base_run_id else None


def safe_name(run_id: str) -> str:
    """A run id as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def plan_runs(config: RunConfig, rundir: Path) -> list[PlannedRun]:
    """Every run of the config, in order. Generates missing datasets and loads every dataset first, so that a bad
    dataset stops the job before any model is loaded or trained."""
    from adaptlab.data.io import load_dataset
    from adaptlab.experiment import run_identity
    from adaptlab.models.registry import check_model, model_fingerprint

    for model in config.models:  # a model that cannot load stops the job before any dataset is drawn
        check_model(model)
    fingerprints = {m: model_fingerprint(m) for m in config.models}
    datasets: dict[tuple[int, int], Dataset] = {}
    for d, spec in enumerate(config.datasets):
        for seed in spec.seeds_in(config):
            dataset = load_dataset(dataset_folder(spec, seed, rundir))
            datasets[d, seed] = dataset.limited(config.limit) if config.limit is not None else dataset
    if config.update_paths and not any(d.update is not None for d in datasets.values()):
        raise AdaptlabError("update_paths is set, but no dataset of the config has an update (a generator's "
                            "`update_share` param, or a dataset folder with update/)")
    plan = []
    for model in config.models:
        for d, spec in enumerate(config.datasets):
            for seed in spec.seeds_in(config):
                for method in config.methods:
                    dataset, options = datasets[d, seed], config.options_for(method)
                    rid, _ = run_identity(model, fingerprints[model], dataset, method, seed, options,
                                          retention=config.retention)
                    plan.append(PlannedRun(model, spec, seed, method, dataset, options, rid, fingerprints[model],
                                           retention=config.retention))
    # Update runs after every ordinary run: each independent of the others (it prepares again, or loads the
    # ordinary run's trained model), in the same order
    for run in list(plan):
        if run.dataset.update is None:
            continue
        for path in config.update_paths_for(run.method):
            uid, _ = run_identity(run.model, run.model_fingerprint, run.dataset, run.method, run.seed, run.options,
                                  update_path=path, retention=config.retention)
            plan.append(PlannedRun(run.model, run.dataset_spec, run.seed, run.method, run.dataset, run.options, uid,
                                   run.model_fingerprint, update_path=path, base_run_id=run.run_id,
                                   retention=config.retention))
    return plan


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
