"""Knowledge updates: every method's update paths on the tiny model, update runs in the run grid (ids, resuming,
executors), and `recommend` deciding on the measured update costs and the accuracy after an update."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.data.io import load_dataset
from adaptlab.data.records import UPDATE_SPLITS, Dataset
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from adaptlab.methods import MethodOptions, get_method, method_names
from adaptlab.methods.base import UPDATE

FT = {"mode": "full", "steps": 8, "batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 1, "save_steps": 1000}
PARAMS = {"n_facts": 6, "articles_per_fact": 2}
PATHS = {"pretrained": ("none",), "icl": ("swap",), "rag": ("reindex",), "memory": ("retrain",),
         "ft": ("retrain", "continue"), "ft-split": ("retrain", "continue"), "ft+rag": ("retrieve", "retrain"),
         "ft-lora": ("retrain", "continue"), "ft-full": ("retrain", "continue"),
         "aug-ft": ("reaugment", "retrain"), "aug-local-ft": ("reaugment", "retrain"),
         "aug-global-ft": ("reaugment", "retrain"), "aug-oracle-ft": ("reaugment", "retrain")}


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> Dataset:
    folder = tmp_path_factory.mktemp("data") / "d"
    make_dataset("simple-reversals", 0, folder, {**PARAMS, "update_share": 0.34})
    return load_dataset(folder)


def options() -> MethodOptions:
    return MethodOptions(finetune=FT, k=2, memory={"steps": 2, "positions": 4, "samples": 1, "max_new_tokens": 4})


def test_every_method_declares_its_update_paths():
    assert {m: get_method(m, options()).update_paths for m in method_names()} == PATHS


def test_an_unknown_path_is_a_one_line_error(tiny, versions, tmp_path: Path):
    method = get_method("icl")
    prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path)
    with pytest.raises(AdaptlabError, match=r"^method icl has no update path 'retrain'; its paths: swap$"):
        method.update(prepared, tiny, versions, versions.update, path="retrain", seed=0, workdir=tmp_path)


def test_prompt_methods_swap_the_corpus(tiny, versions, tmp_path: Path):
    after = versions.update
    assert after is not None
    changed = after.changed_documents(versions)
    gone = [d for d in versions.documents if d not in after.documents]
    assert changed and gone
    for name, path in (("icl", "swap"), ("rag", "reindex")):
        method = get_method(name, options())
        prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path)
        updated = method.update(prepared, tiny, versions, after, path=path, seed=0, workdir=tmp_path / name)
        assert len(updated.contexts) == len(after.questions)
        text = "\n".join(updated.contexts)
        assert any(d.text in text for d in changed) and not any(d.text in text for d in gone)
        assert [c.phase for c in updated.costs if c.kind == UPDATE] == [f"update:{path if name == 'icl' else 'index'}"]


def test_ft_continue_trains_the_old_weights_on_the_changed_documents(tiny, versions, tmp_path: Path):
    import torch

    after = versions.update
    assert after is not None
    method = get_method("ft", options())
    prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path / "initial")
    retrained = method.update(prepared, tiny, versions, after, path="retrain", seed=0, workdir=tmp_path / "r")
    continued = method.update(prepared, tiny, versions, after, path="continue", seed=0, workdir=tmp_path / "c")
    [r] = [c for c in retrained.costs if c.kind == UPDATE]
    [c] = [c for c in continued.costs if c.kind == UPDATE]
    assert r.phase == c.phase == "update:finetune"
    assert 0 < c.tokens_trained < r.tokens_trained and c.flops < r.flops  # cheaper: fewer steps on fewer documents
    assert continued.info["changed_documents"] == len(after.changed_documents(versions))
    # continued from the fine-tuned weights, retrained from the base's: three different models
    base, old, new, again = (next(m.torch_model.parameters()) for m in (tiny, prepared.model, continued.model,
                                                                          retrained.model))
    assert not torch.equal(base, old) and not torch.equal(old, new) and not torch.equal(new, again)


def test_ft_rag_retrieve_keeps_the_weights_and_retrieves_from_the_new_corpus(tiny, versions, tmp_path: Path):
    after = versions.update
    assert after is not None
    method = get_method("ft+rag", options())
    prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path)
    updated = method.update(prepared, tiny, versions, after, path="retrieve", seed=0, workdir=tmp_path / "u")
    assert updated.model is prepared.model
    assert [c.phase for c in updated.costs if c.kind == UPDATE] == ["update:index"]
    assert len(updated.contexts) == len(after.questions)


def test_aug_ft_reaugments_only_the_changed_documents(tiny, versions, tmp_path: Path):
    after = versions.update
    assert after is not None
    opts = MethodOptions(finetune=FT, augment={"max_new_tokens_local": 6, "max_new_tokens_global": 6})
    method = get_method("aug-local-ft", opts)
    prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path, cache_dir=tmp_path)
    re = method.update(prepared, tiny, versions, after, path="reaugment", seed=0, workdir=tmp_path / "u",
                       cache_dir=tmp_path)
    full = method.update(prepared, tiny, versions, after, path="retrain", seed=0, workdir=tmp_path / "r",
                         cache_dir=tmp_path)
    phases = {c.phase: c for c in re.costs if c.kind == UPDATE}
    assert set(phases) == {"update:augment", "update:finetune"}
    assert phases["update:augment"].tokens_generated > 0
    retrained = {c.phase: c for c in full.costs if c.kind == UPDATE}
    assert phases["update:augment"].tokens_generated < retrained["update:augment"].tokens_generated


def test_memory_retrains_its_prefix(tiny, versions, tmp_path: Path):
    after = versions.update
    assert after is not None
    method = get_method("memory", options())
    prepared = method.prepare(tiny, versions, seed=0, workdir=tmp_path)
    updated = method.update(prepared, tiny, versions, after, path="retrain", seed=0, workdir=tmp_path / "u")
    assert {c.phase for c in updated.costs if c.kind == UPDATE} == {"update:self_study", "update:memory_train"}
    assert len(updated.contexts) == len(after.questions)


# ----------------------------------------------------------------------------- the run grid


def _config(tmp_path: Path, update_share: float | None = 0.34, **extra) -> Path:
    import yaml

    params = {**PARAMS, **({"update_share": update_share} if update_share else {})}
    config = {"models": ["tiny"], "datasets": [{"name": "simple-reversals", "params": params}],
              "methods": ["pretrained", "icl", "ft"], "seeds": [0], "options": {"finetune": FT}, **extra}
    path = tmp_path / f"config-{update_share}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_update_runs_join_the_grid_and_ordinary_ids_stay(tmp_path: Path):
    from adaptlab.runs import load_config, plan_runs

    plain = plan_runs(load_config(_config(tmp_path, None)), tmp_path / "a")
    with_update = plan_runs(load_config(_config(tmp_path)), tmp_path / "b")
    again = plan_runs(load_config(_config(tmp_path)), tmp_path / "b")
    assert [r.run_id for r in with_update] == [r.run_id for r in again]
    ordinary = [r for r in with_update if r.update_path is None]
    assert [r.run_id for r in ordinary] == [r.run_id for r in plain]  # the update does not enter them
    updates = [(r.method, r.update_path) for r in with_update if r.update_path is not None]
    assert updates == [("pretrained", "none"), ("icl", "swap"), ("ft", "retrain"), ("ft", "continue")]
    ids = [r.run_id for r in with_update if r.update_path]
    assert all("|simple-reversals@update|" in i for i in ids) and len(set(ids)) == len(ids)
    assert "|ft/continue|" in ids[-1]


def test_update_paths_restrict_and_are_validated(tmp_path: Path):
    from adaptlab.runs import load_config, plan_runs

    plan = plan_runs(load_config(_config(tmp_path, update_paths={"ft": ["continue"]})), tmp_path / "r")
    assert [(r.method, r.update_path) for r in plan if r.update_path] == [("pretrained", "none"), ("icl", "swap"),
                                                                            ("ft", "continue")]
    for bad, message in (({"ft": ["reindex"]}, "update_paths.ft: ft has no update path 'reindex'; its paths: "
                                                "retrain, continue"),
                         ({"rag": ["reindex"]}, "update_paths names 'rag', which is not in methods"),
                         ({"ft": ["continue", "continue"]}, "update_paths.ft lists 'continue' twice")):
        with pytest.raises(AdaptlabError, match=message):
            load_config(_config(tmp_path, update_paths=bad))
    with pytest.raises(AdaptlabError, match="update_paths is set, but no dataset of the config has an update"):
        plan_runs(load_config(_config(tmp_path, None, update_paths={"ft": ["continue"]})), tmp_path / "n")


def test_update_runs_are_stored_resumed_and_the_same_in_processes(tmp_path: Path):
    from adaptlab.runs import execute, load_config
    from adaptlab.store import Store

    config = load_config(_config(tmp_path))
    first = execute(config, tmp_path / "seq")
    assert first["ran"] == first["planned"] == 7
    assert execute(config, tmp_path / "seq")["skipped"] == 7  # resumable: nothing runs twice
    procs = execute(config, tmp_path / "procs", executor="processes")
    assert procs["ran"] == 7

    def metrics(rundir: Path) -> dict[tuple[str, str, str], float]:
        with Store(rundir / "results.sqlite") as store:
            runs = {r["run_id"]: r for r in store.runs()}
            return {(runs[m["run_id"]]["dataset"], runs[m["run_id"]]["method"], m["split"]): m["accuracy"]
                    for m in store.metrics() if m["metric"] == "per_char"}

    seq = metrics(tmp_path / "seq")
    assert seq == metrics(tmp_path / "procs")
    assert {s for d, m, s in seq if m == "ft/continue"} == set(UPDATE_SPLITS)
    assert {d for d, _, _ in seq} == {"simple-reversals", "simple-reversals@update"}
    with Store(tmp_path / "seq" / "results.sqlite") as store:
        runs = {r["run_id"]: r["method"] for r in store.runs()}
        phases = {(runs[c["run_id"]], c["phase"], c["kind"]) for c in store.costs()}
    assert ("ft/continue", "finetune", "one_off") in phases and ("ft/continue", "update:finetune", UPDATE) in phases
    assert ("ft", "finetune", "one_off") in phases and not any(m == "ft" and k == UPDATE for m, _, k in phases)


def test_an_update_run_loads_the_trained_model_adaptlab_finetune_left(tmp_path: Path):
    """`trained` (the ordinary run's model folder) is loaded, not trained again: its recorded costs come back."""
    import json

    from adaptlab.runs import execute, load_config, plan_runs
    from adaptlab.runs.finetune import finetune_runs
    from adaptlab.store import Store

    config = load_config(_config(tmp_path, update_paths={"ft": ["continue"]}))
    config = config.model_copy(update={"methods": ["ft"]})
    rundir = tmp_path / "r"
    finetune_runs(config, rundir)
    [base, update] = plan_runs(config, rundir)
    record = base.workdir(rundir) / "trained" / "trained.json"
    costs = json.loads(record.read_text())["costs"]
    costs[0]["seconds"] = 12345.0  # a mark: a model trained again would measure its own seconds
    record.write_text(json.dumps({**json.loads(record.read_text()), "costs": costs}))
    execute(config, rundir)
    with Store(rundir / "results.sqlite") as store:
        [row] = [c for c in store.costs() if c["run_id"] == update.run_id and c["phase"] == "finetune"]
    assert row["seconds"] == 12345.0
