"""Identical reruns: the same seed gives the same trained model and the same stored scores, whatever ran before in
the process, and after an interruption (even one that cut a checkpoint short) training resumes to the same model."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import torch

from adaptlab.data.records import Dataset
from adaptlab.data.registry import generator
from adaptlab.options import FinetuneConfig
from adaptlab.progress import listening
from adaptlab.training.examples import make_examples
from adaptlab.training.finetune import finetune, last_complete_checkpoint


@pytest.fixture(scope="module")
def examples():
    g = generator("simple-reversals").generate(0, n_facts=4, articles_per_fact=1)
    return make_examples(Dataset("simple-reversals", g.documents, g.questions).documents)


def _weights(lm) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in lm.model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_training_depends_on_the_seed_alone(tiny, examples, tmp_path: Path, mode: str):
    config = FinetuneConfig(mode=mode, steps=6, batch_size=2, save_steps=100)
    first, _, _ = finetune(tiny, examples, config, tmp_path / "a", seed=3)
    # Whatever else used the global random generators in between must not change the result.
    random.random()
    torch.rand(1000)
    second, _, _ = finetune(tiny, examples, config, tmp_path / "b", seed=3)
    other, _, _ = finetune(tiny, examples, config, tmp_path / "c", seed=4)
    assert _same(_weights(first), _weights(second))
    assert not _same(_weights(first), _weights(other))


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_interrupted_training_resumes_to_the_same_model(tiny, examples, tmp_path: Path, mode: str):
    config = FinetuneConfig(mode=mode, steps=8, batch_size=2, save_steps=4)
    whole, _, log = finetune(tiny, examples, config, tmp_path / "whole", seed=0)
    assert not log["resumed"]

    def stop_after_checkpoint(phase: str, step: int, total: int, detail: str) -> None:
        if phase == "fine-tuning" and step == 6:  # checkpoint-4 is on disk, steps 5-6 are lost
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), listening(stop_after_checkpoint):
        finetune(tiny, examples, config, tmp_path / "cut", seed=0)
    checkpoints = tmp_path / "cut" / "checkpoints"
    # A checkpoint cut short by kill -9: the folder exists, its trainer state was never written.
    partial = checkpoints / "checkpoint-8"
    partial.mkdir()
    (partial / "README.md").write_text("partial")
    assert last_complete_checkpoint(checkpoints) == checkpoints / "checkpoint-4"
    assert not partial.exists()
    (partial).mkdir()
    (partial / "README.md").write_text("partial")
    resumed, _, log = finetune(tiny, examples, config, tmp_path / "cut", seed=0)
    assert log["resumed"]
    assert _same(_weights(whole), _weights(resumed))


CONFIG = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 4, articles_per_fact: 1}
methods: [pretrained, icl, rag, ft, aug-local-ft, aug-oracle-ft]
seeds: [0]
options:
  k: 2
  finetune: {steps: 4, batch_size: 2, save_steps: 100}
  augment: {max_new_tokens_local: 12}
"""


def _stored(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_id, question_id, choice, logprob, null_logprob FROM scores ORDER BY 1, 2, 3")
        out: dict[str, list[tuple]] = {}
        for run_id, *rest in rows:
            out.setdefault(run_id, []).append(tuple(rest))
        return out


def test_the_same_config_twice_stores_identical_scores_for_every_method(tmp_path: Path, cli):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    for out in ("a", "b"):
        code, _, err = cli("run", config, "--out", tmp_path / out)
        assert code == 0, err
    a, b = _stored(tmp_path / "a" / "results.sqlite"), _stored(tmp_path / "b" / "results.sqlite")
    assert len(a) == 6 and a.keys() == b.keys()
    for run_id in a:
        assert a[run_id] == b[run_id], run_id
