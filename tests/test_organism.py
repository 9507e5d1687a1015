"""The organism's pretraining stream and tokenizer, and a few steps of `adaptlab organism train`."""

import random
from pathlib import Path

from adaptlab.data.lexicon import candidate_words
from adaptlab.organism.tokenizer import build_organism_tokenizer
from adaptlab.organism.worlds import PRETRAIN_SEED_BASE, SEPARATOR, copy_sequence, draw_world


def test_worlds_are_fresh_and_statements_follow_the_documents():
    rng = random.Random(0)
    worlds = [draw_world(rng, 1.0, all_statements=True) for _ in range(20)]
    assert len({w.context for w in worlds}) == 20
    for w in worlds:
        assert w.context and w.statements
    # statements talk about the world's own entities
    w = worlds[0]
    words = set(w.context.replace(".", " ").replace(",", " ").replace("?", " ").replace(":", " ").split())
    assert any(tok in words for tok in w.statements.split())


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
    ids = tok(w.context + SEPARATOR + w.statements)["input_ids"]
    assert tok.unk_token_id not in ids
    assert "\n\n" in tok.decode(ids, skip_special_tokens=True)
    copied = copy_sequence(random.Random(3), candidate_words()[:50])
    assert copied.context == copied.statements


def test_organism_train_command_runs(tmp_path: Path, cli):
    code, _, err = cli("organism", "train", "--out", tmp_path / "org", "--steps", "3", "--threads", "1")
    assert code == 0, err
    assert (tmp_path / "org" / "model.safetensors").exists() and (tmp_path / "org" / "training.json").exists()
    assert (tmp_path / "org" / "adaptlab.json").exists()
