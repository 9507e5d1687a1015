"""`adaptlab data export-hf`: a dataset as a Hugging Face dataset folder that `datasets.load_dataset` reads with
typed features, and that `adaptlab data import hf` reads back into the same adaptlab dataset."""

from pathlib import Path

import pytest
import yaml

from adaptlab.data.io import load_dataset, write_dataset
from adaptlab.data.records import Document, Generated, Question
from adaptlab.data.registry import make_dataset
from test_bad_inputs import one_line_error


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hf_load(folder: Path, config: str, cache: Path):
    import datasets

    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))


def features(dataset) -> dict[str, str]:
    """Each column's `datasets` type, as text: `string`, `int64`, `list<string>`."""
    import datasets

    out = {}
    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.List):
            out[name] = f"list<{feature.feature.dtype}>"
        else:
            out[name] = feature.dtype
    return out


def mixed() -> Generated:
    """Documents with and without their source and offsets; multiple-choice, open and hinted questions, splits
    mixing both shapes; oracle inferences."""
    docs = [Document(id="d0", text="femp are brighter than glon.", source_fact_ids=["f0"]),
            Document(id="d1", text="Zorb lives in Tallin.", source="notes/a.md", offsets=[0, 21])]
    qs = [Question(id="q0", prompt="glon are", choices=["darker than femp", "brighter than femp"], answer=0,
                   split="reversal", source_fact_ids=["f0"]),
          Question(id="q1", prompt="Where does Zorb live?", answers=["Tallin", "in Tallin"], split="reversal"),
          Question(id="q2", prompt="Zorb lives in", choices=["Oslo", "Tallin", "Rome"], answer=1, split="recall",
                   context_hint="A quiz about where people live.")]
    oracle = [Document(id="o0", text="glon are darker than femp.", source_fact_ids=["f0"])]
    return Generated(documents=docs, questions=qs, oracle=oracle, params={"n": 2, "kind": "toy", "flag": True})


def test_a_generated_dataset_loads_with_datasets_and_comes_back_identical(tmp_path: Path, cli):
    make_dataset("simple-reversals", 3, tmp_path / "rev", {"n_facts": 8})
    original = load_dataset(tmp_path / "rev")
    code, out, err = cli("data", "export-hf", tmp_path / "rev", "--out", tmp_path / "hub")
    assert code == 0, err

    questions = hf_load(tmp_path / "hub", "questions", tmp_path / "cache")
    assert list(questions) == original.splits == ["reversal", "rephrase"]
    default = hf_load(tmp_path / "hub", None, tmp_path / "cache")  # no configuration named: the questions
    assert {s: d.to_list() for s, d in default.items()} == {s: d.to_list() for s, d in questions.items()}
    for split in original.splits:
        assert questions[split].to_list() == [q.model_dump() for q in original.split(split)]
        assert features(questions[split]) == {
            "id": "string", "prompt": "string", "choices": "list<string>", "answer": "int64",
            "answers": "list<string>", "split": "string", "context_hint": "string",
            "source_fact_ids": "list<string>"}
    for config, records in (("documents", original.documents), ("oracle", original.oracle)):
        loaded = hf_load(tmp_path / "hub", config, tmp_path / "cache")
        assert list(loaded) == ["train"]
        assert loaded["train"].to_list() == [d.model_dump() for d in records]
        assert features(loaded["train"])["offsets"] == "list<int64>"

    # The card: what was generated, how, and what chance is on each split.
    card = (tmp_path / "hub" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    m = original.manifest
    assert meta["adaptlab"]["generator_version"] == m.generator_version and meta["adaptlab"]["seed"] == 3
    assert meta["adaptlab"]["params"] == m.params and meta["adaptlab"]["chance"] == m.chance
    assert meta["adaptlab"]["splits"] == m.splits and meta["adaptlab"]["digest"] == original.digest()
    assert meta["license"] == "mit" and "synthetic" in card
    assert [c["config_name"] for c in meta["configs"]] == ["questions", "documents", "oracle"]

    # Back into an adaptlab dataset: the same files, byte for byte, so the same digest and run ids.
    code, out, err = cli("data", "import", "hf", tmp_path / "hub", "--out", tmp_path / "back")
    assert code == 0, err
    assert "digest matches" in out
    assert load_dataset(tmp_path / "back").digest() == original.digest()
    assert snapshot(tmp_path / "back") == snapshot(tmp_path / "rev")


def test_open_questions_optional_fields_and_nulls_survive(tmp_path: Path, cli):
    write_dataset(tmp_path / "ds", "toy", "1", None, mixed(), "a toy")
    original = load_dataset(tmp_path / "ds")
    assert cli("data", "export-hf", tmp_path / "ds", "--out", tmp_path / "hub")[0] == 0
    questions = hf_load(tmp_path / "hub", "questions", tmp_path / "cache")
    rows = [row for split in questions for row in questions[split].to_list()]
    assert rows == [q.model_dump() for q in original.questions]
    assert rows[1]["answer"] is None and rows[1]["choices"] == [] and rows[0]["answers"] is None
    documents = hf_load(tmp_path / "hub", "documents", tmp_path / "cache")["train"].to_list()
    assert documents == [d.model_dump() for d in original.documents]
    assert documents[0]["offsets"] is None and documents[1]["offsets"] == [0, 21]
    meta = yaml.safe_load((tmp_path / "hub" / "README.md").read_text().split("---\n")[1])
    assert meta["adaptlab"]["chance"] == {"reversal": 0.25, "recall": round(1 / 3, 6)}
    assert meta["task_categories"] == ["multiple-choice", "question-answering"]
    assert meta["license"] != "mit"  # not made by a generator: the card does not claim a license for it

    assert cli("data", "import", "hf", tmp_path / "hub", "--out", tmp_path / "back")[0] == 0
    assert snapshot(tmp_path / "back") == snapshot(tmp_path / "ds")


def test_a_dataset_of_documents_only(tmp_path: Path, cli):
    write_dataset(tmp_path / "ds", "notes", "import-folder-1", None, Generated(documents=mixed().documents,
                                                                              questions=[]))
    assert cli("data", "export-hf", tmp_path / "ds", "--out", tmp_path / "hub")[0] == 0
    assert not (tmp_path / "hub" / "questions").exists()
    import datasets

    assert datasets.get_dataset_config_names(str(tmp_path / "hub")) == ["documents"]
    assert cli("data", "import", "hf", tmp_path / "hub", "--out", tmp_path / "back")[0] == 0
    assert snapshot(tmp_path / "back") == snapshot(tmp_path / "ds")


def test_an_export_is_not_overwritten_without_force(tmp_path: Path, cli):
    write_dataset(tmp_path / "ds", "toy", "1", 0, mixed())
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "NOTES.txt").write_text("mine")
    assert cli("data", "export-hf", tmp_path / "ds", "--out", hub)[0] == 0
    before = snapshot(hub)
    one_line_error(cli("data", "export-hf", tmp_path / "ds", "--out", hub), "already holds", "README.md", "--force")
    assert snapshot(hub) == before
    # --force replaces the export; a configuration the new dataset lacks (its oracle) goes, other files stay.
    g = mixed()
    write_dataset(tmp_path / "ds", "toy", "1", 0, Generated(g.documents, g.questions, params=g.params))
    assert cli("data", "export-hf", tmp_path / "ds", "--out", hub, "--force")[0] == 0
    assert not (hub / "oracle").exists() and (hub / "NOTES.txt").read_text() == "mine"
    meta = yaml.safe_load((hub / "README.md").read_text().split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["questions", "documents"]


@pytest.mark.parametrize("case", ["missing dataset", "output is a file", "edited dataset"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, cli, case: str):
    data, out = tmp_path / "ds", tmp_path / "hub"
    if case != "missing dataset":
        write_dataset(data, "toy", "1", 0, mixed())
    if case == "output is a file":
        out.write_text("x")
    if case == "edited dataset":
        with (data / "questions.jsonl").open("a") as f:
            f.write('{"id": "q9"}\n')
    one_line_error(cli("data", "export-hf", data, "--out", out))
    assert out.is_file() if case == "output is a file" else not out.exists()


def test_import_hf_tells_an_export_from_a_save_to_disk_folder(tmp_path: Path, cli):
    write_dataset(tmp_path / "ds", "toy", "1", 0, mixed())
    assert cli("data", "export-hf", tmp_path / "ds", "--out", tmp_path / "hub")[0] == 0
    one_line_error(cli("data", "import", "hf", tmp_path / "hub", "--out", tmp_path / "a", "--prompt-column", "x"),
                   "export-hf", "--prompt-column")
    (tmp_path / "plain").mkdir()
    one_line_error(cli("data", "import", "hf", tmp_path / "plain", "--out", tmp_path / "b"), "--prompt-column")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # A damaged export is one line naming the file.
    (tmp_path / "hub" / "questions" / "recall.parquet").write_bytes(b"not parquet")
    one_line_error(cli("data", "import", "hf", tmp_path / "hub", "--out", tmp_path / "c"), "recall.parquet")
