"""Grading a free-form answer against reference answers, as SQuAD's official script does (and lm-evaluation-harness,
SEAL and Berglund et al.'s reversal-curse protocol after it).

Both texts are normalised — lower case, punctuation and the articles "a", "an", "the" removed, whitespace collapsed —
then:
- `exact_match`: 1 when the normalised answer equals a normalised reference;
- `f1`: the harmonic mean of precision and recall of the answer's tokens against a reference's (bags of words);
- `contains`: 1 when a normalised reference appears in the normalised answer (a model that says more than the
  answer, "The answer is Paris.", still gets credit).
Each takes the best over the references.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = str.maketrans("", "", string.punctuation)
OPEN_METRICS = ("exact_match", "f1", "contains")


def normalise(text: str) -> str:
    """SQuAD's `normalize_answer`: lower case, no punctuation, no articles, single spaces."""
    return " ".join(ARTICLES.sub(" ", text.lower().translate(PUNCTUATION)).split())


def exact_match(answer: str, references: Sequence[str]) -> float:
    norm = normalise(answer)
    return float(any(norm == normalise(r) for r in references))


def _f1(answer: str, reference: str) -> float:
    a, r = normalise(answer).split(), normalise(reference).split()
    if not a or not r:
        return float(a == r)
    common = sum((Counter(a) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def f1(answer: str, references: Sequence[str]) -> float:
    return max(_f1(answer, r) for r in references)


def contains(answer: str, references: Sequence[str]) -> float:
    norm = f" {normalise(answer)} "
    return float(any(normalise(r) and f" {normalise(r)} " in norm for r in references))


def grade(answer: str, references: Sequence[str]) -> dict[str, float]:
    """Every open-question metric of one answer: {"exact_match": .., "f1": .., "contains": ..}."""
    return {"exact_match": exact_match(answer, references), "f1": f1(answer, references),
            "contains": contains(answer, references)}
