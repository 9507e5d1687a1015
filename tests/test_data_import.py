"""`adaptlab data import`: text folders, SQuAD JSON, tables and Hugging Face folders become dataset folders that
load, name their source by content hash, and refuse bad input with one line and nothing written."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from adaptlab.data.importers import chunk_spans, paragraph_spans
from adaptlab.data.io import load_dataset

SQUAD = {
    "version": "v2.0",
    "data": [
        {"title": "Normans", "paragraphs": [
            {"context": "The Normans gave their name to Normandy, a region in France.",
             "qas": [
                 {"id": "n1", "question": "In what country is Normandy located?", "is_impossible": False,
                  "answers": [{"text": "France", "answer_start": 53}, {"text": "France", "answer_start": 53},
                              {"text": "in France", "answer_start": 50}]},
                 {"id": "n2", "question": "Who gave their name to Paris?", "is_impossible": True, "answers": [],
                  "plausible_answers": [{"text": "The Normans", "answer_start": 0}]},
             ]},
        ]},
        {"title": "Tides", "paragraphs": [
            {"context": "Tides are caused by the Moon.",
             "qas": [{"id": "t1", "question": "What causes tides? ", "answers": [{"text": "the Moon"}]}]},
        ]},
    ],
}

ROWS = [
    {"question": "What colour is the sky?", "answer": "blue", "passage": "The sky is blue.", "part": "train"},
    {"question": "What colour is grass?", "answer": "green", "passage": "Grass is green.", "part": "test"},
    {"question": "What is the sky?", "answer": "blue", "passage": "The sky is blue.", "part": "test"},
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(result: tuple[int, str, str], *words: str) -> str:
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------------------------------- chunking

def test_paragraphs_and_chunks_are_spans_of_the_text():
    text = "One two three.\n\nFour five.\n  \n\nSix seven eight nine ten eleven.\n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == [
        "One two three.", "Four five.", "Six seven eight nine ten eleven."]
    # 5 tokens at most: the first two paragraphs fit together (3 + 2), the third is cut between words.
    assert [text[s:e] for s, e in chunk_spans(text, 5)] == [
        "One two three.\n\nFour five.", "Six seven eight nine ten", "eleven."]
    assert [text[s:e] for s, e in chunk_spans(text, 100)] == [text.strip()]


def test_folder_import(tmp_path: Path, cli):
    docs = tmp_path / "notes"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Alpha beta gamma.\n\nDelta epsilon.\n\n\nZeta eta theta iota kappa.\n")
    (docs / "sub" / "b.md").write_text("# Heading\n\nSome *markdown* here.\n")
    (docs / "skip.csv").write_text("not,text\n")
    (docs / ".hidden.txt").write_text("secret words\n")
    code, out, err = cli("data", "import", "folder", docs, "--out", tmp_path / "ds", "--max-tokens", "5")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert ds.questions == [] and ds.splits == []
    assert [d.id for d in ds.documents] == ["a.txt#0", "a.txt#1", "sub/b.md#0"]
    for doc in ds.documents:
        source = (docs / doc.source).read_text()
        assert doc.offsets is not None and source[doc.offsets[0]:doc.offsets[1]] == doc.text
        assert len(doc.text.split()) <= 5
    m = ds.manifest
    assert m is not None and m.generator_version == "import-folder-1" and m.splits == {} and m.documents == 3
    assert m.params["token_count"].startswith("words") and m.params["max_tokens"] == 5
    expected = hashlib.sha256(
        f"a.txt\0{sha256(docs / 'a.txt')}\nsub/b.md\0{sha256(docs / 'sub' / 'b.md')}\n".encode()).hexdigest()
    assert m.params["source_sha256"] == expected
    code, out, _ = cli("data", "validate", tmp_path / "ds")
    assert code == 0 and "3 documents, 0 questions" in out
    code, out, _ = cli("data", "show", tmp_path / "ds")
    assert code == 0 and "no questions" in out and "document a.txt#0: Alpha beta gamma." in out
    # An empty questions.jsonl is accepted only because the manifest says there are none.
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    manifest["splits"] = {"test": 0}
    (tmp_path / "ds" / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(cli("data", "validate", tmp_path / "ds"), "questions.jsonl", "empty")


def test_folder_import_digest_is_stable_and_documents_without_source_keep_theirs(tmp_path: Path, cli):
    from adaptlab.data.records import Dataset, Document

    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha beta.\n")
    for out in ("one", "two"):
        assert cli("data", "import", "folder", docs, "--out", tmp_path / out)[0] == 0
    assert load_dataset(tmp_path / "one").digest() == load_dataset(tmp_path / "two").digest()
    plain = Document(id="d", text="Alpha beta.")
    assert plain.canonical_json() == plain.model_dump_json(exclude={"source", "offsets"})
    sourced = Document(id="d", text="Alpha beta.", source="a.txt", offsets=[0, 11])
    assert Dataset("x", [plain], []).digest() != Dataset("x", [sourced], []).digest()


# ------------------------------------------------------------------------------------------------------ SQuAD

def test_squad_import(tmp_path: Path, cli):
    src = tmp_path / "squad-dev.json"
    src.write_text(json.dumps(SQUAD))
    code, _, err = cli("data", "import", "squad", src, "--out", tmp_path / "ds", "--split", "dev")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert ds.name == "squad-dev" and ds.splits == ["dev"]
    assert [d.text for d in ds.documents] == [p["context"] for a in SQUAD["data"] for p in a["paragraphs"]]
    by_id = {q.id: q for q in ds.questions}
    assert set(by_id) == {"n1", "t1"}
    assert by_id["n1"].answers == ["France", "in France"] and by_id["n1"].is_open
    assert by_id["t1"].prompt == "Question: What causes tides?\nAnswer:"
    assert by_id["n1"].source_fact_ids == [ds.documents[0].id] == ds.documents[0].source_fact_ids
    unanswerable = [json.loads(line) for line in (tmp_path / "ds" / "unanswerable.jsonl").read_text().splitlines()]
    assert [u["id"] for u in unanswerable] == ["n2"] and unanswerable[0]["plausible_answers"] == ["The Normans"]
    m = ds.manifest
    assert m is not None and m.generator_version == "import-squad-1"
    assert m.params["source"] == "squad-dev.json" and m.params["source_sha256"] == sha256(src)
    assert m.params["unanswerable"] == 1 and "unanswerable.jsonl" in m.files
    # The unanswerable file is checksummed like the others.
    with (tmp_path / "ds" / "unanswerable.jsonl").open("a") as f:
        f.write("{}\n")
    one_line_error(cli("data", "validate", tmp_path / "ds"), "unanswerable.jsonl", "sha256")


def test_squad_show_and_export(tmp_path: Path, cli):
    src = tmp_path / "squad.json"
    src.write_text(json.dumps(SQUAD))
    assert cli("data", "import", "squad", src, "--out", tmp_path / "ds")[0] == 0
    code, out, _ = cli("data", "show", tmp_path / "ds")
    assert code == 0 and "open" in out and "answers: 'France' | 'in France'" in out
    code, out, _ = cli("data", "export-lm-eval", tmp_path / "ds", "--out", tmp_path / "tasks")
    assert code == 0 and "adaptlab_squad_test" in out
    import yaml

    task = yaml.safe_load((tmp_path / "tasks" / "adaptlab_squad_test.yaml").read_text())
    assert task["output_type"] == "generate_until" and task["doc_to_target"] == "answers"
    assert task["generation_kwargs"] == {"until": ["\n"], "do_sample": False}
    rows = [json.loads(line) for line in (tmp_path / "tasks" / "adaptlab_squad_test.jsonl").read_text().splitlines()]
    assert rows[0]["answers"] == ["France", "in France"] and rows[0]["text"].endswith("Answer:")


# ----------------------------------------------------------------------------------------------------- tables

def _check_rows_dataset(folder: Path, source: Path) -> None:
    ds = load_dataset(folder)
    assert ds.split("train")[0].answers == ["blue"] and len(ds.split("test")) == 2
    assert [d.text for d in ds.documents] == ["The sky is blue.", "Grass is green."]  # one document per text
    assert ds.questions[2].source_fact_ids == [ds.documents[0].id]
    assert ds.manifest is not None and ds.manifest.params["source_sha256"] == sha256(source)
    assert ds.manifest.params["source"] == source.name


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_table_import(tmp_path: Path, cli, kind: str):
    src = tmp_path / f"rows.{kind}"
    if kind == "csv":
        write_csv(src, ROWS)
    elif kind == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), src)
    code, _, err = cli("data", "import", "table", src, "--out", tmp_path / "ds", "--prompt-column", "question",
                       "--answer-column", "answer", "--document-column", "passage", "--split-column", "part")
    assert code == 0, err
    _check_rows_dataset(tmp_path / "ds", src)
    assert load_dataset(tmp_path / "ds").manifest.generator_version == f"import-table-{kind}-1"


def test_table_multiple_choice_and_answer_lists(tmp_path: Path, cli):
    src = tmp_path / "mc.csv"
    write_csv(src, [
        {"q": "Water boils at", "opts": '["100 C", "50 C"]', "right": "0", "ans": "100 C"},
        {"q": "Ice melts at", "opts": '["10 C", "0 C"]', "right": "1", "ans": "0 C"},
    ])
    assert cli("data", "import", "table", src, "--out", tmp_path / "a", "--prompt-column", "q",
               "--choices-column", "opts", "--answer-index-column", "right")[0] == 0
    assert cli("data", "import", "table", src, "--out", tmp_path / "b", "--prompt-column", "q",
               "--choices-column", "opts", "--answer-column", "ans")[0] == 0
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert [(q.choices, q.answer) for q in a.questions] == [(["100 C", "50 C"], 0), (["10 C", "0 C"], 1)]
    assert [(q.choices, q.answer) for q in b.questions] == [(q.choices, q.answer) for q in a.questions]
    assert a.documents == [] and a.chance("test") == 0.5
    src2 = tmp_path / "open.jsonl"
    src2.write_text(json.dumps({"q": "Name a primary colour", "a": ["red", "blue", "red"], "id": "p1"}) + "\n")
    assert cli("data", "import", "table", src2, "--out", tmp_path / "c", "--prompt-column", "q",
               "--answer-column", "a", "--id-column", "id", "--template", "Q: {prompt}\nA:")[0] == 0
    (q,) = load_dataset(tmp_path / "c").questions
    assert q.id == "p1" and q.answers == ["red", "blue"] and q.prompt == "Q: Name a primary colour\nA:"
    # A byte-order mark, as some editors write it, is not part of the first line's JSON.
    src2.write_bytes(b"\xef\xbb\xbf" + src2.read_bytes())
    assert cli("data", "import", "table", src2, "--out", tmp_path / "d", "--prompt-column", "q",
               "--answer-column", "a", "--id-column", "id")[0] == 0


def test_hf_folder_import(tmp_path: Path, cli):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list([ROWS[0]]),
        "validation": datasets.Dataset.from_list(ROWS[1:]),
    }).save_to_disk(str(folder))
    code, _, err = cli("data", "import", "hf", folder, "--out", tmp_path / "ds", "--prompt-column", "question",
                       "--answer-column", "answer", "--document-column", "passage")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert ds.splits == ["train", "validation"] and ds.split("validation")[1].answers == ["blue"]
    m = ds.manifest
    assert m is not None and m.generator_version == "import-hf-1" and len(m.params["source_sha256"]) == 64
    # Same folder, same hash: reading it does not change it.
    assert cli("data", "import", "hf", folder, "--out", tmp_path / "ds2", "--prompt-column", "question",
               "--answer-column", "answer", "--split-column", "part")[0] == 0
    again = load_dataset(tmp_path / "ds2")
    assert again.manifest.params["source_sha256"] == m.params["source_sha256"]
    assert again.splits == ["train", "test"]  # a split column wins over the DatasetDict's names
    # SQuAD as Hugging Face stores it: answers as {"text": [...], "answer_start": [...]}.
    squad_like = tmp_path / "hf-squad"
    datasets.Dataset.from_list([{"id": "x1", "question": "Who?", "context": "Ann did.",
                                 "answers": {"text": ["Ann", "Ann"], "answer_start": [0, 0]}}]).save_to_disk(
        str(squad_like))
    assert cli("data", "import", "hf", squad_like, "--out", tmp_path / "ds3", "--prompt-column", "question",
               "--answer-column", "answers", "--id-column", "id")[0] == 0
    (q,) = load_dataset(tmp_path / "ds3").questions
    assert q.id == "x1" and q.answers == ["Ann"] and q.split == "test"


# ------------------------------------------------------------------------------------------------- bad inputs

def _bad_inputs(tmp: Path) -> dict[str, tuple[list, list[str]]]:
    good_csv = write_csv(tmp / "good.csv", ROWS)
    (tmp / "empty.csv").write_text("")
    (tmp / "bad.jsonl").write_text('{"question": "x", "answer": "y"}\n{"question": \n')
    (tmp / "rows.xlsx").write_text("x")
    (tmp / "bad.json").write_text('{"data": [')
    (tmp / "notsquad.json").write_text('{"rows": []}')
    (tmp / "emptydocs").mkdir()
    (tmp / "noanswer.csv").write_text("question,answer\nWhat?,\n")
    (tmp / "notmc.csv").write_text('q,opts,ans\nWhat?,"[""a"", ""b""]",c\n')
    table = ["--prompt-column", "question", "--answer-column", "answer"]
    return {
        "missing column": (["table", good_csv, "--prompt-column", "question", "--answer-column", "reply"],
                           ["good.csv:2", "no column 'reply'"]),
        "empty file": (["table", tmp / "empty.csv", *table], ["empty.csv", "empty"]),
        "malformed JSONL": (["table", tmp / "bad.jsonl", *table], ["bad.jsonl:2", "bad JSON"]),
        "unknown extension": (["table", tmp / "rows.xlsx", *table], ["rows.xlsx", "unknown extension"]),
        "missing file": (["table", tmp / "nope.csv", *table], ["nope.csv", "not found"]),
        "empty answer": (["table", tmp / "noanswer.csv", *table], ["noanswer.csv:2", "'answer' is empty"]),
        "answer not a choice": (["table", tmp / "notmc.csv", "--prompt-column", "q", "--choices-column", "opts",
                                 "--answer-column", "ans"], ["notmc.csv:2", "not one of the choices"]),
        "no answer column": (["table", good_csv, "--prompt-column", "question"], ["--answer-column"]),
        "bad split": (["table", good_csv, *table, "--split", "Held Out"], ["--split", "Held Out"]),
        "malformed SQuAD": (["squad", tmp / "bad.json"], ["bad.json:1", "bad JSON"]),
        "not SQuAD": (["squad", tmp / "notsquad.json"], ["notsquad.json", "missing field 'data'"]),
        "folder without text": (["folder", tmp / "emptydocs"], ["emptydocs", "no .txt or .md"]),
        "folder is a file": (["folder", good_csv], ["not a folder"]),
        "hf folder not saved by datasets": (["hf", tmp / "emptydocs", *table], ["emptydocs", "save_to_disk"]),
        "template without prompt": (["table", good_csv, *table, "--template", "{question}"], ["--template"]),
    }


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path: Path, cli):
    pytest.importorskip("datasets")
    for kind, (args, words) in _bad_inputs(tmp_path).items():
        out = tmp_path / "out" / kind.replace(" ", "-")
        result = cli("data", "import", *args, "--out", out)
        assert result[0] == 2, (kind, result)
        one_line_error(result, *words)
        assert not out.exists(), kind


def test_import_never_overwrites_files_it_did_not_write(tmp_path: Path, cli):
    src = write_csv(tmp_path / "rows.csv", ROWS)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "questions.jsonl").write_text("mine\n")
    (out / "notes.txt").write_text("keep me\n")
    args = ["data", "import", "table", src, "--out", out, "--prompt-column", "question", "--answer-column", "answer"]
    one_line_error(cli(*args), "not written by adaptlab", "--force")
    assert (out / "questions.jsonl").read_text() == "mine\n"
    assert cli(*args, "--force")[0] == 0
    assert len(load_dataset(out).questions) == 3 and (out / "notes.txt").read_text() == "keep me\n"
    # Its own dataset it may replace; a SQuAD import there, then a table again, leaves no stale unanswerable file.
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps(SQUAD))
    assert cli("data", "import", "squad", squad, "--out", out)[0] == 0 and (out / "unanswerable.jsonl").exists()
    assert cli(*args)[0] == 0 and not (out / "unanswerable.jsonl").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
