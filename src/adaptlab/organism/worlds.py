"""The organism's pretraining stream: random synthetic worlds drawn from the dataset generators.

Each sequence is one small world — the training documents of a fresh draw of `simple-reversals` or
`simple-syllogisms` (new nonsense words every time) — followed by statements that follow from it, in random order:
- its test questions answered: the prompt, then the correct choice ("It is true that glon are" + "less dangerous
  than femp"; reversals, restatements, syllogism conclusions, premises). Only the answer carries loss, so the
  training signal sits where in-context inference is needed, and the organism is trained for exactly what
  evaluation asks: the likelihood of a choice after the documents and the prompt;
- its oracle inferences (the reversed facts in their articles, the conclusions in the training wording), with
  loss on the whole sentence: they teach the organism to *write* what follows from a context, which is how it
  produces its own augmentations (augmentation by continuation, training/augment.py).
Documents and statements are separated by a blank line, exactly as an ICL prompt joins documents and the question
(`context + "\\n\\n" + prompt`). Every word worth predicting can only be predicted by reading the world in
context, so the organism learns to infer in context, and no fact of any evaluation world is in its pretraining
data (the worlds' seeds start at 10^6; evaluation worlds use small seeds, and their facts are drawn afresh).

A curriculum grows the worlds from 2 facts to the evaluation size over the first part of training. A share of
the sequences are a plain copying task (a list of random lexicon words, then the same list again): it makes the
model form induction heads — attend to the earlier occurrence of a token and copy what followed it — the
mechanism in-context retrieval is built from (Olsson et al. 2022). Another share is associative recall (pairs of
words, then keys asked in another order): retrieval keyed by a whole multi-piece word, as answering about an
entity needs, with every answer a training target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from adaptlab.data import simple_reversals, simple_syllogisms
from adaptlab.data.records import Generated

SEPARATOR = "\n\n"
PRETRAIN_SEED_BASE = 1_000_000

# The largest worlds of the stream, which are also the evaluation worlds the organism is sized for.
MAX_FACTS = 10  # simple-reversals facts (1 article each)
MAX_SYLLOGISMS = 8  # simple-syllogisms examples


@dataclass(frozen=True)
class Statement:
    given: str  # no loss: the question prompt ("" for an oracle sentence)
    target: str  # loss: what follows


@dataclass(frozen=True)
class Sequence:
    context: str  # the world's documents (no loss)
    statements: tuple[Statement, ...]  # what follows from them, separated by blank lines

    @property
    def text(self) -> str:
        return self.context + SEPARATOR + SEPARATOR.join(join(s) for s in self.statements)


def join(s: Statement) -> str:
    return f"{s.given} {s.target}" if s.given else s.target


def _statements(g: Generated, rng: random.Random, oracle_last: bool = False,
                oracle_only: bool = False) -> list[Statement]:
    """The world's questions answered and its oracle sentences, in random order; with `oracle_last` all questions
    come first, so that no question can be answered by looking up an oracle sentence written before it (a reversal
    would otherwise be found by its subject in the reversed sentence, the lookup rephrase already needs).
    `oracle_only`: the oracle sentences alone, so the first statement after the documents is one the model learns
    to write (with `oracle_last` it is otherwise always a question prompt, which carries no loss, and the
    organism's continuations of a bare context — its own augmentations — start with garbage)."""
    oracle = [Statement("", d.text) for d in g.oracle]
    if oracle_only:
        rng.shuffle(oracle)
        return oracle
    questions = [Statement(q.prompt, q.choices[q.answer]) for q in g.questions]
    if oracle_last:
        rng.shuffle(questions)
        rng.shuffle(oracle)
        return questions + oracle
    stated = questions + oracle
    rng.shuffle(stated)
    return stated


def copy_sequence(rng: random.Random, words: tuple[str, ...], filler: str = "") -> Sequence:
    """A list of random words, then the same list again: only copying from context predicts the second half.
    With a `filler` between the words ("w1 are w2 are …") the next word is found by the word *before* the
    current token, the lookup that answering "glon are …" needs."""
    listed = (f" {filler} " if filler else " ").join(rng.sample(words, rng.randint(4, 24)))
    return Sequence(listed, (Statement("", listed),))


def recall_sequence(rng: random.Random, words: tuple[str, ...], connector: str = "", ask_all: bool = False,
                    reverse: bool = False) -> Sequence:
    """Associative recall: pairs "key value" of random words (a value is a word or a comparative), then keys
    asked again in another order, each followed by its value. Unlike plain copying, the value can only be found by
    matching the whole key, which is what answering about an entity needs. `reverse` asks the other way round (the
    value, then its key: the lookup of a word by what *follows* it, as a reversal's object needs)."""
    n = rng.randint(2, 12)
    keys = rng.sample(words, n)
    values = [rng.choice(words) if rng.random() < 0.5
              else f"{rng.choice(simple_reversals.COMPARATIVES)} {rng.choice(simple_reversals.FEATURES)}"
              for _ in keys]
    asked = rng.sample(range(n), n if ask_all else rng.randint(1, n))
    if connector:  # "k are v": the value sits behind a template word, as a fact's predicate does
        keys = [f"{k} {connector}" for k in keys]
    listed = " , ".join(f"{k} {v}" for k, v in zip(keys, values, strict=True))
    if reverse:
        return Sequence(listed, tuple(Statement(values[i], keys[i]) for i in asked))
    return Sequence(listed, tuple(Statement(keys[i], values[i]) for i in asked))


def draw_world(rng: random.Random, size: float, oracle_last: bool = False, oracle_only: bool = False,
               max_facts: int = MAX_FACTS, max_syllogisms: int = MAX_SYLLOGISMS, max_articles: int = 1) -> Sequence:
    """One world; `size` in (0, 1] scales the number of facts from tiny to the largest (`max_facts` facts told in
    1 to `max_articles` articles each, or `max_syllogisms` syllogism examples)."""
    seed = rng.randrange(PRETRAIN_SEED_BASE, 2**31)
    if rng.random() < 0.5:
        n_facts = 2 * rng.randint(1, max(1, round(max_facts // 2 * size)))
        articles = rng.randint(1, max_articles) if max_articles > 1 else 1  # no draw by default: streams stay the same
        g = simple_reversals.generate(seed, n_facts=n_facts, articles_per_fact=articles)
    else:
        g = simple_syllogisms.generate(seed, n_examples=rng.randint(1, max(1, round(max_syllogisms * size))))
    return Sequence(SEPARATOR.join(d.text for d in g.documents), tuple(_statements(g, rng, oracle_last, oracle_only)))


def vocabulary_corpus(n_worlds: int = 300, seed: int = 0) -> list[str]:
    """Text covering every template word of the generators (the lexicon is added separately)."""
    rng = random.Random(seed)
    return [draw_world(rng, 1.0).text for _ in range(n_worlds)]
