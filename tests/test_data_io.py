"""Dataset files: round trip, and every kind of malformed input gives one line naming file, line and problem."""

import json
from pathlib import Path

import pytest

from adaptlab.data.io import load_dataset, write_dataset
from adaptlab.data.records import Document, Generated, Question


def _small() -> Generated:
    docs = [
        Document(id=f"d{i}", text=f"femp{i} are brighter than glon{i}.", source_fact_ids=[f"f{i}"]) for i in range(3)
    ]
    qs = [
        Question(id=f"q{i}", prompt=f"glon{i} are", choices=["darker than femp", "brighter than femp"], answer=0,
                 split="reversal")
        for i in range(3)
    ]
    return Generated(documents=docs, questions=qs, params={"n": 3})


def test_round_trip_and_manifest(tmp_path: Path):
    manifest = write_dataset(tmp_path, "toy", "1", 7, _small(), "a toy")
    ds = load_dataset(tmp_path)
    assert [d.id for d in ds.documents] == ["d0", "d1", "d2"]
    assert ds.splits == ["reversal"] and ds.chance("reversal") == 0.5
    assert manifest.splits == {"reversal": 3} and manifest.chance == {"reversal": 0.5}
    assert set(manifest.files) == {"documents.jsonl", "questions.jsonl"} and manifest.seed == 7


def test_writing_is_byte_identical(tmp_path: Path):
    write_dataset(tmp_path / "a", "toy", "1", 7, _small())
    write_dataset(tmp_path / "b", "toy", "1", 7, _small())
    for name in ("documents.jsonl", "questions.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_folder_without_manifest_is_accepted(tmp_path: Path):
    write_dataset(tmp_path, "toy", "1", 7, _small())
    (tmp_path / "manifest.json").unlink()
    assert len(load_dataset(tmp_path).questions) == 3


GOOD_Q = {"id": "q1", "prompt": "glon are", "choices": ["darker than femp", "brighter than femp"], "answer": 0,
          "split": "reversal"}


def _q(**changes):
    obj = dict(GOOD_Q)
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj)


# (what is written to questions.jsonl, the words the one-line error must contain)
MALFORMED = {
    "bad json": (b'{"id": "q1", "prompt": \n', ["questions.jsonl:1", "bad JSON"]),
    "missing field": (_q(answer=None).encode(), ["questions.jsonl:1", "missing field 'answer'"]),
    "answer out of range": (_q(answer=5).encode(), ["questions.jsonl:1", "out of range"]),
    "negative answer": (_q(answer=-1).encode(), ["questions.jsonl:1", "out of range"]),
    "answer not an integer": (_q(answer="0").encode(), ["questions.jsonl:1", "answer"]),
    "duplicate id": ((_q() + "\n" + _q()).encode(), ["questions.jsonl:2", "duplicate id 'q1'", "line 1"]),
    "empty choices": (_q(choices=[]).encode(), ["questions.jsonl:1", "at least 2 choices"]),
    "blank choice": (_q(choices=["a", " "]).encode(), ["questions.jsonl:1", "empty"]),
    "repeated choices": (_q(choices=["a", "a"]).encode(), ["questions.jsonl:1", "repeat"]),
    "unknown split": (_q(split="sideways").encode(), ["questions.jsonl:1", "unknown split 'sideways'"]),
    "bad split name": (_q(split="Re Versal").encode(), ["questions.jsonl:1", "split"]),
    "not utf-8": (_q().encode().replace(b"glon", b"gl\xff\xfen"), ["questions.jsonl:1", "not UTF-8"]),
    "empty file": (b"", ["questions.jsonl", "empty"]),
    "not an object": (b"[1, 2, 3]\n", ["questions.jsonl:1", "expected a JSON object"]),
    "unknown field": (_q(colour="red").encode(), ["questions.jsonl:1", "unknown field 'colour'"]),
    "prompt ends in space": (_q(prompt="glon are ").encode(), ["questions.jsonl:1", "whitespace"]),
    "error on a later line": ((_q() + "\n\n" + _q(id="q2", answer=9)).encode(), ["questions.jsonl:3", "out of range"]),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_questions_give_one_line(tmp_path: Path, cli, kind: str):
    content, words = MALFORMED[kind]
    write_dataset(tmp_path, "toy", "1", 7, _small())
    (tmp_path / "questions.jsonl").write_bytes(content)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"].pop("questions.jsonl")  # a user edit: checksum no longer applies
    manifest["splits"] = {"reversal": content.count(b'"id"')} if kind != "empty file" else {"reversal": 0}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for command in (("data", "validate", tmp_path), ("data", "show", tmp_path)):
        code, out, err = cli(*command)
        assert code == 2, (kind, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        for word in words:
            assert word in err, (kind, word, err)


@pytest.mark.parametrize(
    "problem, words",
    [
        ("missing documents", ["documents.jsonl", "not found"]),
        ("edited after generation", ["documents.jsonl", "sha256"]),
        ("bad manifest", ["manifest.json", "bad JSON"]),
        ("manifest missing field", ["manifest.json", "missing field 'splits'"]),
        ("blank document text", ["documents.jsonl:1", "blank"]),
        ("no such folder", ["no such"]),
    ],
)
def test_malformed_folders_give_one_line(tmp_path: Path, cli, problem: str, words: list[str]):
    folder = tmp_path / "ds"
    write_dataset(folder, "toy", "1", 7, _small())
    if problem == "missing documents":
        (folder / "documents.jsonl").unlink()
    elif problem == "edited after generation":
        with open(folder / "documents.jsonl", "a") as f:
            f.write('{"id":"d9","text":"new"}\n')
    elif problem == "bad manifest":
        (folder / "manifest.json").write_text("{nope")
    elif problem == "manifest missing field":
        m = json.loads((folder / "manifest.json").read_text())
        del m["splits"]
        (folder / "manifest.json").write_text(json.dumps(m))
    elif problem == "blank document text":
        (folder / "manifest.json").unlink()
        (folder / "documents.jsonl").write_text('{"id": "d0", "text": "   "}\n')
    elif problem == "no such folder":
        folder = tmp_path / "missing"
    code, _, err = cli("data", "validate", folder)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


def test_validate_single_files(tmp_path: Path, cli):
    write_dataset(tmp_path, "toy", "1", 7, _small())
    code, out, _ = cli("data", "validate", tmp_path / "questions.jsonl")
    assert code == 0 and "3 questions" in out
    code, out, _ = cli("data", "validate", tmp_path / "documents.jsonl")
    assert code == 0 and "3 documents" in out
    code, out, _ = cli("data", "validate", tmp_path)
    assert code == 0 and "ok" in out


def _mixed() -> Generated:
    g = _small()
    open_qs = [Question(id=f"o{i}", prompt=f"What are femp{i} brighter than?", answers=[f"glon{i}", f"the glon{i}"],
                        split=split) for i, split in enumerate(["reversal", "recall", "recall"])]
    return Generated(documents=g.documents, questions=[*g.questions, *open_qs])


def test_open_and_mixed_questions_validate_show_and_export(tmp_path: Path, cli):
    import yaml

    write_dataset(tmp_path / "ds", "toy", "1", 7, _mixed())
    code, out, _ = cli("data", "validate", tmp_path / "ds")
    assert code == 0 and "6 questions (reversal=4 (1 open), recall=2 open)" in out
    code, out, _ = cli("data", "show", tmp_path / "ds", "--examples", "5")
    assert code == 0 and "2/open" in out and "answers: 'glon0' | 'the glon0'" in out
    assert "✓ 'darker than femp'" in out
    code, out, _ = cli("data", "export-lm-eval", tmp_path / "ds", "--out", tmp_path / "tasks")
    assert code == 0, out
    tasks = {p.stem: yaml.safe_load(p.read_text()) for p in (tmp_path / "tasks").glob("*.yaml")}
    assert set(tasks) == {"adaptlab_toy_reversal", "adaptlab_toy_reversal_open", "adaptlab_toy_recall"}
    assert tasks["adaptlab_toy_reversal"]["output_type"] == "multiple_choice"
    for name in ("adaptlab_toy_reversal_open", "adaptlab_toy_recall"):
        task = tasks[name]
        assert task["output_type"] == "generate_until" and task["doc_to_target"] == "answers"
        assert task["generation_kwargs"] == {"until": ["\n"], "do_sample": False}
        (metric,) = task["metric_list"]
        assert metric["metric"] == "exact_match" and metric["ignore_case"] and metric["ignore_punctuation"]
    rows = [json.loads(line) for line in (tmp_path / "tasks" / "adaptlab_toy_recall.jsonl").read_text().splitlines()]
    assert rows == [{"id": "o1", "text": "What are femp1 brighter than?", "answers": ["glon1", "the glon1"]},
                    {"id": "o2", "text": "What are femp2 brighter than?", "answers": ["glon2", "the glon2"]}]
    mc = [json.loads(line) for line in (tmp_path / "tasks" / "adaptlab_toy_reversal.jsonl").read_text().splitlines()]
    assert [r["id"] for r in mc] == ["q0", "q1", "q2"] and mc[0]["label"] == 0


def test_validate_a_questions_file_of_open_questions(tmp_path: Path, cli):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "o1", "prompt": "Who?", "answers": ["Ann"], "split": "test"}) + "\n")
    code, out, _ = cli("data", "validate", path)
    assert code == 0 and "1 questions" in out


def test_export_of_a_dataset_without_questions_is_one_line(tmp_path: Path, cli):
    write_dataset(tmp_path / "ds", "toy", "1", None, Generated(documents=_small().documents, questions=[]))
    code, _, err = cli("data", "export-lm-eval", tmp_path / "ds", "--out", tmp_path / "tasks")
    assert code == 2 and "no questions" in err and len(err.strip().splitlines()) == 1
