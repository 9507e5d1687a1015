"""Run ids are the keys of every stored result: a user's results folder must not recompute after an upgrade. These
ids were computed by the released code; a change to how options are parsed, dumped or hashed breaks them.
A change to a dataset's content changes them on purpose (simple-reversals version 2 moved the simple-reversals
ids; the simple-syllogisms ids stayed)."""

import hashlib
from pathlib import Path

from adaptlab.demo import demo_config
from adaptlab.runs import RunConfig, plan_runs


def test_the_demo_configs_run_ids_are_stable(tmp_path: Path):
    ids = [r.run_id for r in plan_runs(demo_config("organism"), tmp_path)]
    assert len(ids) == 90
    assert ids[0] == "organism|simple-reversals|pretrained|seed0|a0d8ba051d6c"
    assert ids[-1] == "organism|simple-syllogisms|aug-oracle-ft|seed7|83b7b6daeec8"
    assert hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16] == "2cfd4ac69f0dccd4"


def test_run_ids_with_every_option_group_set_are_stable(tmp_path: Path):
    config = RunConfig.model_validate({
        "models": ["organism"], "datasets": [{"name": "simple-reversals", "params": {"n_facts": 4}}],
        "methods": ["pretrained", "icl", "rag", "ft", "aug-ft", "memory"], "seeds": [3],
        "options": {"k": 3, "retriever": "bm25", "icl_fraction": 0.5, "max_context_tokens": 300,
                    "augmenter": "organism", "finetune": {"steps": 7, "learning_rate": 1e-3},
                    "augment": {"max_new_tokens_local": 32}, "memory": {"steps": 5}},
    })
    ids = [r.run_id for r in plan_runs(config, tmp_path)]
    methods = ["pretrained", "icl", "rag", "ft", "aug-ft", "memory"]
    assert ids == [f"organism|simple-reversals|{m}|seed3|f0037c959d92" for m in methods]
