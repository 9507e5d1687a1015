"""Simple syllogisms: two premises over three nonsense terms; tested on the relation between the two end terms.

Lampinen et al. 2025, §"Simple syllogisms" (from the syllogism data of Lampinen et al. 2024b): 69 training examples,
each a context naming three entities plus two premises, e.g. "The relationships between glon, troff and yomp are:
All glon are yomp. All troff are glon." The test names the two end terms ("The relationships between yomp and
troff are:") and scores candidate statements built from the quantifiers All/Some/No in both directions. The
particular negative ("Some X are not Y") is left out.

Splits
- `syllogism` (n_examples questions): the paper's test, one per example, about its two end terms.
- `premise` (2 x n_examples questions): the same kind of question about the two terms of one premise. It checks
  that each premise was learned (and can be restated in the question's wording). The paper has no such split.
  The key is the premise itself, the one option that follows from that premise alone. One case also has a second
  valid option: in AI->I, the two premises together also give "Some M are S" besides the keyed "All M are S". The
  key there is the stronger, stated statement, the convention the paper uses for All vs Some (below).

Oracle: for every example, every option-set statement that follows from its premises (the conclusion, and the
converses of symmetric premises and conclusions), in the training wording and in the question wording, leaving
out sentences that are already in the training text. For the paper's wording the two are the same.

Choices the paper leaves open (or that we changed), and why
- Options (`options`, default "six"): the paper scores six statements, {All, Some, No} x {X->Y, Y->X}, and the
  task asks for forms with exactly one correct statement among them (chance 1/6). Read without existential
  import, only AA->A qualifies ("All S are M. All M are P." -> All S are P; Barbara, in either premise order and
  either heading order): a Some or No conclusion always makes two of the six true ("Some X are Y" and "Some Y are
  X" say the same, as do the No pair), and with existential import an All conclusion would also make both Some
  statements true. `usable_forms` computes this from the semantics, and a test checks it over all 36 premise
  shapes. So the default syllogism split is all Barbara, varied only in presentation. `options="four"` is the
  richer alternative: each symmetric pair is merged into one option shown in a random direction, leaving the four
  logically distinct relations (All X are Y, All Y are X, Some, No; chance 1/4), which admits three forms used
  equally often: AA->A, AE->E ("All S are M. No M are P." -> No S are P; Celarent/Cesare/Camestres/Calemes) and
  AI->I ("All M are S. Some M are P." -> Some S are P; Darii/Datisi/Disamis/Dimatis).
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
  "At least one glon is a yomp." / "Not one glon is a yomp.". Options and questions keep the paper's plural wording,
  "All troff are yomp". Training text never contains "all", "some", "no" or "X are"/"are X". Both end terms appear
  equally often (once in the heading, once in a premise). So every option of every question gets the same
  surface-baseline score, which holds by construction. Nonsense nouns do not change form between singular and
  plural ("a yomp", "yomp are"), like "sheep".
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
VERSION = "1"
DESCRIPTION = """Two premises over three nonsense terms ("Every glon is a yomp. Every troff is a glon."); tested on \
the relation between the end terms (6-way choice: All/Some/No in both directions).
Splits: syllogism (the paper's test), premise (each premise restated, a learning check). Oracle: every conclusion."""

ALL, SOME, NO = "all", "some", "no"
SYMMETRIC = frozenset({SOME, NO})
# How statements are worded. "plural" is the paper's wording and always the wording of questions and options.
STYLES: dict[str, dict[str, str]] = {
    "singular": {ALL: "Every {x} is a {y}", SOME: "At least one {x} is a {y}", NO: "Not one {x} is a {y}"},
    "plural": {ALL: "All {x} are {y}", SOME: "Some {x} are {y}", NO: "No {x} are {y}"},
}
QUESTION_STYLE = "plural"
HEADING = "Here are the relationships between {terms}:"

# The valid forms used with the merged four options, with S, M, P for the subject, middle and predicate terms
# (see the module docstring). With the paper's six options, `usable_forms("six")` keeps only the forms for which
# exactly one of the six statements follows.
FORMS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "AA-A": ((ALL, "S", "M"), (ALL, "M", "P")),
    "AE-E": ((ALL, "S", "M"), (NO, "M", "P")),
    "AI-I": ((ALL, "M", "S"), (SOME, "M", "P")),
}
OPTION_SETS = ("six", "four")

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


def _options(rng: random.Random, a: str, b: str, option_set: str = "six") -> list[Statement]:
    """`six`: the paper's {All, Some, No} x both directions. `four`: the four logically distinct relations
    between two terms (each symmetric pair merged into one option, shown in a random direction)."""
    if option_set == "six":
        return [Statement(q, x, y) for q in (ALL, SOME, NO) for x, y in ((a, b), (b, a))]
    return [
        Statement(ALL, a, b),
        Statement(ALL, b, a),
        _oriented(rng, Statement(SOME, a, b)),
        _oriented(rng, Statement(NO, a, b)),
    ]


@cache
def usable_forms(option_set: str) -> tuple[str, ...]:
    """The forms for which exactly one option about the end terms follows from the premises.

    With the six statements that leaves only AA-A: a Some or No conclusion makes two statements true (a statement
    and its converse say the same), and no other premise pair yields an All conclusion. Computed, not assumed."""
    out = []
    for name, shape in FORMS.items():
        premises = [Statement(q, a, b) for q, a, b in shape]
        options = _options(random.Random(0), "S", "P", option_set)
        if sum(entails(premises, o) for o in options) == 1:
            out.append(name)
    return tuple(out)


def _question(
    rng: random.Random, qid: str, split: str, pair: tuple[str, str], premises: list[Statement], answer_at: int,
    fact_ids: list[str], option_set: str,
) -> Question:
    options = _options(rng, *pair, option_set)
    valid = [o for o in options if entails(premises, o)]
    if len(valid) != 1:  # cannot happen for the forms in FORMS; guards edits to them
        raise AdaptlabError(f"{NAME}: {qid} has {len(valid)} valid options, expected exactly 1")
    distractors = [o for o in options if o is not valid[0]]
    rng.shuffle(distractors)
    ordered = [*distractors[:answer_at], valid[0], *distractors[answer_at:]]
    order = list(pair)
    rng.shuffle(order)
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
        st
        for a, b in ((s, m), (m, p), (s, p))
        for st in (Statement(ALL, a, b), Statement(ALL, b, a), Statement(SOME, a, b), Statement(SOME, b, a),
                   Statement(NO, a, b), Statement(NO, b, a))
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


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    n_examples: int = 69,
    premise_style: str = "singular",
    options: str = "six",
) -> Generated:
    """`n_examples` syllogisms (forms balanced); one `syllogism` question per example and one `premise` per premise.

    `premise_style`: "singular" (default; surface-balanced) or "plural" (the paper's wording; leaks the answer to an
    n-gram counter, see the module docstring). `options`: "six" (the paper's six statements; only AA-A forms have
    exactly one correct one, chance 1/6) or "four" (symmetric pairs merged; three forms, chance 1/4).
    """
    if n_examples < 1:
        raise AdaptlabError(f"{NAME}: n_examples must be >= 1, got {n_examples}")
    if premise_style not in STYLES:
        raise AdaptlabError(f"{NAME}: premise_style must be one of {', '.join(STYLES)}, got {premise_style!r}")
    if options not in OPTION_SETS:
        raise AdaptlabError(f"{NAME}: options must be one of {', '.join(OPTION_SETS)}, got {options!r}")
    n_options = 6 if options == "six" else 4
    rng = random.Random(f"{NAME}-{seed}")
    lexicon = Lexicon(seed)
    forms = _balanced(rng, n_examples, list(usable_forms(options)))
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

    questions: list[Question] = []
    positions = _balanced(rng, n_examples, list(range(n_options)))
    for i, ex in enumerate(examples):
        s, _, p = ex.terms
        questions.append(
            _question(rng, f"syllogism-{i:03d}", "syllogism", (s, p), list(ex.premises), positions[i],
                      _premise_ids(ex), options)
        )
    positions = _balanced(rng, 2 * n_examples, list(range(n_options)))
    for i, ex in enumerate(examples):
        for k, (premise, fact_id) in enumerate(zip(ex.premises, _premise_ids(ex), strict=True)):
            at = positions[2 * i + k]
            questions.append(
                _question(rng, f"premise-{i:03d}-{k}", "premise", (premise.x, premise.y), [premise], at, [fact_id],
                          options)
            )

    params: dict[str, int | float | str | bool] = {
        "n_examples": n_examples, "premise_style": premise_style, "options": options,
    }
    return Generated(documents=documents, questions=questions, oracle=oracle, params=params)


def _premise_ids(example: Example) -> list[str]:
    return [f"{example.id}-{k}" for k in range(len(example.premises))]
