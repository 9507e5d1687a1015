"""Simple syllogisms: two premises over three nonsense terms; tested on the relation between the two end terms.

Lampinen et al. 2025, §"Simple syllogisms" (from the syllogism data of Lampinen et al. 2024b): 69 training examples,
each a context naming three entities plus two premises, e.g. "The relationships between glon, troff and yomp are:
All glon are yomp. All troff are glon." The test names the two end terms ("The relationships between yomp and
troff are:") and scores candidate statements about them (chance 1/6).

Splits
- `syllogism` (n_examples questions): the paper's test, one per example, about its two end terms.
- `premise` (n_examples questions): the same kind of question about the two terms of one premise of the example,
  the one with the conclusion's quantifier (so that its keys are balanced like the syllogisms', below). It checks
  that the premises were learned (and can be restated in the question's wording). The paper has no such split.

Oracle: for every example, every statement about two of its terms that follows from its premises (the conclusion,
the converses of symmetric premises and conclusions), in the training wording and in the question wording, leaving
out sentences that are already in the training text. For the paper's wording the two are the same.

Choices the paper leaves open (or that we changed), and why
- Options and forms (`options`, default "six"). Every question shows the same six statements about its two terms,
  one of each shape: All X are Y, All Y are X, Some X are not Y, Some Y are not X, Some X are Y, No X are Y (the
  symmetric Some and No in a direction balanced across questions: "Some X are Y" and "Some Y are X" say the same,
  so showing both would make two options true). Exactly one follows from the premises (read without existential
  import), and the key is each of the six shapes equally often: All and Some…not conclusions a third of the
  questions each, Some and No a sixth each. That is what keeps a model with a fixed liking for a form at chance:
  a model that always prefers "All" picks one of the two All options and is right in 1/3 × 1/2 = 1/6 of the
  questions, exactly like one that always prefers "Some" (1/6 × 1). Equal shares of the four moods cannot do
  that with six options and one valid answer (a model preferring Some would get 1/4). The forms:
  AA->A (Barbara: "All S are M. All M are P." -> All S are P), AO->O (Baroco: "All P are M. Some S are not M." ->
  Some S are not P), OA->O (Bocardo: "Some M are not P. All M are S." -> Some S are not P), AI->I (Darii family:
  "All M are S. Some M are P." -> Some S are P) and AE->E (Celarent family: "All S are M. No M are P." -> No S are P),
  in the proportions 2 : 1 : 1 : 1 : 1. The key's direction relative to the question's heading, and the direction
  a symmetric option is shown in, are balanced too, so no fixed preference for a form read with its terms'
  positions ("All <first term> are <second term>") helps either (`baseline.form_baseline` checks it on every
  split). `options="four"` is the smaller variant: All X are Y, All Y are X, Some, No (chance 1/4; the forms
  AA->A, AI->I, AE->E in the proportions 2 : 1 : 1).
  A symmetric premise is written in a random direction. Premise order and the order of the terms in the heading
  are random. The answer is not keyed by hand: it is the option that holds in every set model of the premises
  (a brute-force check over the 7 Venn regions of three terms), and generation asserts that there is exactly one.
- Premise wording (the one real departure; `premise_style`). With the paper's wording ("plural": "All glon are
  yomp.") the training text gives the answer away to an n-gram counter. In AA->A, for example, "all S", "S are"
  and "are P" are all training bigrams, so the counter prefers "All S are P", which is the answer. This is the
  "associative pattern" through which the paper's fine-tuned model beat chance on some forms. No balancing can
  remove it while each example has its own three terms: an end term sits in one premise, in one position, under
  one quantifier, and the premises fix the answer. So by default ("singular") the premises are written in a
  different wording that shares no n-gram with any option except the terms themselves: "Every glon is a yomp." /
  "At least one glon is a yomp." / "A glon is never a yomp." / "At least one glon isn't a yomp.". Options and
  questions keep the paper's plural wording, "All troff are yomp", "Some troff are not yomp". Training text never
  contains "all", "some", "no", "not" or "X are"/"are X". Both end terms appear equally often (once in the heading,
  once in a premise). So an n-gram counter scores each option by its terms (the same for every option) and its
  length: it prefers the four-word options to the five-word Some…not ones, a fixed preference for a form, which
  the balance above keeps at chance. Nonsense nouns do not change form between singular and plural ("a yomp",
  "yomp are"), like "sheep".
- Heading: "Here are the relationships between glon, troff and yomp:" rather than the paper's "… glon, troff and
  yomp are:". In the paper's heading the last term is followed by "are", which would hand that term a bigram the
  options contain.
- Every example has three fresh nonsense words, so examples never share a term and never interact.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from adaptlab.data.lexicon import Lexicon
from adaptlab.data.records import Document, Generated, Question
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "simple-syllogisms"
VERSION = "2"
DESCRIPTION = """Two premises over three nonsense terms ("Every glon is a yomp. Every troff is a glon."); tested on \
the relation between the end terms (6-way choice: "All X are Y" and "Some X are not Y" both ways, Some, No; keys \
balanced so that no preference for a form beats chance).
Splits: syllogism (the paper's test), premise (one premise restated, a learning check). Oracle: every conclusion."""

ALL, SOME, NO, SOME_NOT = "all", "some", "no", "some_not"
SYMMETRIC = frozenset({SOME, NO})
# How statements are worded. "plural" is the paper's wording and always the wording of questions and options.
STYLES: dict[str, dict[str, str]] = {
    "singular": {ALL: "Every {x} is a {y}", SOME: "At least one {x} is a {y}", NO: "A {x} is never a {y}",
                 SOME_NOT: "At least one {x} isn't a {y}"},
    "plural": {ALL: "All {x} are {y}", SOME: "Some {x} are {y}", NO: "No {x} are {y}",
               SOME_NOT: "Some {x} are not {y}"},
}
QUESTION_STYLE = "plural"
HEADING = "Here are the relationships between {terms}:"

# The forms, with S, M, P for the subject, middle and predicate terms (see the module docstring).
FORMS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "AA-A": ((ALL, "S", "M"), (ALL, "M", "P")),
    "AE-E": ((ALL, "S", "M"), (NO, "M", "P")),
    "AI-I": ((ALL, "M", "S"), (SOME, "M", "P")),
    "AO-O": ((ALL, "P", "M"), (SOME_NOT, "S", "M")),
    "OA-O": ((SOME_NOT, "M", "P"), (ALL, "M", "S")),
}
# The option shapes of each option set: a quantifier, and whether the statement runs from the first term of the
# pair to the second (True), the other way (False), or, for a symmetric one, in a balanced direction (None).
SLOTS: dict[str, tuple[tuple[str, bool | None], ...]] = {
    "six": ((ALL, True), (ALL, False), (SOME_NOT, True), (SOME_NOT, False), (SOME, None), (NO, None)),
    "four": ((ALL, True), (ALL, False), (SOME, None), (NO, None)),
}
# One form per option shape, so that the key is each shape equally often (the All pair and the Some…not pair each
# cover two shapes; the key's direction is balanced separately).
FORM_CYCLE: dict[str, tuple[str, ...]] = {
    "six": ("AA-A", "AA-A", "AO-O", "OA-O", "AI-I", "AE-E"),
    "four": ("AA-A", "AA-A", "AI-I", "AE-E"),
}
OPTION_SETS = tuple(SLOTS)

Track = Callable[[Iterable[Any], str], Iterable[Any]]


@dataclass(frozen=True)
class Statement:
    quantifier: str
    x: str
    y: str

    def text(self, style: str) -> str:
        return STYLES[style][self.quantifier].format(x=self.x, y=self.y)

    def converse(self) -> Statement:
        return Statement(self.quantifier, self.y, self.x)


# --- semantics: a statement about terms is true in a model given by which Venn regions are non-empty ---

Canonical = tuple[str, int, int]  # (quantifier, x, y) with terms numbered by first appearance


def _holds(statement: Canonical, regions: list[frozenset[int]]) -> bool:
    """`regions`: the non-empty regions, each the set of terms its members belong to."""
    quantifier, x, y = statement
    if quantifier == ALL:
        return not any(x in r and y not in r for r in regions)
    if quantifier == SOME_NOT:
        return any(x in r and y not in r for r in regions)
    overlap = any(x in r and y in r for r in regions)
    return overlap if quantifier == SOME else not overlap


@cache
def _entails(premises: tuple[Canonical, ...], statement: Canonical) -> bool:
    n_terms = 1 + max(max(x, y) for _, x, y in (*premises, statement))
    all_regions = [frozenset(c) for k in range(1, n_terms + 1) for c in itertools.combinations(range(n_terms), k)]
    for mask in range(1 << len(all_regions)):
        regions = [r for i, r in enumerate(all_regions) if mask >> i & 1]
        if all(_holds(p, regions) for p in premises) and not _holds(statement, regions):
            return False
    return True


def entails(premises: list[Statement], statement: Statement) -> bool:
    """True when `statement` holds in every set model of `premises` (no existential import).

    Brute force over which Venn regions are empty; cached on the pattern of terms, so a world costs almost nothing.
    """
    numbers: dict[str, int] = {}

    def canonical(s: Statement) -> Canonical:
        return (s.quantifier, numbers.setdefault(s.x, len(numbers)), numbers.setdefault(s.y, len(numbers)))

    return _entails(tuple(canonical(p) for p in premises), canonical(statement))


# --- generation ---


@dataclass(frozen=True)
class Example:
    id: str
    form: str
    terms: tuple[str, str, str]  # S, M, P
    premises: tuple[Statement, Statement]  # in the order they are written
    heading_order: tuple[str, str, str]


class _Layouts:
    """Per kind of question, the layouts (which term the heading names first, the direction of each symmetric
    option) dealt from a shuffled deck of all their combinations, so that they come out even within each kind and
    independent of each other."""

    def __init__(self, rng: random.Random, n_symmetric: int):
        self.rng = rng
        self.combinations = list(itertools.product((False, True), repeat=1 + n_symmetric))
        self.decks: dict[Any, list[tuple[bool, ...]]] = {}

    def __call__(self, kind: Any) -> tuple[bool, ...]:
        deck = self.decks.setdefault(kind, [])
        if not deck:
            deck.extend(self.combinations)
            self.rng.shuffle(deck)
        return deck.pop()


def _oriented(rng: random.Random, statement: Statement) -> Statement:
    """A symmetric statement in a random direction (the same proposition)."""
    return statement.converse() if statement.quantifier in SYMMETRIC and rng.random() < 0.5 else statement


def _balanced(rng: random.Random, n: int, values: list[Any]) -> list[Any]:
    out = [values[i % len(values)] for i in range(n)]
    rng.shuffle(out)
    return out


def _draw_example(rng: random.Random, lexicon: Lexicon, index: int, form: str) -> Example:
    s, m, p = lexicon.take(3)
    names = {"S": s, "M": m, "P": p}
    premises = [_oriented(rng, Statement(q, names[a], names[b])) for q, a, b in FORMS[form]]
    rng.shuffle(premises)
    heading = [s, m, p]
    rng.shuffle(heading)
    return Example(
        f"fact-{index:03d}", form, (s, m, p), (premises[0], premises[1]), (heading[0], heading[1], heading[2])
    )


def _list_terms(terms: Iterable[str]) -> str:
    *first, last = terms
    return f"{', '.join(first)} and {last}"


def _document_text(example: Example, style: str) -> str:
    sentences = " ".join(p.text(style) + "." for p in example.premises)
    return f"{HEADING.format(terms=_list_terms(example.heading_order))} {sentences}"


def _options(a: str, b: str, option_set: str, flips: Iterable[bool] = ()) -> list[Statement]:
    """One statement per shape of `SLOTS[option_set]` about terms `a` and `b`; `flips` turns the symmetric ones
    round, in order (none by default)."""
    out = []
    flipped = iter(flips)
    for quantifier, forward in SLOTS[option_set]:
        if forward is None:
            forward = not next(flipped, False)
        out.append(Statement(quantifier, a, b) if forward else Statement(quantifier, b, a))
    return out


@cache
def form_conclusions(option_set: str) -> dict[str, Statement]:
    """For each form of the option set's cycle, the one option about S and P that follows from its premises
    (computed, not assumed: a form for which not exactly one option follows is an error)."""
    out = {}
    for name in dict.fromkeys(FORM_CYCLE[option_set]):
        premises = [Statement(q, a, b) for q, a, b in FORMS[name]]
        options = _options("S", "P", option_set)
        valid = [o for o in options if entails(premises, o)]
        if len(valid) != 1:
            raise AdaptlabError(f"{NAME}: form {name} has {len(valid)} valid options among {option_set}, expected 1")
        out[name] = valid[0]
    return out


def _question(
    qid: str, split: str, pair: tuple[str, str], key: str, premises: list[Statement], answer_at: int,
    fact_ids: list[str], option_set: str, layouts: _Layouts, rng: random.Random,
) -> Question:
    """`pair`: the question's two terms in the key's direction (the key, of quantifier `key`, runs from `pair[0]`
    to `pair[1]`, or is symmetric). Which term the heading names first, and the direction each symmetric option is
    shown in, are balanced per key quantifier."""
    heading_flip, *flips = layouts((split, key))
    options = _options(*pair, option_set, flips)
    valid = [o for o in options if entails(premises, o)]
    if len(valid) != 1:  # cannot happen for the forms in FORMS; guards edits to them
        raise AdaptlabError(f"{NAME}: {qid} has {len(valid)} valid options, expected exactly 1")
    distractors = [o for o in options if o is not valid[0]]
    rng.shuffle(distractors)
    ordered = [*distractors[:answer_at], valid[0], *distractors[answer_at:]]
    order = list(pair)[::-1] if heading_flip else list(pair)
    return Question(
        id=qid,
        prompt=HEADING.format(terms=_list_terms(order)),
        choices=[o.text(QUESTION_STYLE) for o in ordered],
        answer=answer_at,
        split=split,
        source_fact_ids=fact_ids,
    )


def _oracle_texts(example: Example, premise_style: str) -> list[str]:
    """Every option statement that follows from the premises, minus sentences already in the training text."""
    s, m, p = example.terms
    premises = list(example.premises)
    candidates = [
        Statement(q, x, y)
        for a, b in ((s, m), (m, p), (s, p))
        for q in (ALL, SOME, NO, SOME_NOT)
        for x, y in ((a, b), (b, a))
    ]
    valid = [st for st in candidates if entails(premises, st)]
    stated = {pr.text(premise_style) for pr in premises}
    heading = HEADING.format(terms=_list_terms(example.heading_order))
    texts = []
    for style in dict.fromkeys((premise_style, QUESTION_STYLE)):
        sentences = [st.text(style) + "." for st in valid if st.text(style) not in stated]
        if sentences:
            texts.append(f"{heading} {' '.join(sentences)}")
    return texts


def _asked_premise(rng: random.Random, example: Example, conclusion: Statement) -> int:
    """The premise the `premise` split asks about: one with the conclusion's quantifier (either, for AA->A)."""
    matching = [k for k, p in enumerate(example.premises) if p.quantifier == conclusion.quantifier]
    return rng.choice(matching)


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    n_examples: int = 69,
    premise_style: str = "singular",
    options: str = "six",
) -> Generated:
    """`n_examples` syllogisms (forms balanced); one `syllogism` and one `premise` question per example.

    `premise_style`: "singular" (default; surface-balanced) or "plural" (the paper's wording; leaks the answer to an
    n-gram counter, see the module docstring). `options`: "six" (All and Some…not both ways, Some, No; chance 1/6)
    or "four" (All both ways, Some, No; chance 1/4).
    """
    if n_examples < 1:
        raise AdaptlabError(f"{NAME}: n_examples must be >= 1, got {n_examples}")
    if premise_style not in STYLES:
        raise AdaptlabError(f"{NAME}: premise_style must be one of {', '.join(STYLES)}, got {premise_style!r}")
    if options not in OPTION_SETS:
        raise AdaptlabError(f"{NAME}: options must be one of {', '.join(OPTION_SETS)}, got {options!r}")
    n_options = len(SLOTS[options])
    rng = random.Random(f"{NAME}-{seed}")
    lexicon = Lexicon(seed)
    conclusions = form_conclusions(options)
    forms = _balanced(rng, n_examples, list(FORM_CYCLE[options]))
    examples = [_draw_example(rng, lexicon, i, form) for i, form in enumerate(track(forms, "syllogisms"))]

    documents = [
        Document(id=f"doc-{i:03d}", text=_document_text(ex, premise_style), source_fact_ids=_premise_ids(ex))
        for i, ex in enumerate(examples)
    ]
    oracle = [
        Document(id=f"oracle-{i:03d}-{k}", text=text, source_fact_ids=_premise_ids(ex))
        for i, ex in enumerate(examples)
        for k, text in enumerate(_oracle_texts(ex, premise_style))
    ]

    layouts = _Layouts(rng, sum(forward is None for _, forward in SLOTS[options]))
    questions: list[Question] = []
    positions = _balanced(rng, n_examples, list(range(n_options)))
    for i, ex in enumerate(examples):
        s, _, p = ex.terms
        conclusion = conclusions[ex.form]  # in the names S, P
        pair = (s, p) if (conclusion.x, conclusion.y) == ("S", "P") else (p, s)
        questions.append(_question(f"syllogism-{i:03d}", "syllogism", pair, conclusion.quantifier, list(ex.premises),
                                   positions[i], _premise_ids(ex), options, layouts, rng))
    positions = _balanced(rng, n_examples, list(range(n_options)))
    for i, ex in enumerate(examples):
        k = _asked_premise(rng, ex, conclusions[ex.form])
        premise = ex.premises[k]
        questions.append(_question(f"premise-{i:03d}-{k}", "premise", (premise.x, premise.y), premise.quantifier,
                                   [premise], positions[i], [_premise_ids(ex)[k]], options, layouts, rng))

    params: dict[str, int | float | str | bool] = {
        "n_examples": n_examples, "premise_style": premise_style, "options": options,
    }
    return Generated(documents=documents, questions=questions, oracle=oracle, params=params)


def _premise_ids(example: Example) -> list[str]:
    return [f"{example.id}-{k}" for k in range(len(example.premises))]
