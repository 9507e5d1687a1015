"""The organism's pretraining stream and tokenizer, and a few steps of `adaptlab organism train`."""

import json
import random
from pathlib import Path

import pytest

from adaptlab.data.lexicon import candidate_words
from adaptlab.organism.tokenizer import build_organism_tokenizer
from adaptlab.organism.worlds import PRETRAIN_SEED_BASE, SEPARATOR, copy_sequence, draw_world


def test_worlds_are_fresh_and_statements_follow_the_documents():
    rng = random.Random(0)
    worlds = [draw_world(rng, 1.0) for _ in range(20)]
    assert len({w.context for w in worlds}) == 20
    for w in worlds:
        assert w.context and w.statements
    # statements talk about the world's own entities
    w = worlds[0]
    words = set(w.context.replace(".", " ").replace(",", " ").replace("?", " ").replace(":", " ").split())
    assert any(tok in words for s in w.statements for tok in s.target.split())


def _sizes(worlds) -> tuple[int, int, int]:
    """The largest simple-reversals world (facts), simple-syllogisms world (examples) and articles per fact seen."""
    facts, examples, articles = 0, 0, 0
    for w in worlds:
        docs = w.context.split(SEPARATOR)
        if docs[0].startswith("Here are the relationships"):
            examples = max(examples, len(docs))
        else:
            pairs = [frozenset(d.rstrip(".?!").split()[-6::5]) for d in docs]  # the two entities
            facts, articles = max(facts, len(set(pairs))), max(articles, max(pairs.count(p) for p in pairs))
    return facts, examples, articles


def test_the_stream_grows_to_the_largest_worlds_asked_for():
    def sizes(**largest) -> tuple[int, int, int]:
        rng = random.Random(4)
        return _sizes(draw_world(rng, 1.0, **largest) for _ in range(300))

    assert sizes() == (10, 8, 1)  # the probe's worlds: the defaults, the stream of the shipped stages
    assert sizes(max_facts=16, max_syllogisms=12, max_articles=2) == (16, 12, 2)


def test_a_later_stage_keeps_the_default_worlds_in_its_mix():
    from adaptlab.organism.train import OrganismConfig, draw_batch

    def world_rows(**config):
        c = OrganismConfig(copy_share=0.0, recall_share=0.0, batch_size=300, max_facts=16, max_syllogisms=12,
                           max_articles=2, **config)
        return draw_batch(random.Random(4), 1.0, c)

    assert _sizes(world_rows()) == (16, 12, 2)
    assert _sizes(world_rows(small_world_share=1.0)) == (10, 8, 1)
    mixed = world_rows(small_world_share=0.5)
    assert _sizes(mixed) == (16, 12, 2)
    small = [w for w in mixed if len(w.context.split(SEPARATOR)) <= 10]
    assert 0.4 < len(small) / len(mixed) < 0.9  # half the rows small, plus the large draws that came out small


def test_evaluation_worlds_never_appear_in_pretraining():
    from adaptlab.data import simple_reversals

    eval_facts = {d.text for seed in range(3) for d in simple_reversals.generate(seed, n_facts=10,
                                                                              articles_per_fact=1).documents}
    rng = random.Random(1)
    for _ in range(200):
        w = draw_world(rng, 1.0)
        assert not eval_facts & set(w.context.split(SEPARATOR))
    assert PRETRAIN_SEED_BASE > 1000


def test_tokenizer_is_closed_over_the_language_and_keeps_blank_lines():
    tok = build_organism_tokenizer()
    w = draw_world(random.Random(2), 1.0)
    ids = tok(w.text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert "\n\n" in tok.decode(ids, skip_special_tokens=True)
    copied = copy_sequence(random.Random(3), candidate_words()[:50])
    assert [s.target for s in copied.statements] == [copied.context]
    # every lexicon word is a few frequent pieces and decodes back to itself
    words = list(candidate_words())
    for word, pieces in zip(words, tok(words, add_special_tokens=False)["input_ids"], strict=True):
        assert tok.unk_token_id not in pieces and len(pieces) <= 3 and tok.decode(pieces) == word
    assert len(tok) < 300


def test_organism_train_command_runs(tmp_path: Path, cli):
    code, _, err = cli("organism", "train", "--out", tmp_path / "org", "--steps", "3", "--threads", "1")
    assert code == 0, err
    assert (tmp_path / "org" / "model.safetensors").exists() and (tmp_path / "org" / "training.json").exists()
    assert (tmp_path / "org" / "adaptlab.json").exists()


def test_a_later_stage_starts_from_a_checkpoint_given_in_a_config(tmp_path: Path, cli, monkeypatch):
    import torch
    from safetensors.torch import load_file

    small = "hidden_size: 16\nlayers: 2\nlayer_types: [conv, full_attention]\nheads: 2\nintermediate_size: 32\n" \
            "batch_size: 2\neval_worlds: 1\nwarmup_steps: 1\n"
    (tmp_path / "one.yaml").write_text(small)
    (tmp_path / "two.yaml").write_text(small + "start_from: first\noracle_only_share: 0.5\n")
    monkeypatch.chdir(tmp_path)  # start_from is relative to the working folder
    assert cli("organism", "train", "--config", "one.yaml", "--out", "first", "--steps", "2", "--threads", "1")[0] == 0
    code, _, err = cli("organism", "train", "--config", "two.yaml", "--out", "second", "--steps", "1", "--threads", "1")
    assert code == 0, err
    record = json.loads((tmp_path / "second" / "training.json").read_text())
    assert record["config"]["start_from"] == "first" and record["config"]["oracle_only_share"] == 0.5
    first, second = load_file("first/model.safetensors"), load_file("second/model.safetensors")
    moved = [k for k in first if not torch.equal(first[k], second[k])]
    assert moved and all((first[k] - second[k]).abs().max() < 0.01 for k in first)  # one small step away
    (tmp_path / "bad.yaml").write_text("start_from: nowhere\n")
    code, _, err = cli("organism", "train", "--config", "bad.yaml", "--out", "third", "--steps", "1")
    assert code != 0 and "cannot start from nowhere" in err and "Traceback" not in err
    (tmp_path / "typo.yaml").write_text("stpes: 3\n")
    code, _, err = cli("organism", "train", "--config", "typo.yaml", "--out", "third")
    assert code != 0 and "typo.yaml" in err and "stpes" in err and "Traceback" not in err


def test_the_shipped_checkpoint_records_its_three_stages():
    """The shipped organism is what `make organism` makes: stage 1 the defaults, stages 2 and 3 the configs."""
    from adaptlab.models.aliases import organism_path
    from adaptlab.organism.train import OrganismConfig
    from adaptlab.runs import load_yaml_model

    folder, configs = organism_path(), Path(__file__).parents[1] / "configs" / "organism"
    records = [json.loads((folder / name).read_text())["config"]
               for name in ("training_stage1.json", "training_stage2.json", "training.json")]
    assert OrganismConfig(**records[0]) == OrganismConfig()
    assert OrganismConfig(**records[1]) == load_yaml_model(configs / "stage2.yaml", OrganismConfig)
    assert OrganismConfig(**records[2]) == load_yaml_model(configs / "stage3.yaml", OrganismConfig)


def test_only_answers_and_oracle_sentences_carry_loss():
    from adaptlab.organism.batches import encode_batch
    from adaptlab.organism.worlds import Sequence, Statement

    tok = build_organism_tokenizer()
    seq = Sequence("Fun fact: femp are more dangerous than glon.",
                   (Statement("It is true that glon are", "less dangerous than femp"),
                    Statement("", "Fun fact: glon are less dangerous than femp.")))
    batch = encode_batch(tok, [seq], 512)
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    def squeeze(text: str) -> str:  # the decoder spaces punctuation out; compare without spaces
        return "".join(text.split())

    assert squeeze(tok.decode(ids, skip_special_tokens=True)) == squeeze(seq.text)
    trained = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab != -100], skip_special_tokens=True)
    assert squeeze(trained) == squeeze("less dangerous than femp\n\nFun fact: glon are less dangerous than femp.")
    assert labels[-1] == tok.eos_token_id


def test_interrupted_pretraining_resumes_to_the_same_model(tmp_path: Path):
    import torch
    from safetensors.torch import load_file

    from adaptlab.organism.train import OrganismConfig, pretrain

    torch.set_num_threads(1)
    config = OrganismConfig(hidden_size=16, layers=2, layer_types=["conv", "full_attention"], heads=2,
                            intermediate_size=32, steps=4, batch_size=2, eval_every=2, eval_worlds=1, warmup_steps=1)
    pretrain(config, tmp_path / "whole")

    def interrupt(step: int) -> None:
        if step == 3:  # after the state saved at step 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(config, tmp_path / "cut", on_step=interrupt)
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    record = pretrain(config, tmp_path / "cut")
    assert [p["step"] for p in record["probe"]] == [2, 4]
    from adaptlab.errors import AdaptlabError

    with pytest.raises(AdaptlabError, match="another configuration"):  # the saved state is of another run
        pretrain(config.model_copy(update={"hidden_size": 32}), tmp_path / "cut")
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_shipped_organism_loads_by_alias_and_copies_from_context():
    import torch

    from adaptlab.models.registry import load_model
    from adaptlab.organism.probe import copy_accuracy

    torch.set_num_threads(1)
    lm = load_model("organism")
    assert lm.meta.get("augmentation") == "continue"
    assert len(lm.tokenizer) < 300  # the pieces tokenizer
    assert copy_accuracy(lm.model, lm.tokenizer, n=16, seed=1) > 0.8  # induction formed (v1/v2: 0.0)


def test_shipped_organism_learns_in_context():
    """On held-out worlds it answers about an entity from the documents in its context (v1-v3: at chance), and
    without the documents it cannot; it also infers syllogisms in context above chance (the six option shapes are
    balanced, so no preference for a form gets there)."""
    import math

    import torch

    from adaptlab.data import simple_reversals, simple_syllogisms
    from adaptlab.evaluate import predict
    from adaptlab.models.base import ScoreRequest
    from adaptlab.models.registry import load_model
    from adaptlab.organism.probe import probe
    from adaptlab.organism.worlds import MAX_FACTS, MAX_SYLLOGISMS

    torch.set_num_threads(1)
    lm = load_model("organism")
    worlds = 4
    accuracy = probe(lm.model, lm.tokenizer, worlds, seed=500)
    assert accuracy["rephrase"] >= 0.85  # chance 0.5
    # It also reverses a fact in context: the fact found by its object, its comparative inverted (v1-v5: at chance
    # or below; v6 measured 0.825 on these worlds). Chance 0.5, 10 reversal questions per world.
    assert accuracy["reversal"] > 0.5 + 2 * math.sqrt(0.25 / (worlds * MAX_FACTS))
    chance = 1 / len(simple_syllogisms.SLOTS["six"])
    n = worlds * MAX_SYLLOGISMS
    assert accuracy["syllogism"] > chance + 2 * math.sqrt(chance * (1 - chance) / n)
    questions = [q for w in range(500, 500 + worlds)
                 for q in simple_reversals.generate(w, n_facts=10, articles_per_fact=1).questions
                 if q.split == "rephrase"]
    scores, _ = lm.score([ScoreRequest("", q.prompt, tuple(q.choices)) for q in questions])
    blind = sum(predict(s) == q.answer for q, s in zip(questions, scores, strict=True)) / len(questions)
    assert blind < accuracy["rephrase"] - 0.2
