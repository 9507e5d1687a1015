"""The `restate` local augmentation prompt and the `reordered` filter: what a prompt sees (documents only, never a
question), what the filter keeps, its counts, and the same augmentations for the same seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.data.records import Dataset, Document
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import GenerationStats
from adaptlab.models.prompts import RESTATE_EXAMPLES, RESTATE_ITEM
from adaptlab.options import AugmentOptions, MethodOptions
from adaptlab.training.augment import augment, names, reordered
from conftest import generated_dataset

RESTATE = AugmentOptions(max_new_tokens_local=12, local_prompt="restate")


@pytest.fixture(scope="module")
def reversals() -> Dataset:
    return generated_dataset("simple-reversals", 0, n_facts=6, articles_per_fact=2)


SOURCE = ('One wouldn\'t guess, but Daphne Barrington was the acclaimed director of the virtual reality masterpiece, '
          '"A Journey Through Time."')


def test_names_are_capitalised_runs_without_sentence_capitals():
    assert names(SOURCE) == ["daphne barrington", "a journey through time"]
    assert names("Ever heard of Juliette Radcliffe? They're the one.") == ["juliette radcliffe"]
    assert names("The person who popularized Moonlight Couture is Juliette Radcliffe.") == [
        "moonlight couture", "juliette radcliffe"]


def test_reordered_keeps_grounded_restatements_in_another_order():
    assert reordered('The director of "A Journey Through Time" is Daphne Barrington.', SOURCE)
    # the source's own order (a near copy) ends on the source's last name
    assert not reordered('Daphne Barrington directed the masterpiece "A Journey Through Time."', SOURCE)
    # a name the source does not have (an invented one, or one from the prompt's examples)
    assert not reordered('The director of "A Journey Through Time" is Tomas Verne.', SOURCE)
    assert not reordered("It is a virtual reality masterpiece.", SOURCE)  # names nothing
    one_name = "Owen Larkspur, known far and wide for being the first person to reach the Vega Council."
    assert names(one_name) == ["owen larkspur", "vega council"]
    assert reordered("The first person to reach the Vega Council is Owen Larkspur.", one_name)
    assert not reordered("Owen Larkspur was the first person to reach the Vega Council.", one_name)


def requests_seen(tiny, monkeypatch) -> list:
    seen: list = []
    original = type(tiny).generate_requests

    def spy(self, requests, **kwargs):
        seen.extend(requests)
        return original(self, requests, **kwargs)

    monkeypatch.setattr(type(tiny), "generate_requests", spy)
    return seen


def test_restate_prompts_see_one_document_each_and_no_question(tiny, reversals, tmp_path: Path, monkeypatch):
    """Leak check: every restate prompt is the fixed examples around exactly one training document; no question's
    prompt or answer is in any of them."""
    seen = requests_seen(tiny, monkeypatch)
    augment(tiny, reversals, ["local"], tmp_path / "g.sqlite", seed=0, options=RESTATE)
    documents = {d.text for d in reversals.documents}
    assert len(seen) == len(documents)
    head, tail = RESTATE_ITEM.split("{sentence}")
    for request in seen:
        text = request.context + request.prompt
        assert text.startswith(RESTATE_EXAMPLES) and request.instruction == ""
        item = text.removeprefix(RESTATE_EXAMPLES).lstrip("\n")
        assert item.startswith(head) and item.endswith(tail)
        assert item.removeprefix(head).removesuffix(tail) in documents
    prompts = [r.context + r.prompt for r in seen]
    for question in reversals.questions:
        answer = question.choices[question.answer] if question.choices else question.answer
        assert not any(question.prompt in p or f"{question.prompt} {answer}" in p for p in prompts)


SCRIPT = {  # a document -> what the model "writes" for it: kept, invented name, source order; kept, no name
    SOURCE: 'The director of "A Journey Through Time" is Daphne Barrington.\nThe director of "A Journey Through Time" '
            'is Tomas Verne.\nDaphne Barrington directed "A Journey Through Time."\n',
    "Owen Larkspur first spoke with the Vega Council.": "The Vega Council first spoke with Owen Larkspur.\nOwen.\n",
}


def test_reordered_filter_keeps_and_counts(tiny, tmp_path: Path, monkeypatch):
    """What the filter keeps and drops, on scripted generations (the filter, not the model, is under test)."""
    dataset = Dataset("two", [Document(id=f"d{i}", text=t) for i, t in enumerate(SCRIPT)], [])

    def scripted(self, requests, **kwargs):
        texts = [next(v for k, v in SCRIPT.items() if k in r.context + r.prompt) for r in requests]
        return texts, GenerationStats(prompts=len(requests))

    monkeypatch.setattr(type(tiny), "generate_requests", scripted)
    options = RESTATE.replace(local_filter="reordered")
    result = augment(tiny, dataset, ["local"], tmp_path / "g.sqlite", seed=0, options=options)
    assert [d.text for d in result.documents] == [
        'The director of "A Journey Through Time" is Daphne Barrington.',
        "The Vega Council first spoke with Owen Larkspur."]
    assert dict(result.counts) == {"generated": 5, "kept": 2, "dropped_not_reordered": 3}  # "Owen." names nothing
    unfiltered = augment(tiny, dataset, ["local"], tmp_path / "g.sqlite", seed=0, options=RESTATE)
    assert unfiltered.counts["kept"] == 4 and unfiltered.counts["generated"] == 5


def test_restate_is_the_same_for_a_seed_and_cached(tiny, reversals, tmp_path: Path):
    options = RESTATE.replace(temperature=1.0, samples=2)
    first = augment(tiny, reversals, ["local"], tmp_path / "a.sqlite", seed=3, options=options)
    again = augment(tiny, reversals, ["local"], tmp_path / "b.sqlite", seed=3, options=options)
    assert [d.text for d in first.documents] == [d.text for d in again.documents]
    assert first.cost is not None and first.cost.tokens_generated > 0


def test_restate_options_are_validated_in_one_line():
    with pytest.raises(AdaptlabError, match=r"^option augment: local_prompt: Input should be 'indirect' or"):
        MethodOptions(augment={"local_prompt": "reverse"})
    with pytest.raises(AdaptlabError, match=r"^option augment: local_filter: "):
        AugmentOptions(local_filter="strict")
    assert MethodOptions(augment={"local_prompt": "restate", "local_filter": "reordered"}).augment_options() == (
        AugmentOptions(local_prompt="restate", local_filter="reordered"))


def test_reordered_needs_the_sources_words_not_the_examples():
    source = "Ever heard of Juliette Radcliffe? They're the designer who popularized Moonlight Couture."
    assert reordered("The designer who popularized Moonlight Couture is Juliette Radcliffe.", source)
    # grounded names, but the rest is the prompt's example ("the sculptor who carved the Glass Lion")
    assert not reordered("The sculptor who carved the glass lion was Juliette Radcliffe.", source)
    assert names("It was known as Q.") == []  # a one-letter capital is no name


def test_local_repeats_keeps_a_restatement_once_per_document(tiny, tmp_path: Path, monkeypatch):
    texts = ["Owen Larkspur first spoke with the Vega Council.",
             "Known to all, Owen Larkspur first spoke with the Vega Council."]
    dataset = Dataset("two", [Document(id=f"d{i}", text=t) for i, t in enumerate(texts)], [])
    same = "The first to speak with the Vega Council was Owen Larkspur.\n"

    def scripted(self, requests, **kwargs):
        return [same + same for _ in requests], GenerationStats(prompts=len(requests))

    monkeypatch.setattr(type(tiny), "generate_requests", scripted)
    options = RESTATE.replace(local_filter="reordered")
    once = augment(tiny, dataset, ["local"], tmp_path / "a.sqlite", seed=0, options=options)
    each = augment(tiny, dataset, ["local"], tmp_path / "b.sqlite", seed=0, options=options.replace(local_repeats=True))
    assert [d.text for d in once.documents] == [same.strip()]
    assert [d.text for d in each.documents] == [same.strip()] * 2  # once per document, not twice within one
    assert each.counts["dropped_duplicate"] == 2 and once.counts["dropped_duplicate"] == 3
