"""Semantic structure: a real-world hierarchy of 110 categories in nonsense words, taught by article-like documents.

Lampinen et al. 2025, §"Semantic structure" (after Rogers & McClelland 2008): about 110 categories of animals and
objects, each with 1-6 own properties plus the ones it inherits, and relations between categories. Every noun,
adjective and verb is replaced by a nonsense word ("gruds are a type of abmes", "abmes are rony", "gruds can zarp",
"telk have plusk"). The training set is 2200 "vaguely Wikipedia-like" documents of 4-20 sentences, some of them in
question-answer form. Four test splits, in rough order of difficulty: rephrasings of trained facts, reversals,
syllogisms (and longer deductions) and category holdouts.

The world
`HIERARCHY` is the English world: 110 categories under three roots (organism, object, substance), each line
"category | parent | own properties", a property being "are ADJECTIVE", "can VERB" or "have PART". `RELATIONS` adds
56 relations between categories of three kinds: "X eat Y", "X live in Y", "X are made of Y". The semantics is strict
inheritance: a category has its ancestors' properties and relations as subject ("raptors eat rodents", so "owls eat
rodents"); the constant avoids real-world exceptions (no penguins). Validated at import: 110 categories, 1-6 own
properties each, no category owns or inherits the same property or relation twice. Each English category and
property gets its own nonsense word from `Lexicon(seed)`, drawn for the full world in constant order, so a seed
names a category the same way whatever `n_categories` is. Nouns are bare plurals ("gruds are", as in the paper)
and always lower case. The relation frames ("eat", "live in", "are made of") stay English, like "are a type of":
they are the relational glue, not world content. No English word of a category or property name appears in any
output (a test checks this).

Training documents (`n_documents`, default 2200, each `min_sentences`-`max_sentences` = 4-20 sentences)
- Five styles: encyclopedia `article` (title, lead, sections "Description", "Abilities", "Diet", ... and a
  "Subgroups" section), group `overview` (a parent and several of its children), `fact sheet` ("Diet: ..." lines),
  `trivia` bullet lists of mixed facts, and `qa` ("Q: What do gruds eat? A: gruds eat telk.", 2-10 pairs,
  `qa_fraction` of the documents, default 15%). Facts are sentences from `FORWARD` (several phrasings per kind),
  sometimes lists ("gruds are rony and blick"). Topic-only framing sentences ("This article is about the gruds.")
  fill documents up to their drawn length; they state no fact.
- Every fact sentence names its subject (no pronouns), so a sentence stands alone after sentence splitting, and it
  mentions at most two categories: the subject and, for a category-inclusion or relation fact, the object.
- Coverage first, then uneven repetition: a fact never stated yet always goes first (an article's topic is a
  category with such a fact while there is one; lists take such facts first), so every training fact is stated at
  least once. After that, repetition follows real text: each category has a popularity (1-8x, log-uniform) that
  weights how often it is an article topic or appears in lists, and each fact a salience (0.4-1), the chance that
  an article about its subject mentions it. At the default size a fact is stated from 4 to about 130 times
  (median about 30); the spread also gives the word counts the distractor ranks below rely on.
  When the documents left are too few for the facts not yet stated (more than 4 per document), documents become
  full-length fact lists, so even `n_documents=20` covers the default world; below that generation fails with a
  message naming the shortfall.
- Documents are shuffled at the end, so related documents are not adjacent in an ICL context.

What the training text never contains (each checked by a test)
- No fact in reversed direction: categories are only ever stated as "child ... parent", properties and relations
  only with their subject first. No training sentence uses a reversal frame (`REVERSE`: "include", "Among the
  things that ...", "are eaten by", "are home to", "are used to make", ...) or a rephrase frame (`REPHRASE`).
- No inherited fact: a category's article states only its own properties and relations, never its ancestors'.
  Overview documents do put a parent's properties and its children's parent links in one document (as an
  encyclopedia would), never in one sentence: no training sentence holds both a syllogism's subject and its answer.
- Held-out categories (`n_holdout`, default 10, leaves with distinct parents that are not the object of any relation,
  drawn per seed): their only training fact is "zept are a type of abmes". Their own properties and relations exist in
  the English world but are never written, so never used as distractors. The only other sentences naming a
  held-out category are QA questions about its parent link ("Q: What group do zept belong to?").

Test splits (`n_choices` = 4 choices, one correct: chance 25% on every split; each capped at
`questions_per_split` = 300; counts at the default size for seeds 0 / 1)
- `rephrase` (300): a trained fact in its trained direction, in a frame never used in training ("gruds tend to be"
  -> rony). Subtypes (the question id's middle part): isa, are, can, have, eat, live_in, made_of.
- `reversal` (300): a trained fact reversed ("abmes include" -> gruds, "Things that can zarp include" -> gruds,
  "telk are eaten by" -> gruds). Same subtypes.
- `syllogism` (300): conclusions never stated in training. `property`: a property owned by the parent ("gruds are"
  -> rony, from gruds < abmes, abmes are rony); the longer deductions: `long` (a property owned two to four levels
  up), `relation` (an inherited relation, "owls eat" -> rodents) and `isa` (a grandparent or higher, "gruds are a
  type of" -> animals). Seed 0: property 109, long 109, isa 51, relation 31.
- `category_holdout` (119 / 124): every inference about each held-out category: `reversal` of its parent link
  ("abmes include" -> zept), `isa` (higher ancestors), `property` and `relation` (all inherited ones).
Subtypes are sampled round robin, so small subtypes (relations) are all used and large ones fill the rest; at most
`ANSWER_CAP` = 8 questions of a split share an answer word (else "X are alive", inherited by 70 categories, would
fill the syllogism split). category_holdout has no cap and, at the default size, drops nothing.
`source_fact_ids` of a question lists its premises: the chain of parent links and the owning category's fact.

Distractors: hard, and false
A distractor stands in the tested relation to some other entity in the training data, and is not true of the tested
entity: for "gruds are ___" the other choices are adjectives some other category has; for "abmes include ___" they
are categories that have another parent; for "telk are eaten by ___" they are categories that eat something else.
"Not true" is judged generously against the full English world (held-out facts included): a distractor may not be
true, nor true of an ancestor or descendant of the entity ("mammals are loyal" is excluded when dogs are loyal), and
for relations the object's ancestors and descendants count too (eagles eat fish, so eagles never distract for
"salmon are eaten by"). Properties owned only by held-out categories never appear, so are never distractors; held-out
categories are distractors only in category-inclusion questions, where their single parent makes them decidable.

Why the surface baseline is at chance by construction
Every choice is a single nonsense word, so the n-gram baseline's score of a choice is its word's training count
(for any `max_n`: a one-word choice has no 2- or 3-grams). Questions are built after the documents, from the word
counts of the training text. For each question we pick a target rank t (how many distractors are strictly more
frequent than the answer) and draw t distractors from the valid ones strictly more frequent and the rest from those
strictly less frequent. The ranks are assigned so that each of 0..n_choices-1 is used equally often in a split
(greedily, most constrained question first; a question with no feasible rank is dropped; at the default size the
ranks come out balanced to within one question for seeds 0-3). So the answer is the strict frequency maximum of its
choices in 1/n_choices of the questions (the baseline's accuracy equals chance up to one question, for max_n 1 and
3 alike) and its frequency rank is uniform: no frequency rule, "most frequent" or "least frequent", beats chance.
The answer's position is an exactly balanced shuffled list.
Within a split, answers repeat (an inherited property is the answer for every descendant), so distractors are
drawn first from words that are answers elsewhere and are still short of being shown (n_choices - 1) times as
distractors per time as answer: a word then tends to be right in about 1 of n_choices of the questions that show
it, and "the choice shown most often in the split" (`adaptlab.data.baseline.choice_frequency_baseline`) stays at
chance on rephrase, reversal and syllogism. Known limitation: `category_holdout` tests every inference about each
held-out category, and held-out categories share ancestors and inherited properties whose words cannot serve as
distractors for them; those answers repeat, and the choice-frequency baseline reaches ~0.4 there (chance 0.25).

Oracle ("oracle augmentation" control)
For every category, its valid inferences written as sentences: inherited properties and relations and higher
ancestors in the first `FORWARD` phrasing ("gruds are rony."), and the reversal of each of its trained facts in the
`REVERSE` frames, alternating ("abmes include gruds."). Held-out categories get what follows from their parent.
No rephrasings (the rephrase split tests the trained fact itself). Chunked into documents of at most `max_sentences`
(114 documents at the default size).

Choices the paper leaves open
Number of choices (4); relation types (eat, live in, made of); property kinds; templates and styles; the QA share
(15%); number and choice of held-out categories (10, random per seed, distinct parents); whether held-out categories
have hidden own properties (yes, never written); question counts; no pronouns in facts; forward-only training.

Sizes and small worlds
`n_categories` (default 110) keeps a random ancestor-closed part of the hierarchy: cheap small worlds for tests and
for pretraining a tiny model on streams of random worlds (a 15-category, 20-document world takes about 0.02 s and
gives about 160 questions; the default size about 1.5 s). `min_sentences` may be 2-6 (short articles are padded with
topic-only sentences). A world too small for any `n_choices`-choice question (e.g. 3 categories) fails with a
message; `n_choices=2` needs fewer distractors.

Updates (`update_share` > 0)
The same world after that share of the visible categories' own properties ("are", "can", "have") changed value, and
as many new own properties came. A new value is a property word of the same kind that some category already has (so
its frequency is spread like any other word's), that the category does not own or inherit, that no ancestor or
descendant holds, and that the update took from none of them: the old value stays false wherever it is asked. New
properties go to visible categories with fewer than 6. The world model stays strict inheritance, so a change
propagates: every descendant of a changed category now inherits the new value and no longer the old one (we chose
to let changes propagate and to test it, the study's semantic generalisation, rather than freeze inherited facts).
The corpus after the update keeps every document that states no changed property as it was (same id and text);
a document stating one is restated with the new value in every sentence that names the category (a new id,
`doc-update-NNNNN`; sentence count and everything else unchanged), and the new properties are stated in trivia-list
documents, each as often as the corpus' median fact. Splits (drawn and balanced as the splits above, from the
corpus after the update, at most `questions_per_split` each):
- `updated` (a changed property, a rephrase frame, "gruds tend to be" -> the new value; the old value is always one
  of the distractors);
- `updated_reversal` (the same reversed, "Things that are blick include" -> gruds; the categories that had blick
  before still have it and are never distractors, so this split has no old answer among its choices);
- `updated_inherited` (the changed property asked of a descendant, as a syllogism: "owls are" -> the new value,
  the old value among the distractors; subtypes `property` and `long` by depth);
- `new` (a new property, rephrase frame) and `unchanged` (a trained fact the update left alone, rephrase frame).
Distractors are judged against the world after the update. The old value, rare in the corpus after the update (its
statements were restated), can seldom be more frequent than the answer, so in `updated` and `updated_inherited` the
answer is rarely the least frequent choice; there the answer is made the most frequent choice (what the surface
baseline rewards) in at most 1/n_choices of the questions, a question that allows nothing else is dropped, and the
other ranks share the rest (at the default size with `update_share=0.1`: about 21 `updated` and 30
`updated_inherited` questions, the n-gram baseline at or just below chance). The update's oracle is every valid
inference of the world after the update. The update is drawn from its own random stream after the world: the world
itself is the same with or without it.

Code: `world` (the English world, the world model, words and a seed's draw), `templates` (sentences),
`documents` (training text), `questions` (test questions and the oracle), `update` (the update); this module checks
the parameters and runs them in order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from adaptlab.data.records import Generated
from adaptlab.data.registry import identity_track
from adaptlab.data.semantic.documents import DocumentWriter
from adaptlab.data.semantic.questions import QuestionWriter, word_counts
from adaptlab.data.semantic.templates import FORWARD, REPHRASE, REVERSE, count_sentences
from adaptlab.data.semantic.update import Updater
from adaptlab.data.semantic.world import (
    KINDS,
    NAME,
    PROPERTY_KINDS,
    RELATION_KINDS,
    WORLD,
    Draw,
    Fact,
    World,
    choose_holdouts,
    choose_world,
    vocabulary,
)
from adaptlab.errors import AdaptlabError

VERSION = "1"
DESCRIPTION = """A 110-category real-world hierarchy in nonsense words (gruds are a type of abmes; abmes are rony), \
taught by 2200 article-like documents; 4-way choice.
Splits: rephrase (trained facts, new wording), reversal, syllogism (inherited facts and longer deductions), \
category_holdout (categories known only by their parent). Oracle: every valid inference."""


def _check_params(params: dict[str, Any]) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise AdaptlabError(f"{NAME}: {what}")

    need(params["n_documents"] >= 1, "n_documents must be at least 1")
    need(3 <= params["n_categories"] <= len(WORLD.categories), f"n_categories must be 3-{len(WORLD.categories)}")
    need(params["n_holdout"] >= 0, "n_holdout must be at least 0")
    need(params["questions_per_split"] >= 1, "questions_per_split must be at least 1")
    need(params["n_choices"] >= 2, "n_choices must be at least 2")
    need(2 <= params["min_sentences"] <= params["max_sentences"], "need 2 <= min_sentences <= max_sentences")
    need(params["min_sentences"] <= 6, "min_sentences above 6 is not supported (short articles are padded)")
    need(0.0 <= params["qa_fraction"] <= 1.0, "qa_fraction must be within 0-1")


def generate(
    seed: int,
    track: Callable[[Iterable[Any], str], Iterable[Any]] = identity_track,
    *,
    n_documents: int = 2200,
    n_categories: int = 110,
    n_holdout: int = 10,
    questions_per_split: int = 300,
    n_choices: int = 4,
    min_sentences: int = 4,
    max_sentences: int = 20,
    qa_fraction: float = 0.15,
    update_share: float = 0.0,
) -> Generated:
    """Draw the semantic-structure dataset for `seed` (defaults: the paper's sizes); with `update_share` > 0, also
    the world after that share of its properties changed value and as many new ones came."""
    params: dict[str, Any] = {
        "n_documents": n_documents, "n_categories": n_categories, "n_holdout": n_holdout,
        "questions_per_split": questions_per_split, "n_choices": n_choices, "min_sentences": min_sentences,
        "max_sentences": max_sentences, "qa_fraction": qa_fraction,
    }
    _check_params(params)
    if not 0.0 <= update_share <= 1.0:
        raise AdaptlabError(f"{NAME}: update_share must be within 0-1, got {update_share}")
    rng = random.Random(f"{NAME}-{seed}")
    world = choose_world(rng, n_categories)
    draw = Draw(seed, world, holdouts=choose_holdouts(rng, world, n_holdout), rng=rng, params=params)
    documents = DocumentWriter(draw).documents(track)
    writer = QuestionWriter(draw)
    questions = writer.questions(word_counts(documents))
    if not questions:
        raise AdaptlabError(f"{NAME}: a world of {len(world.categories)} categories leaves no {n_choices}-choice "
                            f"question with enough distractors; use a larger n_categories or a smaller n_choices")
    oracle = writer.oracle()
    update = None
    if update_share > 0:
        update = Updater(seed, draw, documents, update_share).generate()
        params = {**params, "update_share": update_share}
    return Generated(documents=documents, questions=questions, oracle=oracle, params=params, update=update)


__all__ = [
    "DESCRIPTION", "FORWARD", "KINDS", "NAME", "PROPERTY_KINDS", "RELATION_KINDS", "REPHRASE", "REVERSE", "VERSION",
    "WORLD", "Fact", "World", "count_sentences", "generate", "vocabulary", "word_counts",
]
