"""Probes of the organism during and after pretraining, on held-out worlds: in-context multiple choice through
the real evaluation code (`probe`), next-token accuracy on a copying task (`copy_accuracy`), and whether it writes
a fact's reversal after the fact's document (`writes_reversals`, what its own augmentations need)."""

from __future__ import annotations

import random
from typing import Any

import torch

from adaptlab.models.transformers_backend import TransformersModel
from adaptlab.organism.batches import encode_batch
from adaptlab.organism.worlds import MAX_FACTS, MAX_SYLLOGISMS, SEPARATOR, copy_sequence

# The probe's worlds: apart from the pretraining stream (seeds ≥ 10^6) and from the small seeds that runs and the
# demo evaluate on, so that choosing a recipe by its curves does not choose it on the demo's questions.
PROBE_SEED = 10_000


def copy_accuracy(model: Any, tokenizer: Any, n: int = 16, seed: int = 0) -> float:
    """Next-token accuracy on the second half of held-out copying sequences: is copying from context learned?"""
    from adaptlab.data.lexicon import candidate_words

    rng = random.Random(f"copy-probe-{seed}")
    batch = encode_batch(tokenizer, [copy_sequence(rng, candidate_words()) for _ in range(n)], 10**6)
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    return float((logits[:, :-1].argmax(-1)[keep] == targets[keep]).float().mean())


def probe(model: Any, tokenizer: Any, worlds: int, seed: int = PROBE_SEED) -> dict[str, float]:
    """ICL accuracy per split on `worlds` held-out worlds of each dataset (seeds `seed`, `seed` + 1, …), through
    the real evaluation path."""
    from adaptlab.data import simple_reversals, simple_syllogisms
    from adaptlab.evaluate import predict
    from adaptlab.models.base import ScoreRequest

    lm = TransformersModel(model, tokenizer, name="organism")
    out: dict[str, list[bool]] = {}
    for w in range(worlds):
        for g in (simple_reversals.generate(seed + w, n_facts=MAX_FACTS, articles_per_fact=1),
                  simple_syllogisms.generate(seed + w, n_examples=MAX_SYLLOGISMS)):
            context = SEPARATOR.join(d.text for d in g.documents)
            reqs = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in g.questions]
            scores, _ = lm.score(reqs)
            for q, s in zip(g.questions, scores, strict=True):
                out.setdefault(q.split, []).append(predict(s) == q.answer)
    return {split: sum(v) / len(v) for split, v in out.items()}


def writes_reversals(model: Any, tokenizer: Any, seed: int = PROBE_SEED, n_facts: int = MAX_FACTS) -> float:
    """Share of held-out facts for which the organism, given the fact's document alone, writes its reversal first
    (greedy): what its own augmentations (`aug-ft`, training/augment.py) need."""
    from adaptlab.data import simple_reversals
    from adaptlab.training.augment import local_requests, normal_form

    # the prompts augmentation gives a model that continues a context: the document alone
    lm = TransformersModel(model, tokenizer, name="organism", meta={"augmentation": "continue"})
    g = simple_reversals.generate(seed, n_facts=n_facts, articles_per_fact=1)
    reversal = {o.source_fact_ids[0]: normal_form(o.text) for o in g.oracle}  # one article per fact: one reversal each
    texts, _ = lm.generate_requests(local_requests(lm, [d.text for d in g.documents]), max_new_tokens=32,
                                    stop=(SEPARATOR,))
    hits = sum(normal_form(t) == reversal[d.source_fact_ids[0]] for d, t in zip(g.documents, texts, strict=True))
    return hits / len(g.documents)
