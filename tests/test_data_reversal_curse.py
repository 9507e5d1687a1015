"""The reversal-curse loader: Berglund et al.'s files -> splits, counts, distractors, baseline, errors."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from adaptlab.data import reversal_curse as rc
from adaptlab.data.baseline import surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.people import closed_choice_sets
from adaptlab.data.records import Generated
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from conftest import as_dataset

FILES = [rc.P2D_TRAIN, rc.BOTH_TRAIN, rc.D2P_TRAIN, rc.P2D_TEST, rc.BOTH_TEST, rc.P2D_REVERSE_TEST]


def _source() -> Path:
    for folder in rc.candidate_folders():
        if (folder / rc.P2D_TRAIN).is_file():
            return folder
    pytest.skip("Berglund et al.'s data (shared/datasets/reversal_curse) is not next to this checkout")


@pytest.fixture(scope="module")
def source() -> Path:
    return _source()


@pytest.fixture(scope="module")
def full(source: Path) -> Generated:
    return rc.generate(0, source=str(source))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _subset(source: Path, dest: Path, k: int = 5) -> Path:
    """A user's own copy: the first k people of each group, in Berglund's layout."""
    ranges = {
        rc.P2D_TRAIN: [(0, 30 * k)],
        rc.D2P_TRAIN: [(0, 30 * k)],
        rc.BOTH_TRAIN: [(0, 30 * k), (900, 900 + 30 * k)],
        rc.P2D_TEST: [(0, 10 * k)],
        rc.P2D_REVERSE_TEST: [(0, 10 * k)],
        rc.BOTH_TEST: [(0, 10 * k), (300, 300 + 10 * k)],
    }
    dest.mkdir(parents=True, exist_ok=True)
    for name, spans in ranges.items():
        lines = (source / name).read_text().splitlines()
        (dest / name).write_text("".join(line + "\n" for a, b in spans for line in lines[a:b]))
    return dest


def test_counts_on_the_full_data(source: Path, full: Generated):
    ds = as_dataset(full, "reversal-curse")
    assert len(full.documents) == 2700
    assert {s: len(ds.split(s)) for s in ds.splits} == {"reversal": 300, "both_reversal": 300, "rephrase": 300}
    assert all(ds.chance(s) == 0.25 for s in ds.splits)
    assert len(full.oracle) == 30 * len(rc.ORACLE_TEMPLATES)
    with_d2p = rc.generate(0, source=str(source), include_d2p=True)
    assert len(with_d2p.documents) == 3600
    assert Counter(d.id.split("-")[0] for d in with_d2p.documents) == {"p2d": 900, "both": 1800, "d2p": 900}
    assert full.params == {"source": source.resolve().name, "source_sha256": rc.source_digest(source),
                           "include_d2p": False, "distractors": "group"}


def test_the_manifest_names_the_data_by_content_not_by_absolute_path(source: Path, tmp_path: Path):
    one = _subset(source, tmp_path / "here" / "mine", k=5)
    two = _subset(source, tmp_path / "elsewhere" / "deeper" / "mine", k=5)
    make_dataset("reversal-curse", 0, tmp_path / "a", {"source": str(one)})
    make_dataset("reversal-curse", 0, tmp_path / "b", {"source": str(two)})
    manifest = (tmp_path / "a" / "manifest.json").read_text()
    assert manifest == (tmp_path / "b" / "manifest.json").read_text()
    assert str(tmp_path) not in manifest
    assert load_dataset(tmp_path / "a").manifest.params["source_sha256"] == rc.source_digest(one)


def test_questions_come_from_the_right_files(source: Path, full: Generated):
    ds = as_dataset(full, "reversal-curse")
    reverse = _records(source / rc.P2D_REVERSE_TEST)
    for q, r in zip(ds.split("reversal"), reverse, strict=True):
        assert q.prompt == r["prompt"] and q.choices[q.answer] == r["completion"].strip()
    both = _records(source / rc.BOTH_TEST)[300:]
    for q, r in zip(ds.split("both_reversal"), both, strict=True):
        assert q.prompt == r["prompt"] and q.choices[q.answer] == " ".join(r["completion"].split()[:2])
    forward = _records(source / rc.P2D_TEST)
    for q, r in zip(ds.split("rephrase"), forward, strict=True):
        assert q.prompt == r["prompt"] and q.choices[q.answer] == r["completion"].strip()


def test_names_appear_equally_often_within_a_group(source: Path, full: Generated):
    text = "\n".join(d.text for d in full.documents)
    p2d = {r["completion"].strip() for r in _records(source / rc.P2D_REVERSE_TEST)}
    both = {" ".join(r["completion"].split()[:2]) for r in _records(source / rc.BOTH_TEST)[300:]}
    assert len(p2d) == len(both) == 30
    assert {len(re.findall(re.escape(n), text)) for n in p2d} == {30}
    assert {len(re.findall(re.escape(n), text)) for n in both} == {60}


def test_distractors_are_trained_names_of_the_keys_group(source: Path, full: Generated):
    ds = as_dataset(full, "reversal-curse")
    p2d = {r["completion"].strip() for r in _records(source / rc.P2D_REVERSE_TEST)}
    both = {" ".join(r["completion"].split()[:2]) for r in _records(source / rc.BOTH_TEST)[300:]}
    trained = "\n".join(d.text for d in full.documents)
    for split, group in (("reversal", p2d), ("both_reversal", both)):
        for q in ds.split(split):
            assert len(q.choices) == 4 and set(q.choices) <= group
            assert all(name in trained for name in q.choices)


def test_name_splits_are_closed_blocks(full: Generated):
    """Four questions with four different keys share each candidate set: a prompt-blind scorer is right once."""
    ds = as_dataset(full, "reversal-curse")
    for split in ("reversal", "both_reversal"):
        blocks: dict[frozenset[str], list[str]] = {}
        for q in ds.split(split):
            blocks.setdefault(frozenset(q.choices), []).append(q.choices[q.answer])
        assert len(blocks) == 75
        assert all(sorted(keys) == sorted(block) for block, keys in blocks.items())


def test_rephrase_distractors_share_the_prompts_template(source: Path, full: Generated):
    records = _records(source / rc.P2D_TEST)
    by_template: dict[str, set[str]] = {}
    names = [r["completion"].strip() for r in _records(source / rc.P2D_REVERSE_TEST)[::10]]
    for i, r in enumerate(records):
        template = r["prompt"].replace(names[i // 10], "<name>")
        by_template.setdefault(template, set()).add(r["completion"].strip())
    for q in as_dataset(full, "reversal-curse").split("rephrase"):
        template = next(t for t in by_template if re.fullmatch(re.escape(t).replace("<name>", ".+"), q.prompt))
        assert set(q.choices) <= by_template[template]


def test_baseline_is_at_chance_on_every_split(full: Generated):
    ds = as_dataset(full, "reversal-curse")
    for max_n in (1, 3):
        scores = surface_baseline(ds, max_n=max_n)
        assert {s.split for s in scores} == {"reversal", "both_reversal", "rephrase"}
        assert all(s.at_chance for s in scores), scores


def test_trained_pool_is_a_frequency_biased_stress_test(source: Path):
    """Names trained as completions (both group) are twice as frequent: the n-gram baseline falls below chance."""
    ds = as_dataset(rc.generate(0, source=str(source), distractors="trained"), "reversal-curse")
    reversal = next(s for s in surface_baseline(ds, max_n=1) if s.split == "reversal")
    assert reversal.accuracy < 0.15


def test_oracle_is_the_reversed_p2d_facts(source: Path, full: Generated):
    p2d = [r["completion"].strip() for r in _records(source / rc.P2D_REVERSE_TEST)[::10]]
    test_prompts = {r["prompt"] for r in _records(source / rc.P2D_REVERSE_TEST)}
    assert Counter(d.source_fact_ids[0] for d in full.oracle) == {f"p2d-{i:02d}": 10 for i in range(30)}
    first = [d for d in full.oracle if d.source_fact_ids == ["p2d-00"]]
    assert all(d.text.index("the acclaimed director") < d.text.index(p2d[0]) for d in first)
    assert not any(prompt in d.text for d in full.oracle for prompt in test_prompts)


def test_same_seed_same_bytes_other_seed_other_draws(source: Path, tmp_path: Path):
    params = {"source": str(source)}
    make_dataset("reversal-curse", 0, tmp_path / "a", params)
    make_dataset("reversal-curse", 0, tmp_path / "b", params)
    make_dataset("reversal-curse", 1, tmp_path / "c", params)
    for name in ("documents.jsonl", "questions.jsonl", "oracle.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "questions.jsonl").read_bytes() != (tmp_path / "c" / "questions.jsonl").read_bytes()
    ds = load_dataset(tmp_path / "a")
    assert ds.manifest is not None and ds.manifest.splits == {"reversal": 300, "both_reversal": 300, "rephrase": 300}


def test_a_users_own_copy_loads_from_its_path(source: Path, tmp_path: Path):
    copy = _subset(source, tmp_path / "mine", k=5)
    make_dataset("reversal-curse", 3, tmp_path / "out", {"source": str(copy), "include_d2p": True})
    ds = load_dataset(tmp_path / "out")
    assert len(ds.documents) == 150 + 300 + 150
    assert {s: len(ds.split(s)) for s in ds.splits} == {"reversal": 50, "both_reversal": 50, "rephrase": 50}
    assert all(s.at_chance for n in (1, 3) for s in surface_baseline(ds, max_n=n))


def test_cli_make_with_source(source: Path, tmp_path: Path, cli):
    copy = _subset(source, tmp_path / "mine", k=4)
    code, out, err = cli("data", "make", "reversal-curse", "--out", tmp_path / "out", "--set", f"source={copy}")
    assert code == 0, err
    assert "reversal=40" in out


def _error(tmp_path: Path, source: Path, file: str, lines: dict[int, str] | None = None, drop: bool = False) -> str:
    copy = _subset(source, tmp_path / "bad", k=4)
    if drop:
        (copy / file).unlink()
    else:
        content = (copy / file).read_text().splitlines()
        for number, text in (lines or {}).items():
            content[number - 1] = text
        (copy / file).write_text("\n".join(content) + "\n")
    with pytest.raises(AdaptlabError) as info:
        rc.generate(0, source=str(copy))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("file", "lines", "drop", "expected"),
    [
        (rc.BOTH_TEST, None, True, f"{rc.BOTH_TEST}: file not found"),
        (rc.P2D_TRAIN, {3: '{"prompt": "Daphne Barrington, known'}, False, f"{rc.P2D_TRAIN}:3: bad JSON"),
        (rc.P2D_TEST, {2: '{"prompt": "x"}'}, False, f"{rc.P2D_TEST}:2: missing field 'completion'"),
        (rc.P2D_REVERSE_TEST, {5: '{"completion": " A B"}'}, False, f"{rc.P2D_REVERSE_TEST}:5: missing field 'prompt'"),
        (rc.BOTH_TRAIN, {4: '{"prompt": "x", "completion": 3}'}, False, "must be a non-empty string"),
        (rc.BOTH_TRAIN, {7: "[1, 2]"}, False, f"{rc.BOTH_TRAIN}:7: expected a JSON object"),
        (
            rc.P2D_TRAIN,
            {9: '{"prompt": "Nobody Known is", "completion": " a mystery."}'},
            False,
            f"{rc.P2D_TRAIN}:9: record names none of the known people",
        ),
        (
            rc.P2D_TRAIN,
            {1: '{"prompt": "Mason Caldwell is", "completion": " a roboticist."}'},
            False,
            "names 'Mason Caldwell' of the both group, expected a p2d name",
        ),
    ],
)
def test_malformed_source_files_give_one_line_errors(source: Path, tmp_path: Path, file, lines, drop, expected):
    assert expected in _error(tmp_path, source, file, lines, drop)


def test_missing_default_folder_says_what_was_tried(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(rc, "candidate_folders", lambda: [tmp_path / "nowhere"])
    with pytest.raises(AdaptlabError, match=r"tried .*nowhere.*--set source=PATH"):
        rc.generate(0)
    with pytest.raises(AdaptlabError, match="is not a folder"):
        rc.generate(0, source=str(tmp_path / "nowhere"))


def test_bad_option_values_are_refused(source: Path):
    with pytest.raises(AdaptlabError, match="distractors must be one of group, trained"):
        rc.generate(0, source=str(source), distractors="random")


def test_closed_choice_sets_use_every_question_when_they_can():
    import random

    keys = [f"p{i}" for i in range(6) for _ in range(2)]  # 6 people x 2 questions = 3 blocks
    sets = closed_choice_sets(keys, sorted(set(keys)), random.Random(0))
    assert all(key in s and len(set(s)) == 4 for key, s in zip(keys, sets, strict=True))
    blocks = Counter(frozenset(s) for s in sets)
    assert sorted(blocks.values()) == [4, 4, 4]


def test_first_people_is_the_same_study_smaller(source: Path, full: Generated):
    from adaptlab.data.baseline import form_baseline

    small = rc.generate(0, source=str(source), people=4)
    kept = {pid for d in small.documents for pid in d.source_fact_ids}
    assert small.params["people"] == 4 and len(kept) < len({p for d in full.documents for p in d.source_fact_ids})
    assert {d.text for d in small.documents} < {d.text for d in full.documents}
    by_split = Counter(q.split for q in small.questions)
    assert set(by_split) == {"reversal", "both_reversal", "rephrase"}
    for q in small.questions:
        assert q.source_fact_ids[0] in kept
    assert {d.source_fact_ids[0] for d in small.oracle} <= kept
    ds = as_dataset(small, "reversal-curse")
    assert all(s.at_chance for s in surface_baseline(ds, max_n=3) + form_baseline(ds))
    with pytest.raises(AdaptlabError, match="people"):
        rc.generate(0, source=str(source), people=3)
