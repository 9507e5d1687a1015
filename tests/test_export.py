"""`adaptlab export`: a stored run's trained artefact, loaded back, scores the run's questions as the run did.

A small study on the `tiny` model (LoRA `ft`, full `ft-split`, `memory`, and `pretrained`, which trains nothing) is
run once; each format is exported through the command line and loaded back the way its users load it: the adapter
with PEFT onto the base recorded in its adapter_config.json, the merged folder through adaptlab's own `--model
FOLDER` loading, the memory through `load_memory`. Every question × choice log-likelihood is then compared with the
stored `scores` table.

Measured on this machine (float32, CPU): the merged folders and the memory reproduce the stored log-likelihoods
exactly (0.0 difference: the same weights, the same operations); the unmerged PEFT adapter differs by at most
4.8e-6 nats on `tiny` and 2.6e-5 on SmolLM2 (it computes W·x + B·A·x instead of (W + B·A)·x), hence
ADAPTER_TOLERANCE.
"""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from adaptlab.evaluate import score_questions, score_rows
from adaptlab.methods.memory import load_memory
from adaptlab.models import load_model
from adaptlab.runs import RunConfig, execute, plan_runs
from adaptlab.store import Store

ADAPTER_TOLERANCE = 1e-4  # nats per choice; measured 4.8e-6 (tiny), 2.6e-5 (SmolLM2, 2 questions per split)

STUDY = {
    "models": ["tiny"],
    "datasets": [{"name": "simple-reversals", "params": {"n_facts": 4, "articles_per_fact": 1}}],
    "methods": ["pretrained", "ft", "ft-split", "memory"],
    "device": "cpu",
    "options": {
        "finetune": {"steps": 6, "batch_size": 2, "learning_rate": 1e-2, "warmup_steps": 0},
        "memory": {"positions": 8, "steps": 3, "batch_size": 2, "cuts": 1, "samples": 1, "max_new_tokens": 8},
    },
    # ft-split trains for a number of passes (`epochs`): its steps are known once its examples are
    "method_options": {"ft-split": {"finetune": {"mode": "full", "epochs": 1.5}}},
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """(run folder, planned run per method) of the small study, run once."""
    rundir = tmp_path_factory.mktemp("study")
    config = RunConfig(**STUDY)
    execute(config, rundir)
    return rundir, {r.method: r for r in plan_runs(config, rundir)}


def score_differences(model, run, rundir: Path) -> tuple[float, bool]:
    """(largest |Δ log-likelihood| over every question × choice, and its content-free one, against the stored run;
    whether every question's answer — the choice with the best per-character score — is the stored one)."""
    questions = run.dataset.questions
    scores, _ = score_questions(model, questions, [""] * len(questions))
    got = {(r.question_id, r.choice): r for r in score_rows(questions, scores)}
    with Store(rundir / "results.sqlite") as store:
        stored = {(r.question_id, r.choice): r for r in store.scores(run.run_id)}
    assert got.keys() == stored.keys() and stored
    diff = max(max(abs(got[k].logprob - s.logprob), abs(got[k].null_logprob - s.null_logprob))
               for k, s in stored.items())

    def answers(rows) -> dict[str, int]:
        best: dict[str, tuple[float, int]] = {}
        for (qid, choice), r in rows.items():
            best[qid] = max(best.get(qid, (float("-inf"), -1)), (r.logprob / max(r.n_chars, 1), choice))
        return {q: c for q, (_, c) in best.items()}

    return diff, answers(got) == answers(stored)


def test_lora_adapter_loads_in_peft_onto_the_recorded_base(study, cli, tmp_path: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    rundir, runs = study
    out = tmp_path / "adapter"
    code, stdout, _ = cli("export", rundir, "--run", runs["ft"].run_id, "--out", out)
    assert code == 0 and "LoRA adapter" in stdout
    assert {p.name for p in out.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "export.json"}
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and Path(config["base_model_name_or_path"]).is_dir()
    record = json.loads((out / "export.json").read_text())
    assert record["run_id"] == runs["ft"].run_id and record["format"] == "adapter"
    # as a PEFT user loads it: the base from the path the adapter records, then the adapter onto it
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    adapted = PeftModel.from_pretrained(base, str(out))
    model = load_model("tiny", device="cpu").with_weights(adapted, name="tiny+adapter")
    diff, same_answers = score_differences(model, runs["ft"], rundir)
    assert diff <= ADAPTER_TOLERANCE and same_answers


@pytest.mark.parametrize("method", ["ft", "ft-split"])
def test_merged_folder_loads_as_a_model_and_scores_as_the_run(study, cli, tmp_path: Path, method: str):
    rundir, runs = study
    out = tmp_path / "merged"
    args = ["--format", "merged"] if method == "ft" else []  # full fine-tuning's default is merged
    code, stdout, _ = cli("export", rundir, "--run", runs[method].run_id, "--out", out, *args)
    assert code == 0 and "merged weights" in stdout
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file()
    diff, same_answers = score_differences(load_model(str(out), device="cpu"), runs[method], rundir)
    assert diff == 0.0 and same_answers


def test_memory_prefix_loads_onto_the_base(study, cli, tmp_path: Path):
    rundir, runs = study
    out = tmp_path / "memory"
    code, stdout, _ = cli("export", rundir, "--run", runs["memory"].run_id, "--out", out)
    assert code == 0 and "trained memory" in stdout
    assert {p.name for p in out.iterdir()} == {"prefix.safetensors", "memory.json", "export.json"}
    model = load_memory(out, load_model("tiny", device="cpu"))
    assert model.reused_positions == 8
    diff, same_answers = score_differences(model, runs["memory"], rundir)
    assert diff == 0.0 and same_answers


def test_memory_of_a_model_with_convolution_states_loads_back(tmp_path: Path):
    """The organism (an LFM2) caches short-convolution states besides keys and values: every one is a tensor of the
    saved memory, and loading it back scores exactly as the run did."""
    from adaptlab.experiment import run_experiment
    from adaptlab.options import MethodOptions
    from conftest import generated_dataset

    organism = load_model("organism", device="cpu")
    dataset = generated_dataset("simple-reversals", 0, n_facts=4, articles_per_fact=1)
    options = MethodOptions(memory=STUDY["options"]["memory"])
    result = run_experiment(organism, "organism", dataset, "memory", 0, options, tmp_path)
    record = json.loads((tmp_path / "memory" / "memory.json").read_text())
    assert {slot[1] for slot in record["slots"]} >= {"keys", "values", "conv_states"}
    model = load_memory(tmp_path / "memory", load_model("organism", device="cpu"))
    scores, _ = score_questions(model, dataset.questions, [""] * len(dataset.questions))
    assert score_rows(dataset.questions, scores) == result.scores


def test_a_run_trained_by_adaptlab_finetune_exports_its_trained_folder(cli, tmp_path: Path):
    """`adaptlab finetune` hands its runs over as merged model folders (`work/<run id>/trained/model`): `merged`
    copies that folder, which `adaptlab run` evaluated; the adapter still comes from the final checkpoint."""
    import yaml
    from peft import PeftModel

    study = {**STUDY, "methods": ["ft"], "method_options": {}}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(study))
    rundir = tmp_path / "run"
    assert cli("finetune", config_file, "--out", rundir)[0] == 0
    assert cli("run", config_file, "--out", rundir)[0] == 0
    (run,) = plan_runs(RunConfig(**study), rundir)
    assert (run.workdir(rundir) / "trained" / "trained.json").is_file()
    assert cli("export", rundir, "--run", run.run_id, "--out", tmp_path / "merged", "--format", "merged")[0] == 0
    diff, same_answers = score_differences(load_model(str(tmp_path / "merged"), device="cpu"), run, rundir)
    assert diff == 0.0 and same_answers
    assert cli("export", rundir, "--run", run.run_id, "--out", tmp_path / "adapter")[0] == 0
    base = load_model("tiny", device="cpu")
    adapted = PeftModel.from_pretrained(base.torch_model, str(tmp_path / "adapter"))
    diff, same_answers = score_differences(base.with_weights(adapted, name="tiny+adapter"), run, rundir)
    assert diff <= ADAPTER_TOLERANCE and same_answers


def test_a_unique_start_of_the_id_names_the_run_and_force_replaces(study, cli, tmp_path: Path):
    rundir, runs = study
    out = tmp_path / "x"
    out.mkdir()
    (out / "old.txt").write_text("old")
    start = runs["ft-split"].run_id[: runs["ft-split"].run_id.rindex("|") + 3]  # model|dataset|method|seed|ab
    code, _, _ = cli("export", rundir, "--run", start, "--out", out, "--force")
    assert code == 0
    assert json.loads((out / "export.json").read_text())["run_id"] == runs["ft-split"].run_id
    assert not (out / "old.txt").exists() and not out.with_name("x.partial").exists()


def _copy(rundir: Path, tmp: Path) -> Path:
    """A copy of the study's run folder, to break."""
    copy = tmp / "copy"
    shutil.copytree(rundir, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


BAD = {
    "unknown run": (lambda runs: ["--run", "no-such-run"], "no stored run 'no-such-run'"),
    "ambiguous": (lambda runs: ["--run", "tiny|"], "stored runs match 'tiny|'"),
    "no weights": (lambda runs: ["--run", runs["pretrained"].run_id], "method pretrained trains nothing"),
    "unknown format": (lambda runs: ["--run", runs["ft"].run_id, "--format", "zip"], "--format 'zip': not one"),
    "no adapter": (lambda runs: ["--run", runs["ft-split"].run_id, "--format", "adapter"],
                   "(full fine-tuning) has no adapter"),
    "gguf": (lambda runs: ["--run", runs["ft"].run_id, "--format", "gguf"], "gguf is not supported"),
    "memory from ft": (lambda runs: ["--run", runs["ft"].run_id, "--format", "memory"], "has no memory"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(study, cli, tmp_path: Path, case: str):
    rundir, runs = study
    args, message = BAD[case]
    out = tmp_path / "out"
    code, _, stderr = cli("export", rundir, *args(runs), "--out", out)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_kept_without_force(study, cli, tmp_path: Path):
    rundir, runs = study
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, _, stderr = cli("export", rundir, "--run", runs["ft"].run_id, "--out", out)
    assert code == 2 and "exists already" in stderr and len(stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"
    # --force never replaces a folder that holds the run folder itself
    code, _, stderr = cli("export", rundir, "--run", runs["ft"].run_id, "--out", rundir.parent, "--force")
    assert code == 2 and "which the export reads" in stderr
    assert (rundir / "results.sqlite").is_file()


def test_a_run_whose_artefact_is_gone_or_whose_base_changed_is_one_line(study, cli, tmp_path: Path):
    rundir, runs = study
    copy = _copy(rundir, tmp_path)
    # the memory folder removed (as in a run stored before memory runs kept their prefix)
    shutil.rmtree(runs["memory"].workdir(copy) / "memory")
    code, _, stderr = cli("export", copy, "--run", runs["memory"].run_id, "--out", tmp_path / "m")
    assert code == 2 and "no trained memory kept" in stderr and not (tmp_path / "m").exists()
    # the final checkpoint removed
    shutil.rmtree(runs["ft"].workdir(copy) / "checkpoints")
    code, _, stderr = cli("export", copy, "--run", runs["ft"].run_id, "--out", tmp_path / "a")
    assert code == 2 and "no final checkpoint (checkpoint-6)" in stderr and not (tmp_path / "a").exists()
    # the base model's weights are not those the run was trained on
    run_id = runs["ft-split"].run_id
    with sqlite3.connect(copy / "results.sqlite") as db:
        (stored,) = db.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        config = {**json.loads(stored), "model_fingerprint": "0" * 16}
        db.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config, sort_keys=True), run_id))
    code, _, stderr = cli("export", copy, "--run", run_id, "--out", tmp_path / "f")
    assert code == 2 and "changed since it ran" in stderr and not (tmp_path / "f").exists()


@pytest.mark.slow
def test_smollm2_adapter_and_merged_score_as_the_run(cli, tmp_path: Path):
    from peft import PeftModel

    config = RunConfig(**{**STUDY, "models": ["smollm2"], "methods": ["ft"], "limit": 2, "method_options": {},
                          "options": {"finetune": {"steps": 2, "batch_size": 2, "warmup_steps": 0}}})
    rundir = tmp_path / "run"
    execute(config, rundir)
    (run,) = plan_runs(config, rundir)
    code, _, _ = cli("export", rundir, "--run", run.run_id, "--out", tmp_path / "adapter")
    assert code == 0
    code, _, _ = cli("export", rundir, "--run", run.run_id, "--out", tmp_path / "merged", "--format", "merged")
    assert code == 0
    diff, same_answers = score_differences(load_model(str(tmp_path / "merged"), device="cpu"), run, rundir)
    assert diff == 0.0 and same_answers
    base = load_model("smollm2", device="cpu")
    adapted = PeftModel.from_pretrained(base.torch_model, str(tmp_path / "adapter"))
    diff, same_answers = score_differences(base.with_weights(adapted, name="smollm2+adapter"), run, rundir)
    assert diff <= ADAPTER_TOLERANCE and same_answers


def test_a_folder_without_results_or_a_missing_option_is_one_line(cli, tmp_path: Path):
    code, _, stderr = cli("export", tmp_path / "none", "--run", "x", "--out", tmp_path / "out")
    assert code == 2 and "no results.sqlite here" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = cli("export", tmp_path / "none", "--out", tmp_path / "out")
    assert code == 2 and "--run" in stderr and len(stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
