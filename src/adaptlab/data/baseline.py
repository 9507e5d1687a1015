"""Baselines that never read meaning. A well-built dataset keeps each at chance on every split; if one does better
(or worse), the choices give the answer away without any knowledge:
- `surface_baseline`: the choice whose words and n-grams are most frequent in the training documents;
- `choice_frequency_baseline`: the choice shown most often across the split's questions;
- `form_baseline`: the best fixed liking for a form of answer ("All _1 are _2", "more careful than _"), the way a
  model that prefers some wording regardless of the facts would score.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from adaptlab.data.records import Dataset, Question

TOKEN = re.compile(r"[a-z0-9]+")
WORD = re.compile(r"\w+|[^\w\s]+")


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@dataclass(frozen=True)
class SplitScore:
    split: str
    accuracy: float
    stderr: float
    chance: float
    n: int
    detail: str = ""  # what the baseline chose, where that says more than the number (the form it prefers)

    @property
    def at_chance(self) -> bool:
        """Within two standard errors (of the chance rate) of chance."""
        se = math.sqrt(self.chance * (1 - self.chance) / self.n)
        return abs(self.accuracy - self.chance) <= 2 * se


def surface_baseline(dataset: Dataset, max_n: int = 3) -> list[SplitScore]:
    """Accuracy per split of the n-gram-frequency baseline (a tie counts as the expected outcome of a coin)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for doc in dataset.documents:
        toks = _tokens(doc.text)
        for n in range(1, max_n + 1):
            counts.update(_ngrams(toks, n))
    results = []
    for split in dataset.splits:
        questions = dataset.split(split)
        correct = 0
        for q in questions:
            scores = []
            for choice in q.choices:
                toks = _tokens(choice)
                grams = [g for n in range(1, max_n + 1) for g in _ngrams(toks, n)]
                scores.append(sum(math.log1p(counts[g]) for g in grams) / max(len(grams), 1))
            best = max(scores)
            tied = [i for i, s in enumerate(scores) if s == best]
            # A tie is broken at random: count the expected outcome of that coin (exact, with no coin noise).
            correct += (q.answer in tied) / len(tied)
        acc = correct / len(questions)
        chance = dataset.chance(split)
        results.append(SplitScore(split, acc, math.sqrt(acc * (1 - acc) / len(questions)), chance, len(questions)))
    return results


def choice_frequency_baseline(dataset: Dataset) -> list[SplitScore]:
    """A baseline that looks only at the test questions, never at their meaning: it picks the choice shown most
    often across its split's questions. It beats chance when the same words keep being the answer — which a model
    with a fixed liking for those words would exploit without knowing anything."""
    out = []
    for split in dataset.splits:
        questions = dataset.split(split)
        shown = Counter(c for q in questions for c in q.choices)
        total = 0.0
        for q in questions:
            scores = [shown[c] for c in q.choices]
            best = max(scores)
            tied = [i for i, v in enumerate(scores) if v == best]
            total += (q.answer in tied) / len(tied)
        acc = total / len(questions)
        out.append(SplitScore(split, acc, math.sqrt(acc * (1 - acc) / len(questions)), dataset.chance(split),
                              len(questions)))
    return out


def _entity(word: str, first: bool, nonsense: frozenset[str]) -> bool:
    return word.lower() in nonsense or (not first and word[:1].isupper())


def choice_forms(question: Question) -> list[str]:
    """Each choice reduced to its form: every entity word (a nonsense word of the lexicon, or a capitalised word
    that does not start the choice: a name) replaced by its place among the entity words of the prompt ("_1" for
    the first the prompt names, …) or by "_" when the prompt does not name it. "All glon are yomp" asked about
    "yomp and glon" is "All _2 are _1"; "less careful than femp" after "It is true that glon are" is
    "less careful than _"."""
    from adaptlab.data.lexicon import candidate_words

    nonsense = frozenset(candidate_words())
    named: dict[str, int] = {}
    for i, word in enumerate(WORD.findall(question.prompt)):
        if _entity(word, i == 0, nonsense):
            named.setdefault(word, len(named) + 1)
    out = []
    for choice in question.choices:
        words = WORD.findall(choice)
        out.append(" ".join(
            (f"_{named[w]}" if w in named else "_") if _entity(w, i == 0, nonsense) else w for i, w in enumerate(words)
        ))
    return out


def form_baseline(dataset: Dataset) -> list[SplitScore]:
    """Per split, the best fixed preference for one form of answer: for each form seen in the split, the accuracy
    of picking a choice of that form wherever one is shown (at random among several) and a random choice elsewhere
    (expected values, no coin noise); the best of them is reported, with the form in `detail`. Any model that
    prefers a wording regardless of the facts scores at most about this; a split where it beats chance can be
    solved from the form of the answers alone."""
    out = []
    for split in dataset.splits:
        questions = dataset.split(split)
        forms = [choice_forms(q) for q in questions]
        candidates = sorted({f for fs in forms for f in fs})
        best, best_form = -1.0, ""
        for form in candidates:
            total = 0.0
            for q, fs in zip(questions, forms, strict=True):
                shown = fs.count(form)
                total += (fs[q.answer] == form) / shown if shown else 1 / len(q.choices)
            if total > best:
                best, best_form = total, form
        acc = best / len(questions)
        out.append(SplitScore(split, acc, math.sqrt(acc * (1 - acc) / len(questions)), dataset.chance(split),
                              len(questions), best_form))
    return out
