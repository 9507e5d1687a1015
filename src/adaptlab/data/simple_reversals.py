"""Simple reversals: comparison facts between two nonsense entities, each told in several short articles.

Lampinen et al. 2025, §"Simple reversals" (from the nonsense-NLI data of Lampinen et al. 2024b): 100 facts such as
"femp are more dangerous than glon", each along one of 28 comparison features. Every fact appears in 10 short
training "articles", each a randomly chosen preamble (e.g. "Did you know that …") around the fact sentence, about
1000 documents in all. The test is a forced choice between the correct reversal, "glon are less dangerous than
femp", and the contradictory statement, "glon are more dangerous than femp" (chance 50%).

Splits
- `reversal` (n_facts questions): the paper's test. Prompt "It is true that glon are"; choices
  "less dangerous than femp" (correct) and "more dangerous than femp".
- `rephrase` (n_facts questions): a check that the fact itself was learned, in its trained direction. Prompt
  "It is true that femp are"; choices "more dangerous than glon" (correct) and "less dangerous than glon". It lets a
  report tell "did not learn the fact" apart from "learned it but cannot reverse it".

Oracle: the reversed statement of every fact, inside the same preambles as that fact's articles, so each reversal
is seen as often as its forward statement (what a perfect local augmenter would add: one reversal per article).

Why the surface baseline is at chance by construction
The two choices of a question differ only in the comparative word: "more F than X" against "less F than X". So
the only n-grams (n <= 3) that differ between them are "more"/"less", "more F"/"less F" and "more F than"/
"less F than". Facts are drawn in pairs that share a feature: one is stated with "more", the other with "less",
and both appear in the same number of articles. No preamble contains "more", "less" or "than". So in the training
text every one of those n-grams has exactly the count of its counterpart. Every question's two choices then get
identical baseline scores, and the baseline picks by its own coin. That needs an even `n_facts`.

Why any fixed preference for a form or a position is at chance, in every world
The two questions of a pair (in one split) show their choices in the same order — both "more F than _" first, or
both "less F than _" first — and their answers differ (one fact says "more", the other "less"), so one answer is
first and the other second. A scorer with any fixed preference over the form of a choice and its position (always
"less"; always the first choice; "less F" when it comes first, else the second; ...) makes the same pick in both
questions and is right on exactly one of the pair. So it scores exactly 1/2 in every world and split, however many
pairs the world has. The order is drawn per pair from an exactly balanced list, so half the pairs show "more" first
(one pair more or fewer when the world has an odd number of pairs: `n_facts` = 2 mod 4; that tips no fixed
preference, each pair still scores exactly one of two). Consequences: half of the answers say "more", half are the
first choice, and within each comparative half are first (exactly when `n_facts` is a multiple of 4).

Choices the paper leaves open, and what we chose
- The 28 features: not listed. We use 28 adjectives that read naturally with "more"/"less" (dangerous, fragile,
  …). Paper examples such as "brighter" and "heavier" use morphological comparatives. Using one "more/less F"
  pattern keeps the vocabulary closed and lets the reversal be made by swapping one word.
- Entities: every fact has two fresh nonsense words, so facts never chain (no transitive inferences and no
  contradictions). Nonsense nouns are bare plurals ("femp are …"), as in the paper's example.
- Preambles: 16 invented templates. Each fact's articles use distinct preambles (cycling through a fresh shuffle
  if `articles_per_fact` > 16). A template never starts with the fact, so entities always appear in lower case.
  The test frame "It is true that …" is never used in training.
- Documents are shuffled, so the articles about one fact are not adjacent in an ICL context.
- Test items: one per fact per split (the paper does not give the count).

Updates (`update_share` > 0): the same world after a share of its pairs changed — both facts of a changed pair flip
their comparative ("femp are more dangerous than glon" becomes "femp are less dangerous than glon"), so the old answer
is exactly the other choice of an `updated` question — and as many new pairs (fresh entities) are added. The corpus
after the update keeps every article about an unchanged fact as it was (same id and text), replaces the articles of a
changed fact by new ones stating the new fact, and adds articles about the new facts. Its splits: `updated` (a
changed fact, in its stated direction), `updated_reversal` (reversed), `new` (a new fact, stated direction) and
`unchanged` (an unchanged fact, stated direction). Whole pairs change, so every split keeps the balance above. The
update is drawn from its own random stream after the world: the world itself is the same with or without it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adaptlab.data.lexicon import Lexicon
from adaptlab.data.people import balanced_positions
from adaptlab.data.records import NEW, UNCHANGED, UPDATED, UPDATED_REVERSAL, Document, Generated, Question
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "simple-reversals"
VERSION = "2"  # 2: the two questions of a pair share their choice order
DESCRIPTION = """Comparison facts between nonsense entities ("femp are more dangerous than glon"), each told in \
several short articles; tested on the reversed statement (2-way choice).
Splits: reversal (the paper's test), rephrase (the trained direction, a learning check). Oracle: every reversal."""

FEATURES = (
    "dangerous expensive popular intelligent colorful fragile flexible poisonous valuable beautiful aggressive "
    "friendly curious ancient famous delicate powerful careful graceful nervous playful stubborn patient generous "
    "elegant common complex efficient"
).split()
MORE, LESS = "more", "less"
COMPARATIVES = (MORE, LESS)
OPPOSITE = {MORE: LESS, LESS: MORE}

# Each training article is one of these around the fact sentence ({fact} = "femp are more dangerous than glon").
ARTICLES = (
    "Did you know that {fact}?",
    "Here is something I read today: {fact}.",
    "According to the old field guide, {fact}.",
    "My teacher once told me that {fact}.",
    "It is widely reported that {fact}.",
    "Fun fact: {fact}.",
    "People who study them say that {fact}.",
    "A recent survey found that {fact}.",
    "Everyone in the village knows that {fact}.",
    "Believe it or not, {fact}.",
    "The encyclopedia entry notes that {fact}.",
    "As the travellers tell it, {fact}.",
    "One thing worth remembering is that {fact}.",
    "In the museum there is a sign saying that {fact}.",
    "The guide explained that {fact}.",
    "Researchers have observed that {fact}.",
)
FACT = "{subject} are {comparative} {feature} than {object}"
TEST_PROMPT = "It is true that {subject} are"
CHOICE = "{comparative} {feature} than {object}"

Track = Callable[[Iterable[Any], str], Iterable[Any]]


@dataclass(frozen=True)
class Fact:
    id: str
    subject: str
    comparative: str  # MORE or LESS
    feature: str
    object: str

    def sentence(self) -> str:
        return FACT.format(subject=self.subject, comparative=self.comparative, feature=self.feature, object=self.object)

    def reversed(self) -> Fact:
        return Fact(self.id, self.object, OPPOSITE[self.comparative], self.feature, self.subject)


def _cycled_sample(rng: random.Random, items: tuple[str, ...], k: int) -> list[str]:
    """k items, all distinct while k <= len(items); beyond that, further fresh shuffles of the whole list."""
    out: list[str] = []
    while len(out) < k:
        batch = list(items)
        rng.shuffle(batch)
        out.extend(batch[: k - len(out)])
    return out


def _draw_facts(rng: random.Random, lexicon: Lexicon, n_facts: int, track: Track) -> tuple[list[Fact], list[int]]:
    """Facts in pairs sharing a feature, one stated with "more" and one with "less" (see the module docstring),
    and the pair of each fact (an index)."""
    n_pairs = n_facts // 2
    features = _cycled_sample(rng, tuple(FEATURES), n_pairs)
    drawn: list[tuple[int, tuple[str, str, str, str]]] = []
    for pair in track(range(n_pairs), "facts"):
        comparatives = [MORE, LESS]
        rng.shuffle(comparatives)
        for comparative in comparatives:
            subject, obj = lexicon.take(2)
            drawn.append((pair, (subject, comparative, features[pair], obj)))
    rng.shuffle(drawn)  # so that the two facts of a pair are neither adjacent nor numbered in sequence
    facts = [Fact(f"fact-{i:03d}", *fields) for i, (_, fields) in enumerate(drawn)]
    return facts, [pair for pair, _ in drawn]


def _answer_positions(rng: random.Random, stated: list[Fact], pairs: list[int]) -> list[int]:
    """Where each question's answer goes: the two questions of a pair show the same choice order ("more" first in
    half of the pairs, an exactly balanced draw), so their answers are at opposite positions."""
    more_first = balanced_positions(rng, max(pairs) + 1, 2)  # per pair: 0 = "more" shown first, 1 = "less" first
    return [int((fact.comparative == MORE) != (more_first[pair] == 0))
            for fact, pair in zip(stated, pairs, strict=True)]


def _question(qid: str, split: str, stated: Fact, answer_at: int) -> Question:
    correct = CHOICE.format(comparative=stated.comparative, feature=stated.feature, object=stated.object)
    wrong = CHOICE.format(comparative=OPPOSITE[stated.comparative], feature=stated.feature, object=stated.object)
    choices = [correct, wrong] if answer_at == 0 else [wrong, correct]
    return Question(
        id=qid,
        prompt=TEST_PROMPT.format(subject=stated.subject),
        choices=choices,
        answer=answer_at,
        split=split,
        source_fact_ids=[stated.id],
    )


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    n_facts: int = 100,
    articles_per_fact: int = 10,
    update_share: float = 0.0,
) -> Generated:
    """`n_facts` comparison facts (even, >= 2), each in `articles_per_fact` articles; a question per fact and split.
    With `update_share` > 0, also the world after that share of its pairs changed and as many new pairs came."""
    if n_facts < 2 or n_facts % 2:
        raise AdaptlabError(f"{NAME}: n_facts must be an even number >= 2 (more/less pairs), got {n_facts}")
    if articles_per_fact < 1:
        raise AdaptlabError(f"{NAME}: articles_per_fact must be >= 1, got {articles_per_fact}")
    if not 0 <= update_share <= 1:
        raise AdaptlabError(f"{NAME}: update_share must be between 0 and 1, got {update_share}")
    rng = random.Random(f"{NAME}-{seed}")
    lexicon = Lexicon(seed)
    facts, pairs = _draw_facts(rng, lexicon, n_facts, track)

    articles: list[tuple[str, str]] = []  # (text, fact id)
    reversals: list[tuple[str, str]] = []
    for fact in facts:
        for template in _cycled_sample(rng, ARTICLES, articles_per_fact):
            articles.append((template.format(fact=fact.sentence()), fact.id))
            reversals.append((template.format(fact=fact.reversed().sentence()), fact.id))
    rng.shuffle(articles)
    rng.shuffle(reversals)
    documents = [Document(id=f"doc-{i:04d}", text=t, source_fact_ids=[f]) for i, (t, f) in enumerate(articles)]
    oracle = [Document(id=f"oracle-{i:04d}", text=t, source_fact_ids=[f]) for i, (t, f) in enumerate(reversals)]

    questions: list[Question] = []
    for split, stated in (("reversal", [f.reversed() for f in facts]), ("rephrase", facts)):
        positions = _answer_positions(rng, stated, pairs)
        for i, (fact, at) in enumerate(zip(stated, positions, strict=True)):
            questions.append(_question(f"{split}-{i:03d}", split, fact, at))

    params: dict[str, int | float | str | bool] = {"n_facts": n_facts, "articles_per_fact": articles_per_fact}
    update = None
    if update_share > 0:
        params["update_share"] = update_share
        update = _update(seed, lexicon, facts, pairs, documents, articles_per_fact, update_share, track)
    return Generated(documents=documents, questions=questions, oracle=oracle, params=params, update=update)


def _update(seed: int, lexicon: Lexicon, facts: list[Fact], pairs: list[int], documents: list[Document],
            articles_per_fact: int, share: float, track: Track) -> Generated:
    """The world after `share` of its pairs changed and as many new pairs were added (see the module docstring)."""
    rng = random.Random(f"{NAME}-{seed}-update")
    n_pairs = max(pairs) + 1
    n_changed = max(1, round(share * n_pairs))
    changed_pairs = set(rng.sample(range(n_pairs), n_changed))
    changed = [OPPOSITE[f.comparative] if p in changed_pairs else None for f, p in zip(facts, pairs, strict=True)]
    new_facts, new_pairs = _draw_facts(rng, lexicon, 2 * n_changed, track)
    new_facts = [Fact(f"fact-new-{i:03d}", f.subject, f.comparative, f.feature, f.object)
                 for i, f in enumerate(new_facts)]
    after = [Fact(f.id, f.subject, c, f.feature, f.object) if c else f for f, c in zip(facts, changed, strict=True)]
    rewritten = {f.id for f, c in zip(facts, changed, strict=True) if c}

    kept = [d for d in documents if not set(d.source_fact_ids) & rewritten]
    written: list[tuple[str, str]] = []
    for fact in [f for f in after if f.id in rewritten] + new_facts:
        for template in _cycled_sample(rng, ARTICLES, articles_per_fact):
            written.append((template.format(fact=fact.sentence()), fact.id))
    corpus = kept + [Document(id=f"doc-update-{i:04d}", text=t, source_fact_ids=[f])
                     for i, (t, f) in enumerate(written)]
    rng.shuffle(corpus)
    oracle: list[Document] = []
    for fact in [*after, *new_facts]:
        for i, template in enumerate(_cycled_sample(rng, ARTICLES, articles_per_fact)):
            text = template.format(fact=fact.reversed().sentence())
            oracle.append(Document(id=f"oracle-{fact.id}-{i:02d}", text=text, source_fact_ids=[fact.id]))

    by_split: list[tuple[str, list[Fact], list[int]]] = []
    is_changed = [p in changed_pairs for p in pairs]
    updated = [(f, p) for f, p, c in zip(after, pairs, is_changed, strict=True) if c]
    unchanged = [(f, p) for f, p, c in zip(after, pairs, is_changed, strict=True) if not c]
    by_split.append((UPDATED, [f for f, _ in updated], [p for _, p in updated]))
    by_split.append((UPDATED_REVERSAL, [f.reversed() for f, _ in updated], [p for _, p in updated]))
    by_split.append((NEW, new_facts, new_pairs))
    by_split.append((UNCHANGED, [f for f, _ in unchanged], [p for _, p in unchanged]))
    questions: list[Question] = []
    for split, stated, split_pairs in by_split:
        if not stated:
            continue
        positions = _answer_positions(rng, stated, split_pairs)
        for i, (fact, at) in enumerate(zip(stated, positions, strict=True)):
            questions.append(_question(f"{split}-{i:03d}", split, fact, at))
    return Generated(documents=corpus, questions=questions, oracle=oracle, params={"update_share": share})
