"""Bad or unusual inputs from the command line: each is one line `error: ...` with exit code 2 and loses nothing;
the help and listings say what the commands accept. (Run configs are in test_store_and_config.py,
ICL budgets in test_methods.py, model aliases in test_models_registry.py.)"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from adaptlab.methods import method_names

SMALL = ["--set", "n_facts=4", "--set", "articles_per_fact=1"]


def one_line_error(result: tuple[int, str, str], *words: str) -> str:
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def dataset(tmp_path: Path, cli) -> Path:
    folder = tmp_path / "rev"
    assert cli("data", "make", "simple-reversals", "--out", folder, *SMALL)[0] == 0
    return folder


# --- tracebacks that became one line ----------------------------------------------------------------------------
def test_manifest_that_is_a_folder(dataset: Path, cli):
    (dataset / "manifest.json").unlink()
    (dataset / "manifest.json").mkdir()
    one_line_error(cli("data", "show", dataset), "manifest.json: not a file")
    one_line_error(cli("data", "validate", dataset), "manifest.json: not a file")


def test_set_with_a_value_of_the_wrong_type(tmp_path: Path, cli):
    one_line_error(cli("data", "make", "simple-reversals", "--out", tmp_path / "d", "--set", "n_facts=twenty"),
                   "simple-reversals: parameter n_facts must be an integer, got 'twenty'")
    one_line_error(cli("data", "make", "celebrities", "--out", tmp_path / "d", "--set", "include_d2p=maybe"),
                   "include_d2p must be true or false")
    one_line_error(cli("data", "make", "semantic", "--out", tmp_path / "d", "--set", "n_docs=3"),
                   "unknown parameter 'n_docs'; known: n_documents")
    assert not (tmp_path / "d").exists()  # checked before anything is written


def test_set_values_take_the_declared_types(tmp_path: Path, cli):
    assert cli("data", "make", "simple-syllogisms", "--out", tmp_path / "s", "--set", "n_examples=6",
               "--set", "options=four")[0] == 0
    manifest = (tmp_path / "s" / "manifest.json").read_text()
    assert '"n_examples": 6' in manifest and '"options": "four"' in manifest


@pytest.mark.parametrize("command", ["make", "export-lm-eval"])
def test_out_that_is_a_file(tmp_path: Path, cli, dataset: Path, command: str):
    target = tmp_path / "a-file"
    target.write_text("mine\n")
    args = ["simple-reversals", *SMALL] if command == "make" else [dataset]
    one_line_error(cli("data", command, *args, "--out", target), str(target), "is a file, not a folder")
    assert target.read_text() == "mine\n"


@pytest.mark.parametrize("command", ["make", "export-lm-eval"])
def test_out_that_cannot_be_created(tmp_path: Path, cli, dataset: Path, command: str):
    (tmp_path / "a-file").write_text("mine\n")
    target = tmp_path / "a-file" / "sub"
    args = ["simple-reversals", *SMALL] if command == "make" else [dataset]
    one_line_error(cli("data", command, *args, "--out", target), str(target), "cannot create")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_out_in_an_unwritable_folder(tmp_path: Path, cli):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        one_line_error(cli("data", "make", "simple-reversals", *SMALL, "--out", locked), "cannot write")
        one_line_error(cli("data", "make", "simple-reversals", *SMALL, "--out", locked / "new"), "cannot create")
    finally:
        locked.chmod(0o755)


def test_writable_dir_probes_the_folder(tmp_path: Path):
    from adaptlab.errors import AdaptlabError
    from adaptlab.paths import writable_dir  # the check every command runs on its output folder

    assert writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the probe file is gone
    (tmp_path / "f").write_text("")
    with pytest.raises(AdaptlabError, match="is a file"):
        writable_dir(tmp_path / "f")


def test_report_on_a_corrupt_results_file(tmp_path: Path, cli):
    (tmp_path / "results.sqlite").write_bytes(b"this is not a database\n" * 100)
    before = digests(tmp_path)
    one_line_error(cli("report", tmp_path), "results.sqlite: not a readable results database")
    assert digests(tmp_path) == before


def test_report_on_a_foreign_sqlite_file_leaves_it_alone(tmp_path: Path, cli):
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute("CREATE TABLE runs (name TEXT)")  # a name adaptlab also uses, with other columns
        db.execute("CREATE TABLE birds (name TEXT)")
        db.execute("INSERT INTO birds VALUES ('owl')")
    before = digests(tmp_path)
    one_line_error(cli("report", tmp_path), "not an adaptlab results database")
    assert digests(tmp_path) == before  # no tables added, nothing else written
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"runs", "birds"}


@pytest.mark.parametrize("option, value", [("--gpu-flops", "0"), ("--params", "-5"), ("--params", "0"),
                                           ("--gpu-flops", "-1"), ("--price", "-2")])
def test_report_projection_must_be_positive(tmp_path: Path, cli, option: str, value: str):
    one_line_error(cli("report", tmp_path, option, value), option)


@pytest.mark.parametrize("option, value", [("--threads", "0"), ("--steps", "0"), ("--threads", "-2")])
def test_organism_train_needs_positive_counts(tmp_path: Path, cli, option: str, value: str):
    one_line_error(cli("organism", "train", "--out", tmp_path / "org", option, value), option)
    assert not (tmp_path / "org").exists()


# --- silent data loss ---------------------------------------------------------------------------------------------
def test_data_make_never_overwrites_files_it_did_not_write(tmp_path: Path, cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "documents.jsonl").write_text('{"id": "d1", "text": "Zorbs are a kind of blicket."}\n')
    (mine / "questions.jsonl").write_text(
        '{"id": "q1", "prompt": "Zorbs are", "choices": ["blickets", "glons"], "answer": 0, "split": "test"}\n')
    before = digests(mine)
    one_line_error(cli("data", "make", "simple-reversals", "--out", mine, *SMALL), "not written by adaptlab", "--force")
    assert digests(mine) == before
    assert cli("data", "make", "simple-reversals", "--out", mine, *SMALL, "--force")[0] == 0
    assert digests(mine) != before


def test_data_make_may_replace_its_own_dataset_but_not_an_edited_one(dataset: Path, cli):
    assert cli("data", "make", "simple-reversals", "--out", dataset, "--seed", "1", *SMALL)[0] == 0
    questions = dataset / "questions.jsonl"
    questions.write_text(questions.read_text().replace("reversal", "reversal", 1) + "\n")  # edited by hand
    before = digests(dataset)
    one_line_error(cli("data", "make", "simple-reversals", "--out", dataset, *SMALL), "questions.jsonl",
                   "not the file adaptlab wrote")
    assert digests(dataset) == before


def test_data_make_into_a_folder_with_other_files_keeps_them(tmp_path: Path, cli):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    assert cli("data", "make", "simple-reversals", "--out", folder, *SMALL)[0] == 0
    assert (folder / "notes.txt").read_text() == "my notes\n"


# --- nonsense accepted silently -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--k", "0"], ["--k", "-3"], ["--limit", "0"], ["--limit", "-1"],
                                  ["--max-context-tokens", "0"], ["--icl-fraction", "0"], ["--icl-fraction", "1.5"]])
def test_eval_rejects_nonsense_counts_before_loading_anything(tmp_path: Path, cli, args: list[str]):
    line = one_line_error(cli("eval", "--model", "tiny", "--data", tmp_path / "none", "--method", "rag", *args,
                              "--out", tmp_path / "out"), args[0])
    assert "no such dataset" not in line  # the option is checked first
    assert not (tmp_path / "out").exists()


def test_data_show_examples_must_not_be_negative(dataset: Path, cli):
    one_line_error(cli("data", "show", dataset, "--examples", "-1"), "--examples")
    code, out, _ = cli("data", "show", dataset, "--examples", "0")
    assert code == 0 and "document" not in out.split("\n", 1)[1]


def test_usage_errors_are_one_line(cli):
    one_line_error(cli("data", "nosuch"), "No such command 'nosuch'")
    one_line_error(cli("eval", "--model", "tiny"), "Missing option '--data'")
    one_line_error(cli("data", "make", "simple-reversals", "--out", "x", "--seed", "abc"), "--seed")


# --- rough edges --------------------------------------------------------------------------------------------------
def test_eval_help_lists_every_method_and_model_form(cli):
    code, out, _ = cli("eval", "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for name in method_names():
        assert name in text, name
    for form in ("organism", "tiny", "smollm2", "local model folder", ".gguf file", "hub id"):
        assert form in text, form


def test_data_list_shows_every_generators_parameters_with_defaults(cli):
    from adaptlab.data.registry import GENERATORS, parameters

    code, out, _ = cli("data", "list")
    assert code == 0
    for name in GENERATORS:
        line = next(line for line in out.splitlines() if line.startswith(f"│ {name} "))
        for key, default in parameters(name).items():
            shown = str(default).lower() if isinstance(default, bool) else str(default) if default != "" else "''"
            assert f"{key}={shown}" in line, (key, line)


def test_piped_tables_are_not_cut_at_80_columns(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "adaptlab", "data", "list"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) > 80
    assert "n_documents=2200, n_categories=110, n_holdout=10" in out
