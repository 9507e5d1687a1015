"""The organism's pretraining stream: random synthetic worlds drawn from the dataset generators.

Each sequence is one small world — the training documents of a fresh draw of `simple-reversals` or
`simple-syllogisms` (new nonsense words every time) — followed by statements that follow from it: its test
statements written out (the question prompt with its correct choice: reversals, restatements, syllogism
conclusions, premises) and its oracle inferences. Documents and statements are separated by a blank line, exactly
as an ICL prompt joins documents and the question (`context + "\\n\\n" + prompt`). Only the statements carry loss:
their words can only be predicted by reading the world in context, so the organism learns to infer in context,
and no fact of any evaluation world is in its pretraining data (the worlds' seeds start at 10^6; evaluation
worlds use small seeds).

A curriculum grows the worlds from 2 facts to the evaluation size over the first part of training. A share of
the sequences are a plain copying task (a list of random lexicon words, then the same list again): it makes the
model form induction heads — attend to the earlier occurrence of a token and copy what followed it — within a few
hundred steps, the mechanism in-context retrieval is built from (Olsson et al. 2022).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from adaptlab.data import simple_reversals, simple_syllogisms
from adaptlab.data.records import Generated

SEPARATOR = "\n\n"
PRETRAIN_SEED_BASE = 1_000_000


@dataclass(frozen=True)
class Sequence:
    context: str  # the world's documents (no loss)
    statements: str  # what follows from them (loss)


def _statements(g: Generated, rng: random.Random, limit: int) -> list[str]:
    stated = [q.prompt + " " + q.choices[q.answer] for q in g.questions]
    stated += [d.text for d in g.oracle]
    rng.shuffle(stated)
    return stated[:limit]


# The largest worlds of the stream, which are also the evaluation worlds the organism is sized for.
MAX_FACTS = 10  # simple-reversals facts (1 article each)
MAX_SYLLOGISMS = 8  # simple-syllogisms examples


def copy_sequence(rng: random.Random, words: tuple[str, ...]) -> Sequence:
    """A list of random words, then the same list again: only copying from context predicts the second half."""
    listed = " ".join(rng.sample(words, rng.randint(4, 24)))
    return Sequence(listed, listed)


def draw_world(rng: random.Random, size: float, all_statements: bool = False) -> Sequence:
    """One world; `size` in (0, 1] scales the number of facts from tiny to the evaluation size."""
    seed = rng.randrange(PRETRAIN_SEED_BASE, 2**31)
    if rng.random() < 0.5:
        n_facts = 2 * rng.randint(1, max(1, round(MAX_FACTS // 2 * size)))
        g = simple_reversals.generate(seed, n_facts=n_facts, articles_per_fact=1)
    else:
        g = simple_syllogisms.generate(seed, n_examples=rng.randint(1, max(1, round(MAX_SYLLOGISMS * size))))
    docs = [d.text for d in g.documents]
    limit = 10**6 if all_statements else rng.randint(2, 8)
    return Sequence(SEPARATOR.join(docs), SEPARATOR.join(_statements(g, rng, limit)))


def vocabulary_corpus(n_worlds: int = 300, seed: int = 0) -> list[str]:
    """Text covering every template word of the generators (the lexicon is added separately)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_worlds):
        w = draw_world(rng, 1.0)
        out.append(w.context + SEPARATOR + w.statements)
    return out
