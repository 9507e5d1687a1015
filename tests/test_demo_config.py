"""The demo's presets: shipped run configs, sized so that every split has statistical power and every in-context
prompt fits the organism's window."""

import math
import os
from pathlib import Path
from typing import Any

import yaml

from adaptlab.data.registry import generator
from adaptlab.demo import demo_config, preset_path
from adaptlab.runs import RunConfig, load_config
from conftest import as_dataset

# What the presets ship, pinned: a change to either is a change to the demo's results, made on purpose here too.
ORGANISM = {
    "models": ["organism"],
    "datasets": [
        {"name": "simple-reversals", "path": None, "params": {"n_facts": 16, "articles_per_fact": 3}, "seeds": None},
        {"name": "simple-syllogisms", "path": None, "params": {"n_examples": 18}, "seeds": list(range(8))},
    ],
    "methods": ["pretrained", "icl", "ft", "aug-ft", "aug-oracle-ft"],
    "seeds": list(range(10)),
    "options": {
        "finetune": {"mode": "full", "steps": 300, "batch_size": 16, "learning_rate": 5.0e-3, "warmup_steps": 10,
                     "save_steps": 1000},
        "augment": {"max_new_tokens_local": 64, "max_new_tokens_global": 96},
    },
    "executor": "processes",
}
LLM = {
    "models": ["smollm2"],
    "datasets": [
        {"name": "simple-reversals", "path": None, "params": {"n_facts": 10, "articles_per_fact": 4}, "seeds": None},
        {"name": "simple-syllogisms", "path": None, "params": {"n_examples": 12}, "seeds": None},
    ],
    "methods": ["pretrained", "icl", "ft", "aug-ft", "aug-oracle-ft"],
    "seeds": [0, 1, 2],
    "options": {
        "finetune": {"mode": "lora", "steps": 120, "batch_size": 8, "learning_rate": 3.0e-4, "save_steps": 1000},
        "augment": {"max_new_tokens_local": 64, "max_new_tokens_global": 128, "global_max_documents": 16},
    },
    "executor": "processes",
}


def _shipped(config: RunConfig) -> dict[str, Any]:
    return config.model_dump(include=set(ORGANISM))


def test_presets_are_the_shipped_yaml_files_and_load_as_written():
    for model, name, want in (("organism", "demo_organism.yaml", ORGANISM), ("smollm2", "demo_llm.yaml", LLM)):
        path = preset_path(model)
        assert path.is_file() and path.name == name and path.parent.name == "configs"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(raw) == set(want)  # the YAML says all of this and nothing else
        for key in ("models", "methods", "seeds", "options", "executor"):
            assert raw[key] == want[key], (name, key)
        assert raw["datasets"] == [{k: v for k, v in d.items() if v is not None} for d in want["datasets"]]
        # load_config keeps every value, with defaults only where the YAML says nothing
        assert _shipped(load_config(path)) == want
        assert load_config(path).workers is None and load_config(path).method_options == {}


def test_demo_config_is_the_preset_with_the_model_given():
    assert _shipped(demo_config("organism")) == ORGANISM
    assert _shipped(demo_config("smollm2")) == LLM
    # any other model: the LLM preset's study on that model
    assert _shipped(demo_config("tiny")) == {**LLM, "models": ["tiny"]}
    # 5 methods × (10 reversal + 8 syllogism worlds) on the organism; 5 × 2 × 3 with an LLM
    organism = demo_config("organism")
    assert sum(len(d.seeds_in(organism)) for d in organism.datasets) * len(organism.methods) == 90
    llm = demo_config("smollm2")
    assert sum(len(d.seeds_in(llm)) for d in llm.datasets) * len(llm.methods) == 30


def test_demo_command_runs_the_preset_into_its_model_folder(tmp_path: Path, cli, monkeypatch, unpinned_kernels: None):
    import adaptlab.cli.study
    import adaptlab.report.build
    import adaptlab.store
    from adaptlab.kernels import PINS

    seen: list[tuple[RunConfig, Path]] = []

    def run(config: RunConfig, out: Path, *args: object) -> list[str]:
        seen.append((config, out))
        return ["a-run"]

    reports: list[tuple[Path, list[str]]] = []

    def report(folder: Path, run_ids: list[str]) -> tuple[Path, Path]:
        reports.append((folder, run_ids))
        return folder / "report.md", folder / "report.html"

    digests: list[tuple[Path, list[str]]] = []

    def digest(db: Path, run_ids: list[str]) -> str:
        digests.append((db, run_ids))
        return "0123456789abcdef" * 4

    monkeypatch.setattr(adaptlab.cli.study, "run_command_with", run)
    monkeypatch.setattr(adaptlab.report.build, "build_report", report)
    monkeypatch.setattr(adaptlab.store, "scores_digest", digest)
    code, out, err = cli("demo", "--out", tmp_path)
    assert code == 0, err
    assert [(_shipped(c), o) for c, o in seen] == [(ORGANISM, tmp_path / "organism")]
    assert reports == [(tmp_path / "organism", ["a-run"])] and "report.html" in out
    assert digests == [(tmp_path / "organism" / "results.sqlite", ["a-run"])]
    assert "scores digest 0123456789abcdef (1 runs; kernels: ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE)" in out
    assert {k: os.environ[k] for k in PINS} == PINS  # set in the environment the worker processes inherit
    code, _, err = cli("demo", "--model", "tiny", "--out", tmp_path)
    assert code == 0, err
    assert (_shipped(seen[-1][0]), seen[-1][1]) == ({**LLM, "models": ["tiny"]}, tmp_path / "tiny")


def test_the_docs_name_the_shipped_preset():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "organism.md").read_text(encoding="utf-8")
    assert "`make demo` (= `adaptlab demo`) runs the preset `src/adaptlab/configs/demo_organism.yaml`" in readme
    assert "`adaptlab demo --model smollm2` runs `src/adaptlab/configs/demo_llm.yaml`" in readme
    assert [preset_path(m).parts[-3:] for m in ("organism", "smollm2")] == [
        ("adaptlab", "configs", "demo_organism.yaml"), ("adaptlab", "configs", "demo_llm.yaml")]


def test_organism_demo_has_power_and_fits_the_organism():
    import torch

    from adaptlab.models.prompts import SEPARATOR
    from adaptlab.models.registry import load_model

    torch.set_num_threads(1)
    config = demo_config("organism")
    lm = load_model("organism")
    for spec in config.datasets:
        module = generator(spec.name)
        per_split: dict[str, int] = {}
        for seed in spec.seeds_in(config):
            g = module.generate(seed, **spec.params)
            ds = as_dataset(g, spec.name)
            for split in ds.splits:
                per_split[split] = per_split.get(split, 0) + len(ds.split(split))
            context = SEPARATOR.join(d.text for d in g.documents)
            longest = max(lm.count_tokens(q.prompt) + max(lm.count_tokens(c) for c in q.choices) for q in g.questions)
            assert lm.count_tokens(context) + longest + 4 <= lm.context_window, (spec.name, seed)
        for split, n in per_split.items():
            # the binomial standard error of a cell at 0.5, the worst case, within 0.06 (0.05 needs 100 questions)
            assert math.sqrt(0.25 / n) <= 0.06, (spec.name, split, n)
