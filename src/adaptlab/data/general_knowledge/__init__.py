"""A general-knowledge multiple-choice set and a held-out general text: what a real model already knew.

The retention evaluation (`adaptlab.retention`) asks an adapted model these questions, with nothing in context, and
measures its loss on the held-out text, so that what adaptation cost the model is measured beside what it gained.

- `facts.txt`: about three hundred well-known facts written for adaptlab from school knowledge — capitals, chemical
  symbols, authors, painters, composers, continents, official languages, currencies, SI units, animal classes and
  planets — one per line as `category | subject | answer`.
- Each fact is a 4-way question: the prompt is the category's template ("The capital of France is"), the choices the
  answer and three other answers of the same category (so no choice is ruled out by its kind), drawn with a fixed
  seed; answer positions are spread exactly evenly over the four positions (a scorer preferring a position gets 1/4).
- `heldout.txt`: about a thousand words of plain encyclopedic prose (the water cycle, printing, photosynthesis,
  bridges, the heart, maps, bread, volcanoes) written for adaptlab and used nowhere in training: its loss in nats per
  token before and after adaptation shows what fine-tuning did to the model's language in general.

Neither is about the nonsense worlds adaptlab's generators draw, so no adaptation teaches them.
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources

from adaptlab.data.people import balanced_positions
from adaptlab.data.records import Dataset, Question

NAME = "general-knowledge"
SPLIT = "retention"
N_CHOICES = 4
TEMPLATES = {
    "capital": "The capital of {} is",
    "symbol": "The chemical symbol for {} is",
    "author": "{} was written by",
    "painter": "{} was painted by",
    "composer": "{} was composed by",
    "continent": "{} is a country in",
    "language": "The official language of {} is",
    "currency": "The currency of {} is the",
    "unit": "The SI unit of {} is the",
    "animal": "{} is classified as a kind of",
    "planet": "{} is",
}


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def facts() -> list[tuple[str, str, str]]:
    """(category, subject, answer) for every fact in `facts.txt`, in file order."""
    out = []
    for line in _text("facts.txt").splitlines():
        if line.strip() and not line.startswith("#"):
            category, subject, answer = (part.strip() for part in line.split("|"))
            out.append((category, subject, answer))
    return out


@cache
def questions(split: str = SPLIT) -> tuple[Question, ...]:
    """The set as 4-way questions (ids `gk-<category>-NNN`), all in one split."""
    rng = random.Random(NAME)
    rows = facts()
    positions = balanced_positions(rng, len(rows), N_CHOICES)
    answers: dict[str, list[str]] = {}
    for category, _, answer in rows:
        answers.setdefault(category, [])
        if answer not in answers[category]:
            answers[category].append(answer)
    out: list[Question] = []
    counts: dict[str, int] = {}
    for (category, subject, answer), at in zip(rows, positions, strict=True):
        others = rng.sample([a for a in answers[category] if a != answer], N_CHOICES - 1)
        choices = [*others[:at], answer, *others[at:]]
        prompt = TEMPLATES[category].format(subject)
        number = counts[category] = counts.get(category, -1) + 1
        out.append(Question(id=f"gk-{category}-{number:03d}", prompt=prompt[0].upper() + prompt[1:],
                            choices=choices, answer=at, split=split))
    return tuple(out)


def category(question: Question) -> str:
    """The category of one of the set's questions (from its id)."""
    return question.id.split("-")[1]


def dataset() -> Dataset:
    """The set as a dataset with no documents (knowledge the model is expected to have already)."""
    return Dataset(name=NAME, documents=[], questions=list(questions()))


def heldout_paragraphs() -> list[str]:
    """The held-out text, one paragraph per item."""
    return [p.strip() for p in _text("heldout.txt").split("\n\n") if p.strip()]
