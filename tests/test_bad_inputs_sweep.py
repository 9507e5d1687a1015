"""A second sweep of bad inputs, as a new user types them: each is one line with exit code 2, is refused before
anything is written, and leaves every stored result reachable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_bad_inputs import SMALL, one_line_error

CONFIG = """models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 4, articles_per_fact: 1}
methods: [pretrained]
seeds: [0]
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A run folder with one finished run of CONFIG."""
    folder = tmp_path_factory.mktemp("finished")
    (folder / "c.yaml").write_text(CONFIG)
    proc = subprocess.run([sys.executable, "-m", "adaptlab", "run", str(folder / "c.yaml"), "--out",
                           str(folder / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return folder / "out"


def test_a_config_that_is_a_folder(tmp_path: Path, cli):
    one_line_error(cli("run", tmp_path, "--out", tmp_path / "out"), "is a folder")
    assert not (tmp_path / "out").exists()


def test_a_config_yaml_folder_in_the_run_folder(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "out" / "config.yaml").mkdir(parents=True)
    one_line_error(cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out"), "config.yaml", "is not a file")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.yaml"]  # nothing drawn or stored


def test_a_key_written_twice(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG + "seeds: [1]\n")  # YAML would silently keep the last
    one_line_error(cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out"), "key 'seeds' written twice", ":7")


def test_a_method_listed_twice(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG.replace("[pretrained]", "[pretrained, icl, pretrained]"))
    one_line_error(cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out"), "methods lists 'pretrained' twice")


def test_a_seed_listed_twice(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG.replace("seeds: [0]", "seeds: [0, 1, 0]"))
    one_line_error(cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out"), "seeds lists 0 twice")


def test_a_late_bad_model_leaves_the_folders_config_and_runs_reachable(finished: Path, cli):
    before = (finished / "config.yaml").read_text()
    bad = finished.parent / "bad.yaml"
    bad.write_text(CONFIG.replace("models: [tiny]", "models: [tiny, nope]"))
    one_line_error(cli("run", bad, "--out", finished), "unknown model 'nope'")
    assert (finished / "config.yaml").read_text() == before and not (finished / "config-1.yaml").exists()
    code, out, err = cli("report", finished)
    assert code == 0 and "1 runs" in (finished / "report.md").read_text(), (out, err)


def test_a_mistyped_demo_model_fails_before_any_work(tmp_path: Path, cli, unpinned_kernels: None):
    one_line_error(cli("demo", "--model", "smolm2", "--out", tmp_path / "demo"), "unknown model 'smolm2'",
                   "did you mean 'smollm2'")
    assert not (tmp_path / "demo").exists()


def test_a_cache_folder_that_is_a_file(tmp_path: Path, cli, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_CACHE", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    one_line_error(cli("eval", "--model", "tiny", "--data", tmp_path, "--out", tmp_path / "out"),
                   "ADAPTLAB_CACHE", "is a file")


@pytest.fixture
def corrupt_model(tmp_path: Path) -> Path:
    from adaptlab.models.aliases import alias_folder

    folder = tmp_path / "model"
    shutil.copytree(alias_folder("tiny"), folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


def test_a_truncated_safetensors_file_is_one_line(corrupt_model: Path, tmp_path: Path, cli):
    data = tmp_path / "rev"
    assert cli("data", "make", "simple-reversals", "--out", data, *SMALL)[0] == 0
    one_line_error(cli("eval", "--model", corrupt_model, "--data", data, "--out", tmp_path / "out"),
                   "could not load model", "model")


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_a_truncated_safetensors_file_in_a_run(corrupt_model: Path, tmp_path: Path, executor: str):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("models: [tiny]", f"models: ['{corrupt_model}']").replace(
        "seeds: [0]", "seeds: [0, 1]"))
    proc = subprocess.run([sys.executable, "-m", "adaptlab", "run", str(config), "--out", str(tmp_path / "out"),
                           "--executor", executor], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not load model" in proc.stderr


def test_an_organism_config_out_of_range_makes_nothing(tmp_path: Path, cli):
    (tmp_path / "o.yaml").write_text("steps: -3\n")
    one_line_error(cli("organism", "train", "--config", tmp_path / "o.yaml", "--out", tmp_path / "org"), "steps")
    assert not (tmp_path / "org").exists()


def test_finetune_with_nothing_to_train(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG)
    one_line_error(cli("finetune", tmp_path / "c.yaml", "--out", tmp_path / "out"), "no fine-tuning runs",
                   "pretrained")


def test_a_very_narrow_terminal_keeps_the_numbers(tmp_path: Path, cli):
    data = tmp_path / "rev"
    assert cli("data", "make", "simple-reversals", "--out", data, *SMALL)[0] == 0
    env = {**os.environ, "COLUMNS": "5"}
    out = subprocess.run([sys.executable, "-m", "adaptlab", "data", "show", str(data)], capture_output=True,
                         text=True, env=env).stdout
    assert "0.500" in out  # the chance column, which a 5-column table cut away


def test_recommend_split_applies_where_the_split_exists(tmp_path: Path, cli):
    (tmp_path / "c.yaml").write_text(CONFIG.replace(
        "methods:", "  - name: simple-syllogisms\n    params: {n_examples: 6}\nmethods:"))
    code, _, err = cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out")
    assert code == 0, err
    code, out, err = cli("recommend", tmp_path / "out", "--split", "reversal")
    assert code == 0, err
    assert "simple-reversals" in out and "simple-syllogisms" not in out
    code, out, err = cli("recommend", tmp_path / "out", "--dataset", "simple-syllogisms")
    assert code == 0 and "simple-syllogisms" in out and "simple-reversals" not in out, err
    one_line_error(cli("recommend", tmp_path / "out", "--split", "nosuch"), "no dataset has a split 'nosuch'")
    one_line_error(cli("recommend", tmp_path / "out", "--dataset", "nosuch"), "no dataset 'nosuch'")


@pytest.mark.parametrize("command", [["data", "validate"], ["data", "show"], ["data", "export-lm-eval"]])
def test_json_nested_too_deeply_is_one_line(tmp_path: Path, cli, command: list[str]):
    data = tmp_path / "rev"
    assert cli("data", "make", "simple-reversals", "--out", data, *SMALL)[0] == 0
    (data / "questions.jsonl").write_text('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    args = [*command, data] + (["--out", tmp_path / "tasks"] if command[-1] == "export-lm-eval" else [])
    one_line_error(cli(*args), "questions.jsonl:1", "nested too deeply")


def test_export_does_not_overwrite_a_users_file(tmp_path: Path, cli):
    data, tasks = tmp_path / "rev", tmp_path / "tasks"
    assert cli("data", "make", "simple-reversals", "--out", data, *SMALL)[0] == 0
    assert cli("data", "export-lm-eval", data, "--out", tasks)[0] == 0
    mine = next(tasks.glob("*.yaml"))
    mine.write_text("my own task\n")
    one_line_error(cli("data", "export-lm-eval", data, "--out", tasks), "already holds", "--force")
    assert mine.read_text() == "my own task\n"
    assert cli("data", "export-lm-eval", data, "--out", tasks, "--force")[0] == 0
    assert mine.read_text() != "my own task\n"


def test_data_make_resumes_over_the_partial_dataset_it_was_stopped_writing(tmp_path: Path, cli, monkeypatch):
    import adaptlab.data.io as io

    data = tmp_path / "rev"
    write = io.write_jsonl

    def stopped(path: Path, records: list) -> str:
        if path.name == "questions.jsonl":  # stopped after the documents, as kill -9 would
            raise KeyboardInterrupt
        return write(path, records)

    monkeypatch.setattr(io, "write_jsonl", stopped)
    assert cli("data", "make", "simple-reversals", "--out", data, *SMALL)[0] == 130
    assert (data / "documents.jsonl").exists() and not (data / "manifest.json").exists()
    monkeypatch.setattr(io, "write_jsonl", write)
    code, _, err = cli("data", "make", "simple-reversals", "--out", data, *SMALL)
    assert code == 0, err
    assert cli("data", "validate", data)[0] == 0 and not (data / io.WRITING).exists()


def test_a_run_folder_drawn_by_an_older_generator_is_drawn_again(tmp_path: Path, cli):
    import json

    (tmp_path / "c.yaml").write_text(CONFIG)
    assert cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out")[0] == 0
    (folder,) = (tmp_path / "out" / "data").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    current = manifest["generator_version"]
    (folder / "manifest.json").write_text(json.dumps({**manifest, "generator_version": "0"}))
    code, out, err = cli("run", tmp_path / "c.yaml", "--out", tmp_path / "out")
    assert code == 0, err
    assert json.loads((folder / "manifest.json").read_text())["generator_version"] == current
    assert "0 runs done, 1 already stored" in " ".join(out.split())  # same data again: the same run id
