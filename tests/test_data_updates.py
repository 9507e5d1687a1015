"""A dataset's update: the same world after a share of its facts changed, written beside it and loaded with it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from adaptlab.data.baseline import surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.records import UPDATE_SPLITS, Dataset
from adaptlab.data.registry import make_dataset
from adaptlab.data.semantic import word_counts
from adaptlab.errors import AdaptlabError

PARAMS = {"n_facts": 20, "articles_per_fact": 4}


def test_an_update_leaves_the_world_as_it_was(tmp_path):
    make_dataset("simple-reversals", 3, tmp_path / "plain", PARAMS)
    make_dataset("simple-reversals", 3, tmp_path / "upd", {**PARAMS, "update_share": 0.3})
    plain, upd = load_dataset(tmp_path / "plain"), load_dataset(tmp_path / "upd")
    assert plain.update is None and upd.update is not None
    assert plain.digest() == upd.digest()


def test_simple_reversals_update_splits_and_corpus(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    before = load_dataset(tmp_path / "d")
    after = before.update
    assert after is not None and after.manifest is not None and after.manifest.update_of == before.digest()
    assert set(after.splits) == set(UPDATE_SPLITS)
    n_changed = len(after.split("updated"))
    assert n_changed == 6 and len(after.split("new")) == 6 and len(after.split("unchanged")) == 14
    old = {q.prompt: q for q in before.split("rephrase")}
    for q in after.split("updated"):  # the old answer is the other choice
        was = old[q.prompt]
        assert was.choices[was.answer] in q.choices and was.choices[was.answer] != q.choices[q.answer]
    for q in after.split("unchanged"):
        was = old[q.prompt]
        assert was.choices[was.answer] == q.choices[q.answer]
    changed = after.changed_documents(before)
    # every article of a changed or new fact is new; every other article is kept as it was
    assert len(changed) == (n_changed + len(after.split("new"))) * PARAMS["articles_per_fact"]
    assert len(after.documents) == len(before.documents) + len(after.split("new")) * PARAMS["articles_per_fact"]
    # a scorer with a fixed preference for a position is right on exactly half of every split
    for split in after.splits:
        assert sum(q.answer for q in after.split(split)) * 2 == len(after.split(split))


def test_an_update_that_names_another_dataset_is_refused(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    manifest = tmp_path / "d" / "update" / "manifest.json"
    obj = json.loads(manifest.read_text())
    obj["update_of"] = "0" * 64
    manifest.write_text(json.dumps(obj))
    top = tmp_path / "d" / "manifest.json"  # the dataset's own manifest vouches for the edited one
    outer = json.loads(top.read_text())
    outer["files"]["update/manifest.json"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    top.write_text(json.dumps(outer))
    with pytest.raises(AdaptlabError, match="update_of names another dataset"):
        load_dataset(tmp_path / "d")


def test_redrawing_without_an_update_removes_the_old_one(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    make_dataset("simple-reversals", 0, tmp_path / "d", PARAMS)
    assert not (tmp_path / "d" / "update").exists() and load_dataset(tmp_path / "d").update is None


# --- celebrities --------------------------------------------------------------------------------------------------
CELEB = {"n_people": 8, "train_templates": 3, "test_templates": 2}


@pytest.fixture(scope="module")
def celebrities(tmp_path_factory) -> tuple[Dataset, Dataset]:
    out = tmp_path_factory.mktemp("celebrities")
    make_dataset("celebrities", 0, out / "plain", CELEB)
    make_dataset("celebrities", 0, out / "upd", {**CELEB, "update_share": 0.5})
    plain, before = load_dataset(out / "plain"), load_dataset(out / "upd")
    assert plain.update is None and plain.digest() == before.digest()  # the world is the same with an update
    assert before.update is not None and before.update.manifest is not None
    assert before.update.manifest.update_of == before.digest()
    return before, before.update


def _people(before: Dataset) -> tuple[dict[str, str], dict[str, str]]:
    """Each p2d person's name and description (with its full stop), read off the questions."""
    name = {q.source_fact_ids[0]: q.choices[q.answer] for q in before.split("reversal")}
    description = {q.source_fact_ids[0]: q.choices[q.answer] for q in before.split("rephrase")}
    return name, description


def test_celebrities_update_splits_and_old_answers(celebrities):
    before, after = celebrities
    # 0.5 of 8 p2d people: one block of four changed, four new, four unchanged; each asked with 2 templates
    assert {s: len(after.split(s)) for s in after.splits} == {s: 8 for s in UPDATE_SPLITS}
    name, description = _people(before)
    new_description = {q.source_fact_ids[0]: q.choices[q.answer] for q in after.split("updated")}
    for q in after.split("updated"):  # the old description is a distractor
        old = description[q.source_fact_ids[0]]
        assert old in q.choices and old != q.choices[q.answer]
    for q in after.split("updated_reversal"):  # the new description's old holder is a distractor
        pid = q.source_fact_ids[0]
        holder = next(p for p, d in description.items() if d == new_description[pid])
        assert holder != pid and name[holder] in q.choices and q.choices[q.answer] == name[pid]
    for q in after.split("unchanged"):
        assert q.choices[q.answer] == description[q.source_fact_ids[0]]
    assert all(q.source_fact_ids[0] not in name for q in after.split("new"))


def test_celebrities_update_keeps_the_baselines_at_chance(celebrities):
    _, after = celebrities
    for score in surface_baseline(after, max_n=3):  # closed blocks and name counts: exactly chance
        assert score.accuracy == pytest.approx(0.25), score
    for split in after.splits:
        assert set(Counter(q.answer for q in after.split(split)).values()) == {2}  # 8 questions, 4 positions


def test_celebrities_changed_documents_are_what_changed(celebrities):
    before, after = celebrities
    changed = after.changed_documents(before)
    people = {q.source_fact_ids[0] for s in ("updated", "new") for q in after.split(s)}
    assert {d.source_fact_ids[0] for d in changed} == people
    assert len(changed) == len(people) * CELEB["train_templates"]
    unchanged = {q.source_fact_ids[0] for q in after.split("unchanged")} | {
        d.source_fact_ids[0] for d in before.documents if not d.source_fact_ids[0].startswith("p2d")}
    kept = {(d.id, d.text) for d in after.documents}
    assert all((d.id, d.text) in kept for d in before.documents if d.source_fact_ids[0] in unchanged)


# --- semantic -----------------------------------------------------------------------------------------------------
SEMANTIC = {"n_documents": 60, "n_categories": 30, "n_holdout": 2, "questions_per_split": 40}


@pytest.fixture(scope="module")
def semantic(tmp_path_factory) -> tuple[Dataset, Dataset]:
    out = tmp_path_factory.mktemp("semantic")
    make_dataset("semantic", 0, out / "plain", SEMANTIC)
    make_dataset("semantic", 0, out / "upd", {**SEMANTIC, "update_share": 0.2})
    plain, before = load_dataset(out / "plain"), load_dataset(out / "upd")
    assert plain.update is None and plain.digest() == before.digest()
    assert before.update is not None
    return before, before.update


def _fact_ids(ds: Dataset) -> set[str]:
    return {i for d in ds.documents for i in d.source_fact_ids}


def test_semantic_update_changes_and_adds_as_many_properties(semantic):
    before, after = semantic
    removed, added = _fact_ids(before) - _fact_ids(after), _fact_ids(after) - _fact_ids(before)
    assert removed and all(i.split(":")[0] in ("are", "can", "have") for i in removed | added)
    assert len(added) == 2 * len(removed)  # each changed property's new value, and as many new properties
    assert set(after.splits) == {*UPDATE_SPLITS, "updated_inherited"}
    assert 0 < len(after.split("updated")) <= len(removed)
    assert 0 < len(after.split("new")) <= len(removed)
    assert len(after.split("unchanged")) == SEMANTIC["questions_per_split"]


def test_semantic_update_old_values_are_distractors_and_false(semantic):
    before, after = semantic
    removed = _fact_ids(before) - _fact_ids(after)
    old_values: dict[tuple[str, str], set[str]] = {}
    for i in removed:
        kind, subject, value = i.split(":")
        old_values.setdefault((kind, subject), set()).add(value)
    for split in ("updated", "updated_inherited"):
        for q in after.split(split):
            kind, subject, new = q.source_fact_ids[-1].split(":")  # the changed property, last of the premises
            assert q.choices[q.answer] == new
            assert old_values[(kind, subject)] & set(q.choices) - {new}, q
    # no sentence of the corpus after the update states an old value of its subject
    for i in removed:
        _, subject, value = i.split(":")
        for doc in after.documents:
            for sentence in re.findall(r"[^.?!\n]+", doc.text):
                words = set(re.findall(r"[a-z]+", sentence))
                assert not {subject, value} <= words, (i, sentence)


def test_semantic_unchanged_answers_are_kept(semantic):
    before, after = semantic
    removed = _fact_ids(before) - _fact_ids(after)
    for q in after.split("unchanged"):
        (fact,) = q.source_fact_ids
        assert fact in _fact_ids(before) and fact not in removed
        assert q.choices[q.answer] == fact.split(":")[2]


def test_semantic_changed_documents_are_what_changed(semantic):
    before, after = semantic
    removed, added = _fact_ids(before) - _fact_ids(after), _fact_ids(after) - _fact_ids(before)
    changed = after.changed_documents(before)
    assert {d.id for d in changed} == {d.id for d in after.documents if set(d.source_fact_ids) & added}
    kept = {(d.id, d.text) for d in after.documents}
    assert all((d.id, d.text) in kept for d in before.documents if not set(d.source_fact_ids) & removed)


def test_semantic_update_keeps_answer_positions_and_frequency_ranks_balanced(semantic):
    """The surface baseline's guarantee: the answer is the strict frequency maximum in 1/4 of each split."""
    _, after = semantic
    counts = word_counts(after.documents)
    for split in after.splits:
        qs = after.split(split)
        positions = Counter(q.answer for q in qs)
        assert max(positions.values()) - min(positions[i] for i in range(4)) <= 1, (split, positions)
        ranks: Counter[int] = Counter()
        for q in qs:
            c = counts[q.choices[q.answer]]
            others = [counts[w] for i, w in enumerate(q.choices) if i != q.answer]
            assert c not in others  # strict: no ties with the answer
            ranks[sum(o > c for o in others)] += 1
        if split in ("updated", "updated_inherited"):
            # the old value is rare after the update, so the answer is seldom the least frequent choice; it is the
            # most frequent one (what the surface baseline rewards) in at most a quarter of the questions
            assert ranks[0] <= len(qs) // 4, (split, ranks)
        else:
            assert max(ranks.values()) - min(ranks[t] for t in range(4)) <= 1, (split, ranks)


# --- a user's own corpus: a second version of an imported folder --------------------------------------------------
def _files(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


FIRST = {"a.md": "Alpha one two.\n\nBeta three four.\n\nGamma five.\n", "b.txt": "Delta six.\n"}
SECOND = {"a.md": "Intro zero.\n\nAlpha one two.\n\nBeta three CHANGED.\n\nGamma five.\n", "b.txt": "Delta six.\n",
          "c.txt": "A new file.\n"}


def test_a_second_version_of_a_folder_is_the_datasets_update(tmp_path, cli):
    base = tmp_path / "notes"
    assert cli("data", "import", "folder", _files(tmp_path / "v1", FIRST), "--out", base, "--max-tokens", "3")[0] == 0
    first = load_dataset(base)
    assert [d.id for d in first.documents] == ["a.md#0", "a.md#1", "a.md#2", "b.txt#0"]  # ids of imports as they were
    questions = tmp_path / "q.jsonl"
    asked = [{"id": "q1", "prompt": "Beta three", "answers": ["CHANGED"], "split": "updated"},
             {"id": "q2", "prompt": "Delta", "answers": ["six"], "split": "kept"}]
    questions.write_text("".join(json.dumps(q) + "\n" for q in asked))
    code, out, err = cli("data", "import", "folder", _files(tmp_path / "v2", SECOND), "--update-of", base,
                         "--questions", questions)
    assert code == 0, err
    assert "3 new or changed" in out
    before = load_dataset(base)  # loads with its update, checked against the dataset's own manifest
    after = before.update
    assert after is not None and after.manifest is not None and after.manifest.update_of == before.digest()
    assert before.digest() == first.digest()
    assert {d.text for d in after.changed_documents(before)} == {"Intro zero.", "Beta three CHANGED.", "A new file."}
    kept = {d.text: d.id for d in after.documents}
    assert [kept["Alpha one two."], kept["Gamma five."], kept["Delta six."]] == ["a.md#0", "a.md#2", "b.txt#0"]
    assert {s: len(after.split(s)) for s in after.splits} == {"updated": 1, "kept": 1}
    code, out, _ = cli("data", "validate", base)
    assert code == 0 and "update: 6 documents, 2 questions" in out and "3 documents new or changed" in out
    code, out, _ = cli("data", "show", base)
    assert code == 0 and "new or changed document a.md#" in out
    # a third version replaces the second
    third = _files(tmp_path / "v3", FIRST)
    assert cli("data", "import", "folder", third, "--update-of", base)[0] == 0
    assert load_dataset(base).update.changed_documents(before) == []


@pytest.mark.parametrize("case", ["not_a_dataset", "no_documents", "missing", "bad_questions", "an_update"])
def test_a_bad_update_of_is_one_line_and_writes_nothing(tmp_path, cli, case):
    docs = _files(tmp_path / "v2", SECOND)
    base = tmp_path / "base"
    args: list = []
    if case == "not_a_dataset":
        _files(base, {"notes.txt": "some text\n"})
    elif case == "no_documents":
        make_dataset("simple-reversals", 0, base, PARAMS)
        (base / "documents.jsonl").write_text("")
        manifest = json.loads((base / "manifest.json").read_text())
        manifest["documents"], manifest["files"]["documents.jsonl"] = 0, hashlib.sha256(b"").hexdigest()
        (base / "manifest.json").write_text(json.dumps(manifest))
    elif case == "bad_questions":
        assert cli("data", "import", "folder", _files(tmp_path / "v1", FIRST), "--out", base)[0] == 0
        (tmp_path / "q.jsonl").write_text('{"id": "q1", "prompt": "x", "split": "Bad Split", "answers": ["y"]}\n')
        args = ["--questions", tmp_path / "q.jsonl"]
    elif case == "an_update":
        make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
        base = tmp_path / "d" / "update"
    before = _tree(tmp_path / "d") if case == "an_update" else (_tree(base) if base.exists() else None)
    code, out, err = cli("data", "import", "folder", docs, "--update-of", base, *args)
    where = tmp_path / "q.jsonl" if case == "bad_questions" else base
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and str(where) in err, err
    after = _tree(tmp_path / "d") if case == "an_update" else (_tree(base) if base.exists() else None)
    assert after == before


def test_make_list_and_export_tell_of_the_update(tmp_path, cli):
    code, out, _ = cli("data", "make", "celebrities", "--out", tmp_path / "c", "--set", "n_people=8",
                       "--set", "train_templates=3", "--set", "test_templates=2", "--set", "update_share=0.5")
    assert code == 0 and "update: 84 documents (24 new or changed), updated=8, updated_reversal=8, new=8" in out
    code, out, _ = cli("data", "list")
    assert code == 0 and out.count("update_share") >= 3  # simple-reversals, semantic, celebrities
    code, out, _ = cli("data", "export-lm-eval", tmp_path / "c", "--out", tmp_path / "tasks")
    assert code == 0 and "adaptlab_celebrities_update_updated_reversal" in out
    rows = (tmp_path / "tasks" / "adaptlab_celebrities_update_updated.jsonl").read_text().splitlines()
    assert len(rows) == 8
