"""`reversal-curse` with `format=open`: the same prompts as open questions in Berglund et al.'s free-form protocol
(reference = the test record's completion stripped), the same documents, and the multiple-choice data unchanged."""

import json
from pathlib import Path

import pytest

from adaptlab.data import reversal_curse as rc
from adaptlab.data.io import load_dataset
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from adaptlab.grading import contains, exact_match
from conftest import as_dataset


@pytest.fixture(scope="module")
def source() -> Path:
    for folder in rc.candidate_folders():
        if (folder / rc.P2D_TRAIN).is_file():
            return folder
    pytest.skip("Berglund et al.'s data (shared/datasets/reversal_curse) is not next to this checkout")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_open_questions_have_berglunds_completions_as_references(source: Path):
    ds = as_dataset(rc.generate(0, source=str(source), format="open"), "reversal-curse")
    assert {s: len(ds.split(s)) for s in ds.splits} == {"reversal": 300, "both_reversal": 300, "rephrase": 300}
    assert all(q.is_open and q.choices == [] and q.answer is None and len(q.answers) == 1 for q in ds.questions)
    assert all(ds.chance(s) == 0.0 for s in ds.splits)
    expected = {
        "reversal": [(r["prompt"], r["completion"].strip()) for r in _records(source / rc.P2D_REVERSE_TEST)],
        # the description-first half, the completion cut to the name (Berglund's `shorten_completion`)
        "both_reversal": [(r["prompt"], " ".join(r["completion"].split()[:2]))
                          for r in _records(source / rc.BOTH_TEST)[300:]],
        "rephrase": [(r["prompt"], r["completion"].strip()) for r in _records(source / rc.P2D_TEST)],
    }
    for split, pairs in expected.items():
        assert [(q.prompt, q.answers[0]) for q in ds.split(split)] == pairs
    # a continuation that starts with the name is right by `contains`, not by `exact_match`
    q = ds.split("reversal")[0]
    assert contains(f"{q.answers[0]}, who now lives abroad.", q.answers) == 1.0
    assert exact_match(f"{q.answers[0]}, who now lives abroad.", q.answers) == 0.0


def test_open_and_choice_share_prompts_keys_and_documents(source: Path):
    choice = rc.generate(3, source=str(source), people=4)
    open_ = rc.generate(3, source=str(source), people=4, format="open")
    assert [d.model_dump() for d in open_.documents] == [d.model_dump() for d in choice.documents]
    assert [d.model_dump() for d in open_.oracle] == [d.model_dump() for d in choice.oracle]
    assert len(open_.questions) == len(choice.questions) == 120
    for o, c in zip(open_.questions, choice.questions, strict=True):
        assert (o.id, o.split, o.prompt, o.source_fact_ids) == (c.id, c.split, c.prompt, c.source_fact_ids)
        assert o.answers == [c.choices[c.answer]]


def test_the_format_is_in_the_manifest_only_when_open(source: Path, tmp_path: Path):
    make_dataset("reversal-curse", 0, tmp_path / "mc", {"source": str(source), "people": 4})
    make_dataset("reversal-curse", 0, tmp_path / "open", {"source": str(source), "people": 4, "format": "open"})
    assert "format" not in load_dataset(tmp_path / "mc").manifest.params
    opened = load_dataset(tmp_path / "open")
    assert opened.manifest.params["format"] == "open" and all(q.is_open for q in opened.questions)
    assert opened.digest() != load_dataset(tmp_path / "mc").digest()


def test_an_unknown_format_is_one_line(source: Path):
    with pytest.raises(AdaptlabError, match="format must be one of choice, open, got 'free'"):
        rc.generate(0, source=str(source), format="free")
