"""Adaptation methods on the tiny model: ICL context building and subsampling, RAG, fine-tuning (LoRA and full,
sentence splitting, resume), augmentation (parsing, filtering, caching), and `adaptlab eval`."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from adaptlab.context import build_context, fit_documents
from adaptlab.data.records import Dataset, Document
from adaptlab.errors import AdaptlabError
from adaptlab.methods import MethodOptions, get_method
from adaptlab.options import FinetuneConfig
from adaptlab.training.augment import GenerationCache, augment, filter_sentences, parse_generation
from adaptlab.training.examples import make_examples, sentences
from adaptlab.training.finetune import final_checkpoint, finetune, tokenize_examples
from conftest import generated_dataset


@pytest.fixture(scope="module")
def reversals() -> Dataset:
    return generated_dataset("simple-reversals", 0, n_facts=6, articles_per_fact=2)


def test_icl_uses_every_document_when_they_fit(tiny, reversals, tmp_path: Path):
    prepared = get_method("icl").prepare(tiny, reversals, seed=0, workdir=tmp_path)
    assert prepared.info["fraction_used"] == 1.0
    assert set(prepared.contexts) == {build_context(reversals.documents)}


def test_icl_subsamples_deterministically_to_fit(tiny, reversals, tmp_path: Path):
    options = MethodOptions(max_context_tokens=60)
    a = get_method("icl", options).prepare(tiny, reversals, seed=0, workdir=tmp_path)
    b = get_method("icl", options).prepare(tiny, reversals, seed=0, workdir=tmp_path)
    c = get_method("icl", options).prepare(tiny, reversals, seed=1, workdir=tmp_path)
    assert a.contexts == b.contexts and a.contexts != c.contexts
    assert 0 < a.info["fraction_used"] < 1
    assert tiny.count_tokens(a.contexts[0]) <= 60
    half = fit_documents(tiny, reversals.documents, 10_000, seed=0, fraction=0.5)
    assert len(half) == len(reversals.documents) // 2
    order = [reversals.documents.index(d) for d in half]
    assert order == sorted(order)  # kept in dataset order


def test_icl_with_no_room_is_a_one_line_error(tiny, reversals, tmp_path: Path):
    with pytest.raises(AdaptlabError, match="option max_context_tokens: Input should be greater than or equal to 1"):
        MethodOptions(max_context_tokens=0)
    # Room for the question but for no document: refused, not run as `icl` with 0 documents.
    with pytest.raises(AdaptlabError, match="no document fits the context budget of 5 tokens"):
        get_method("icl", MethodOptions(max_context_tokens=5)).prepare(tiny, reversals, seed=0, workdir=tmp_path)


def test_icl_with_one_document_larger_than_the_window_is_a_one_line_error(tiny, reversals, tmp_path: Path):


    from adaptlab.data.records import Document

    window = tiny.context_window
    huge = Document(id="huge", text=" ".join(["femp glon"] * window))
    assert tiny.count_tokens(huge.text) > window
    alone = dataclasses.replace(reversals, documents=[huge])
    with pytest.raises(AdaptlabError, match="no document fits") as err:
        get_method("icl").prepare(tiny, alone, seed=0, workdir=tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("options", [{"k": 0}, {"k": -3}, {"retriever": "grep"}, {"icl_fraction": 0},
                                     {"icl_fraction": 1.5}, {"max_context_tokens": -1}])
def test_nonsense_method_options_are_one_line_errors(options: dict):
    with pytest.raises(AdaptlabError, match=f"option {next(iter(options))}") as err:
        MethodOptions(**options)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("retriever", ["bm25", "dense"])
def test_rag_retrieves_the_documents_of_the_fact(tiny, reversals, tmp_path: Path, retriever: str):
    prepared = get_method("rag", MethodOptions(k=2, retriever=retriever)).prepare(
        tiny, reversals, seed=0, workdir=tmp_path
    )
    assert len(prepared.contexts) == len(reversals.questions)
    assert prepared.info["recall_any_fact"] >= 0.8  # the question names both entities of its fact


def test_sentence_splitting():
    assert sentences('Did you know? It is "odd." Yes it is') == ["Did you know?", 'It is "odd."', "Yes it is"]
    docs = [Document(id="a", text="One two. Three four! Five.")]
    assert [e.target for e in make_examples(docs, "off")] == ["One two. Three four! Five."]
    assert [(e.context, e.target) for e in make_examples(docs, "independent")] == [
        ("", "One two."), ("", "Three four!"), ("", "Five.")]
    assert [(e.context, e.target) for e in make_examples(docs, "cumulative")] == [
        ("", "One two."), ("One two.", "Three four!"), ("One two. Three four!", "Five.")]


def test_loss_is_on_the_target_only(tiny):
    (row,) = tokenize_examples(tiny, make_examples([Document(id="a", text="A b. C d.")], "cumulative")[1:], 256)
    n_target = sum(1 for x in row["labels"] if x != -100)
    assert 0 < n_target < len(row["input_ids"])
    assert row["labels"][-n_target:] == row["input_ids"][-n_target:]


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_finetuning_learns_and_resumes(tiny, reversals, tmp_path: Path, mode: str):
    examples = make_examples(reversals.documents, "off")
    config = FinetuneConfig(mode=mode, steps=30, batch_size=4, learning_rate=3e-3, warmup_steps=0, save_steps=15)
    adapted, cost, log = finetune(tiny, examples, config, tmp_path, seed=0)
    losses = [loss for _, loss in log["losses"]]
    assert losses[-1] < losses[0]  # it learned something
    assert cost.flops > 0 and cost.tokens_trained > 0 and cost.kind == "one_off"
    assert adapted is not tiny and tiny.model is not adapted.model  # the base model is untouched
    # a second call finds the checkpoints and resumes instead of starting over
    _, _, again = finetune(tiny, examples, config, tmp_path, seed=0)
    assert again["resumed"]


def test_epochs_set_the_steps_from_the_examples(tiny, reversals, tmp_path: Path):
    examples = make_examples(reversals.documents, "off")
    config = FinetuneConfig(epochs=1.5, batch_size=4, learning_rate=3e-3, warmup_steps=3, save_steps=1000)
    steps = math.ceil(1.5 * len(examples) / 4)
    assert config.for_examples(len(examples)).steps == steps and config.for_examples(len(examples)).epochs is None
    assert config.for_examples(1).steps == 1 and config.for_examples(1).warmup_steps == 0
    assert FinetuneConfig(steps=7).for_examples(1000).steps == 7  # without epochs: the steps as given
    _, _, log = finetune(tiny, examples, config, tmp_path, seed=0)
    assert log["losses"][-1][0] <= steps and final_checkpoint(tmp_path, steps) is not None
    # a method trains as many steps per pass as its examples need, and records them
    method = get_method("ft-split", MethodOptions(finetune={"epochs": 1.0, "batch_size": 4, "save_steps": 1000}))
    trained = method.train(tiny, reversals, seed=0, workdir=tmp_path / "method")
    split = make_examples(reversals.documents, "independent")
    assert trained.info["finetune"]["steps"] == math.ceil(len(split) / 4)
    assert trained.info["train_examples"] == len(split)


def test_parse_and_filter_generations():
    text = "Dolphins are smaller than whales.\n- It is true that whales are big.\n2. ok\nStatement: ignored"
    parsed = parse_generation("- " + text)
    assert parsed == ["Dolphins are smaller than whales.", "It is true that whales are big.", "ok."]
    # a complete line without a period is a sentence; a last line without one was cut off
    assert parse_generation("glon are less dangerous than femp\n\nfemp are more", None) == [
        "glon are less dangerous than femp."]
    counts: dict[str, int] = {}
    from collections import Counter

    counts = Counter()
    seen: set[str] = set()
    kept = filter_sentences(
        [*parsed, "dolphins are smaller than whales.", "Whales are larger than dolphins."],
        sources={"whales are larger than dolphins"}, seen=seen, counts=counts,
    )
    assert kept == ["Dolphins are smaller than whales.", "It is true that whales are big."]
    assert counts["dropped_fragment"] == 1 and counts["dropped_copy"] == 1 and counts["kept"] == 2


def test_augmentation_is_cached_and_added(tiny, reversals, tmp_path: Path, monkeypatch):
    cache = tmp_path / "generations.sqlite"
    first = augment(tiny, reversals, ["local", "global", "oracle"], cache, seed=0)
    assert first.counts["generated"] > 0 and first.cost is not None and first.cost.tokens_generated > 0
    assert any(d.id.startswith("oracle-") for d in first.documents)

    def no_generation(*args, **kwargs):
        raise AssertionError("regenerated despite the cache")

    monkeypatch.setattr(type(tiny), "generate", no_generation)
    monkeypatch.setattr(type(tiny), "generate_with_stats", no_generation)
    monkeypatch.setattr(type(tiny), "generate_requests", no_generation)
    second = augment(tiny, reversals, ["local", "global", "oracle"], cache, seed=0)
    assert [d.text for d in second.documents] == [d.text for d in first.documents]
    # the cost is the backend's measured GenerationStats, and a run served from the cache reports the same cost
    assert first.cost.flops > 0 and first.cost.tokens_reused > 0
    assert (second.cost.flops, second.cost.tokens_generated) == pytest.approx(
        (first.cost.flops, first.cost.tokens_generated))


def test_the_augmentation_cache_key_holds_everything_that_changes_a_generation(tiny, reversals, tmp_path: Path,
                                                                               monkeypatch):
    """A cached generation is reused only for the same model, prompt, seed and sampling settings: changing any of
    them generates again (a key that missed one would silently reuse text made under other settings)."""


    from adaptlab.options import AugmentOptions

    key = GenerationCache.key("m", "p", {"a": 1, "b": 2})
    assert key == GenerationCache.key("m", "p", {"b": 2, "a": 1})  # order of settings does not matter
    others = [("m2", "p", {"a": 1, "b": 2}), ("m", "p2", {"a": 1, "b": 2}), ("m", "p", {"a": 2, "b": 2}),
              ("m", "p", {"a": 1, "b": 3}), ("m", "p", {"a": 1})]
    assert len({key, *(GenerationCache.key(*o) for o in others)}) == 1 + len(others)

    generated: list[int] = []
    original = type(tiny).generate_requests

    def counting(self, requests, **kwargs):
        generated.append(len(requests))
        return original(self, requests, **kwargs)

    monkeypatch.setattr(type(tiny), "generate_requests", counting)
    cache = tmp_path / "generations.sqlite"
    base = AugmentOptions(max_new_tokens_local=4)

    def prompts_generated(model_name: str = "tiny", seed: int = 0, **changes) -> int:
        generated.clear()
        monkeypatch.setattr(tiny, "name", model_name)
        augment(tiny, reversals, ["local"], cache, seed=seed, options=base.replace(**changes))
        return sum(generated)

    first = prompts_generated()
    assert first > 0
    assert prompts_generated() == 0  # all from the cache
    assert prompts_generated(seed=1) == first
    assert prompts_generated(max_new_tokens_local=5) == first
    assert prompts_generated(temperature=0.7) == first
    assert prompts_generated(model_name="another-model") == first
    assert prompts_generated(samples=2) == first  # sample 0 is cached, sample 1 is new


def test_oracle_augmentation_adds_valid_inferences_to_the_training_data(tiny, reversals, tmp_path: Path):
    method = get_method("aug-oracle-ft", MethodOptions(finetune={"steps": 2, "batch_size": 2}))
    prepared = method.prepare(tiny, reversals, seed=0, workdir=tmp_path)
    n_docs = len(reversals.documents)
    assert prepared.info["train_examples"] == n_docs + len(reversals.oracle)  # one sentence each, split
    assert prepared.info["augmentation"]["kept"] == len(reversals.oracle)


def test_bad_finetune_option_is_one_line():
    with pytest.raises(AdaptlabError, match="steps"):
        get_method("ft", MethodOptions(finetune={"steps": 0}))
    with pytest.raises(AdaptlabError, match="split"):
        get_method("ft", MethodOptions(split="sometimes"))


def test_eval_command(tmp_path: Path, cli):
    data = tmp_path / "rev"
    assert cli("data", "make", "simple-reversals", "--out", data, "--set", "n_facts=4")[0] == 0
    code, out, err = cli("eval", "--model", "tiny", "--data", data, "--method", "icl", "--out", tmp_path / "e")
    assert code == 0, err
    assert "reversal" in out and "rephrase" in out
    from adaptlab.store import Store

    with Store(tmp_path / "e" / "results.sqlite") as store:
        metrics = {m["metric"] for m in store.metrics()}
        assert metrics == {"sum", "per_token", "per_char", "calibrated"}
        (run,) = store.runs()
        assert all(s.null_logprob < 0 for s in store.scores(run["run_id"]))
    code, _, err = cli("eval", "--model", "nope", "--data", data, "--out", tmp_path / "e")
    assert code == 2 and "unknown model 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("eval", "--model", "tiny", "--data", data, "--method", "magic", "--out", tmp_path / "e")
    assert code == 2 and "unknown method 'magic'" in err
