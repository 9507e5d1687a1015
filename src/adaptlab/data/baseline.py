"""A surface-cue baseline that never reads meaning: it picks the choice whose words and n-grams are most
frequent in the training documents. A well-built dataset keeps it at chance on every split; if it does better
(or worse), the choices leak the answer through frequency alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from adaptlab.data.records import Dataset

TOKEN = re.compile(r"[a-z0-9]+")


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
