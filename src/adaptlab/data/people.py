"""People and their questions: the worlds of the reversal-curse datasets, and the 4-way questions built from them.

A world is a set of people (a two-word name and a description each) in groups: `p2d` (facts only ever written
name first), `both` (both orders) and `d2p` (description first). `reversal-curse` reads one world from Berglund et
al.'s files; `celebrities` draws a fresh one per seed. Both build their questions here, the same way:
- `reversal`: a p2d person's description first, choose the name;
- `both_reversal`: the same for the both group (a control: that direction was trained);
- `rephrase`: a p2d person's name first, choose the description (the trained direction, held-out wording).

Distractors: `distractors="group"` (default) takes the wrong names from the key's own group, so every candidate was
trained as often and in the same role as the key; `distractors="trained"` takes any other trained name (a stress
test, not frequency-matched).

Closed blocks (`closed_choice_sets`): the questions of a split are grouped into blocks of four questions with four
different keys that are all asked with the same four candidates. Any rule that scores the choices without reading
the prompt picks the same candidate in all four questions of a block and is right exactly once. `rephrase` forms
its blocks within one wording (its candidate descriptions must be worded alike). Questions left over get random
distractors. The answer position is an exactly balanced shuffled list (`balanced_positions`).

Open questions (`build_open_questions`): the same splits and prompts with no choices, in Berglund et al.'s own
free-form protocol: the model continues the prompt and the reference answer is the test record's completion
stripped (the name for `reversal` and `both_reversal`, the description in the held-out wording for `rephrase`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from adaptlab.data.records import Document, Question
from adaptlab.errors import AdaptlabError

N_CHOICES = 4
DISTRACTOR_POOLS = ("group", "trained")
QUESTION_FORMATS = ("choice", "open")


@dataclass(frozen=True)
class Person:
    id: str  # the fact id, e.g. "p2d-07"
    group: str  # "p2d", "both" or "d2p"
    name: str


@dataclass(frozen=True)
class Item:
    """One test prompt; its key is `person`. `wording` groups rephrase items whose candidate texts share a wording."""

    person: str
    prompt: str
    wording: str = ""


@dataclass
class World:
    people: dict[str, Person]
    documents: list[Document]
    reversal: list[Item]
    both_reversal: list[Item]
    rephrase: list[Item]
    # (person id, wording) -> that person's description as a `rephrase` choice in that wording
    descriptions: dict[tuple[str, str], str]
    oracle: list[Document] = field(default_factory=list)

    def group(self, name: str) -> list[str]:
        return [p.id for p in self.people.values() if p.group == name]


def balanced_positions(rng: random.Random, n: int, n_choices: int = N_CHOICES) -> list[int]:
    """Answer positions spread exactly evenly (up to n % n_choices), in a seeded random order."""
    positions = [i % n_choices for i in range(n)]
    rng.shuffle(positions)
    return positions


def closed_choice_sets(keys: list[str], pool: list[str], rng: random.Random, k: int = N_CHOICES) -> list[list[str]]:
    """For each question (given by its key), the k candidates it is asked with, its key included.

    Questions are grouped into blocks of k questions with k different keys, all asked with the same k candidates
    (the block's keys), so a scorer that ignores the prompt is right on exactly one question per block. Blocks are
    formed greedily from the keys with the most questions left (random among ties), which uses up every question
    when the count is a multiple of k and there are at least k keys. Questions left over get k - 1 random other
    candidates from `pool`.
    """
    if len(set(pool)) < k:
        raise AdaptlabError(f"needs at least {k} people per group for {k}-way questions, got {len(set(pool))}")
    left: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        left.setdefault(key, []).append(i)
    for indices in left.values():
        rng.shuffle(indices)
    sets: list[list[str]] = [[] for _ in keys]
    while True:
        live = [key for key, indices in left.items() if indices]
        if len(live) < k:
            break
        tiebreak = {key: rng.random() for key in live}
        block = sorted(live, key=lambda key: (-len(left[key]), tiebreak[key]))[:k]
        for key in block:
            sets[left[key].pop()] = list(block)
    for key, indices in left.items():
        others = [p for p in dict.fromkeys(pool) if p != key]
        for i in indices:
            sets[i] = [key, *rng.sample(others, k - 1)]
    return sets


def random_choice_sets(keys: list[str], pool: list[str], rng: random.Random, k: int = N_CHOICES) -> list[list[str]]:
    """For each key, the key and k - 1 other candidates drawn at random from `pool`."""
    out = []
    for key in keys:
        others = [p for p in dict.fromkeys(pool) if p != key]
        if len(others) < k - 1:
            raise AdaptlabError(f"needs at least {k} people in the distractor pool, got {len(others) + 1}")
        out.append([key, *rng.sample(others, k - 1)])
    return out


def make_questions(
    split: str,
    items: list[Item],
    sets: list[list[str]],
    text: Callable[[str, Item], str],
    rng: random.Random,
) -> list[Question]:
    """The questions of a split: each item asked with its candidates (`sets`, the key among them, shown as
    `text`), the answer at an exactly balanced position (`balanced_positions`)."""
    questions = []
    for i, (item, candidates, at) in enumerate(zip(items, sets, balanced_positions(rng, len(items)), strict=True)):
        others = [c for c in candidates if c != item.person]
        rng.shuffle(others)
        order = [*others[:at], item.person, *others[at:]]
        choices = [text(c, item) for c in order]
        if len(set(choices)) < len(choices):
            raise AdaptlabError(f"two candidates of {split} question {i} read the same: {choices}")
        questions.append(
            Question(
                id=f"{split}-{i:03d}",
                prompt=item.prompt,
                choices=choices,
                answer=at,
                split=split,
                source_fact_ids=[item.person],
            )
        )
    return questions


def build_questions(world: World, rng: random.Random, distractors: str = "group") -> list[Question]:
    """The three splits of a world: `reversal`, `both_reversal` and `rephrase` (see the module docstring)."""
    if distractors not in DISTRACTOR_POOLS:
        raise AdaptlabError(f"distractors must be one of {', '.join(DISTRACTOR_POOLS)}, got {distractors!r}")
    trained = sorted({pid for doc in world.documents for pid in doc.source_fact_ids})

    def name(pid: str, item: Item) -> str:
        return world.people[pid].name

    def description(pid: str, item: Item) -> str:
        return world.descriptions[(pid, item.wording)]

    questions: list[Question] = []
    for split, items, group in (("reversal", world.reversal, "p2d"), ("both_reversal", world.both_reversal, "both")):
        keys = [item.person for item in items]
        if distractors == "group":
            sets = closed_choice_sets(keys, world.group(group), rng)
        else:
            sets = random_choice_sets(keys, trained, rng)
        questions += make_questions(split, items, sets, name, rng)

    # rephrase: blocks within one wording (candidates must be worded alike), then back in item order
    sets_by_index: dict[int, list[str]] = {}
    for wording in dict.fromkeys(item.wording for item in world.rephrase):
        indices = [i for i, item in enumerate(world.rephrase) if item.wording == wording]
        pool = [pid for pid in world.group("p2d") if (pid, wording) in world.descriptions]
        keys = [world.rephrase[i].person for i in indices]
        for i, candidates in zip(indices, closed_choice_sets(keys, pool, rng), strict=True):
            sets_by_index[i] = candidates
    sets = [sets_by_index[i] for i in range(len(world.rephrase))]
    questions += make_questions("rephrase", world.rephrase, sets, description, rng)
    return questions


def build_open_questions(world: World) -> list[Question]:
    """The three splits of a world as open questions: each item's prompt, its reference the key's name
    (`reversal`, `both_reversal`) or the key's description in the item's wording (`rephrase`)."""
    questions: list[Question] = []
    for split, items in (("reversal", world.reversal), ("both_reversal", world.both_reversal)):
        questions += [
            Question(id=f"{split}-{i:03d}", prompt=item.prompt, answers=[world.people[item.person].name],
                     split=split, source_fact_ids=[item.person])
            for i, item in enumerate(items)
        ]
    questions += [
        Question(id=f"rephrase-{i:03d}", prompt=item.prompt, answers=[world.descriptions[(item.person, item.wording)]],
                 split="rephrase", source_fact_ids=[item.person])
        for i, item in enumerate(world.rephrase)
    ]
    return questions
