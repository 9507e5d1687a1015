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
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from adaptlab.data.lexicon import Lexicon
from adaptlab.data.records import Document, Generated, Question
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "semantic"
VERSION = "1"
DESCRIPTION = """A 110-category real-world hierarchy in nonsense words (gruds are a type of abmes; abmes are rony), \
taught by 2200 article-like documents; 4-way choice.
Splits: rephrase (trained facts, new wording), reversal, syllogism (inherited facts and longer deductions), \
category_holdout (categories known only by their parent). Oracle: every valid inference."""

# --- The English world ------------------------------------------------------------------------------------------
# category | parent (- for a root) | own properties: "are ADJECTIVE", "can VERB", "have PART", separated by ";"
HIERARCHY = """
organism | - | are alive; can grow; have cells
animal | organism | can move; can breathe; have eyes
mammal | animal | are warm-blooded; have fur; can nurse
carnivore | mammal | are fierce; have fangs; can hunt
dog | carnivore | are loyal; can bark; can fetch
cat | carnivore | are curious; can purr; have whiskers
lion | carnivore | are majestic; have manes; can roar
wolf | carnivore | can howl; are shaggy
fox | carnivore | are sly; have bushy tails
bear | carnivore | can hibernate; have claws; are massive
rodent | mammal | can gnaw; have incisors; are small
mouse | rodent | are timid; can squeak; have whiskers
squirrel | rodent | can climb; have bushy tails
beaver | rodent | can dam; have flat tails
ungulate | mammal | have hooves; can graze
horse | ungulate | can gallop; have manes
cow | ungulate | are docile; can moo
sheep | ungulate | have fleece; can bleat
pig | ungulate | are pink; can wallow
deer | ungulate | have antlers; are swift
marine mammal | mammal | can swim; have flippers; can dive
whale | marine mammal | are huge; have blowholes; can sing
dolphin | marine mammal | are intelligent; can leap
seal | marine mammal | have whiskers; can bark
primate | mammal | have thumbs; can climb
monkey | primate | can swing; have long tails
bat | mammal | can fly; are nocturnal; have sonar
elephant | mammal | have trunks; have tusks; are huge
rabbit | mammal | can hop; have long ears
bird | animal | have feathers; have wings; can fly; can lay eggs; have beaks
songbird | bird | can sing; are small
robin | songbird | have red breasts
canary | songbird | are yellow
raptor | bird | have talons; are keen-eyed; can soar
eagle | raptor | are powerful
hawk | raptor | can swoop
owl | raptor | are nocturnal; can hoot
waterfowl | bird | have webbed feet; can swim
duck | waterfowl | can quack
swan | waterfowl | are graceful; are white
parrot | bird | can talk; are colorful
fish | animal | have gills; have fins; can swim; are cold-blooded; have scales
salmon | fish | are pink; can leap
shark | fish | have sharp teeth; are fierce
goldfish | fish | are orange
reptile | animal | are cold-blooded; have scales; can lay eggs
snake | reptile | are legless; can slither; have fangs
turtle | reptile | have shells; are slow
crocodile | reptile | have strong jaws; are fierce
frog | animal | can croak; can jump; are cold-blooded; have moist skin
insect | animal | have six legs; have antennae; are tiny; can lay eggs
bee | insect | can sting; can buzz
ant | insect | are strong; can dig
butterfly | insect | are colorful; have wings
spider | animal | have eight legs; can spin webs
plant | organism | have roots; have leaves; are green
tree | plant | have bark; have trunks; are tall
oak | tree | have acorns; are sturdy
pine | tree | have needles; are evergreen
birch | tree | are white; have catkins
palm | tree | have fronds
flower | plant | have petals; are fragrant; are colorful
rose | flower | have thorns; are red
sunflower | flower | are yellow; are tall
grass | plant | are thin; can spread
wheat | grass | are golden
bamboo | grass | are hollow; are tall
carrot | plant | are orange; are edible
object | - | are inanimate; have weight
tool | object | have handles; are useful
hammer | tool | are heavy; can pound
saw | tool | have jagged blades; can cut
shovel | tool | can dig
vehicle | object | can transport; have seats
car | vehicle | have wheels; are fast
truck | vehicle | have engines; are heavy
bicycle | vehicle | have pedals; have wheels
boat | vehicle | can float; have hulls
ship | vehicle | can float; are huge
airplane | vehicle | can fly; have wings; have engines
furniture | object | are sturdy; have legs
chair | furniture | have backrests
table | furniture | are flat
bed | furniture | are soft; have pillows
instrument | object | can resonate; are tuneful
guitar | instrument | have strings; have frets
violin | instrument | have strings; have bows
flute | instrument | have holes
trumpet | instrument | are loud; have valves
clothing | object | are wearable; have seams
shirt | clothing | have sleeves; have collars
coat | clothing | are warm; have pockets
shoe | clothing | have soles; have laces
building | object | have walls; have roofs; have doors
house | building | have windows; are cozy
barn | building | are red; are spacious
stable | building | have stalls
hive | building | have combs
substance | - | are raw; have texture
wood | substance | are hard; can burn
metal | substance | are shiny; can conduct
iron | metal | can rust; are heavy
steel | metal | are strong
copper | metal | are ruddy
glass | substance | are transparent; can shatter
stone | substance | are hard; are heavy
fabric | substance | are soft; can fold
cotton | fabric | are fluffy
wool | fabric | are warm
leather | substance | are tough; are supple
"""

# subject | relation (eat, live in, are made of) | object. Subjects pass relations on to their descendants.
RELATIONS = """
cat | eat | mouse
fox | eat | rabbit
wolf | eat | sheep
lion | eat | deer
bear | eat | salmon
raptor | eat | rodent
eagle | eat | fish
shark | eat | seal
marine mammal | eat | fish
songbird | eat | insect
frog | eat | insect
spider | eat | insect
ungulate | eat | grass
rabbit | eat | carrot
squirrel | eat | oak
beaver | eat | birch
rodent | eat | wheat
reptile | eat | insect
fish | eat | insect
elephant | eat | bamboo
insect | eat | flower
snake | eat | mouse
waterfowl | eat | wheat
dog | live in | house
mouse | live in | house
cow | live in | barn
sheep | live in | barn
owl | live in | barn
horse | live in | stable
bee | live in | hive
songbird | live in | tree
primate | live in | tree
squirrel | live in | oak
parrot | live in | palm
bat | live in | pine
furniture | are made of | wood
hammer | are made of | iron
saw | are made of | steel
shovel | are made of | iron
car | are made of | steel
truck | are made of | steel
bicycle | are made of | steel
ship | are made of | steel
boat | are made of | wood
airplane | are made of | metal
house | are made of | stone
barn | are made of | wood
stable | are made of | wood
clothing | are made of | fabric
shirt | are made of | cotton
coat | are made of | wool
shoe | are made of | leather
guitar | are made of | wood
violin | are made of | wood
trumpet | are made of | copper
flute | are made of | bamboo
"""

PROPERTY_KINDS = ("are", "can", "have")
RELATION_KINDS = ("eat", "live_in", "made_of")
KINDS = ("isa", *PROPERTY_KINDS, *RELATION_KINDS)
RELATION_NAMES = {"eat": "eat", "live in": "live_in", "are made of": "made_of"}

# --- Sentence templates ({s} subject word, {o} object word, {t} topic word) -------------------------------------
# Training phrasings of a fact, always subject first. The first one is the canonical form used by the oracle and by
# the syllogism and holdout prompts (which ask for facts that training never states).
FORWARD: dict[str, tuple[str, ...]] = {
    "isa": ("{s} are a type of {o}.", "{s} are a kind of {o}.", "{s} belong to the {o}.",
            "{s} are classified as {o}.", "{s} are a group of {o}."),
    "are": ("{s} are {o}.", "{s} are known to be {o}.", "{s} are usually {o}.", "{s} are described as {o}."),
    "can": ("{s} can {o}.", "{s} are able to {o}.", "{s} are known to {o}."),
    "have": ("{s} have {o}.", "{s} possess {o}.", "{s} all have {o}."),
    "eat": ("{s} eat {o}.", "{s} feed on {o}.", "{s} mostly eat {o}."),
    "live_in": ("{s} live in {o}.", "{s} are often found in {o}.", "{s} usually live in {o}."),
    "made_of": ("{s} are made of {o}.", "{s} are made from {o}.", "{s} are usually built from {o}."),
}
# Several properties of one kind in one sentence ({o} = "rony, blick and zorp").
LISTED: dict[str, tuple[str, ...]] = {
    "are": ("{s} are {o}.", "{s} are known to be {o}."),
    "can": ("{s} can {o}.", "{s} are able to {o}."),
    "have": ("{s} have {o}.", "{s} possess {o}."),
}
# Test-only frames: the trained direction in new words (rephrase) and the reversed direction (reversal).
REPHRASE: dict[str, tuple[str, ...]] = {
    "isa": ("{s} are one variety of", "{s} fall under the"),
    "are": ("{s} tend to be", "{s} are typically"),
    "can": ("{s} have the ability to", "It is possible for {s} to"),
    "have": ("{s} are equipped with", "{s} come with"),
    "eat": ("{s} like to eat", "The diet of {s} consists of"),
    "live_in": ("{s} make their homes in", "{s} reside in"),
    "made_of": ("{s} are constructed out of", "{s} are crafted from"),
}
REVERSE: dict[str, tuple[str, ...]] = {
    "isa": ("{o} include", "Examples of {o} include"),
    "are": ("Among the things that are {o} are", "Things that are {o} include"),
    "can": ("Among the things that can {o} are", "Things that can {o} include"),
    "have": ("Among the things that have {o} are", "Things that have {o} include"),
    "eat": ("{o} are eaten by", "{o} are food for"),
    "live_in": ("{o} are home to", "{o} provide shelter for"),
    "made_of": ("{o} are used to make", "{o} are the material of"),
}
QA_QUESTIONS: dict[str, tuple[str, ...]] = {
    "isa": ("What are {s} a type of?", "What group do {s} belong to?"),
    "are": ("What are {s} like?", "How are {s} described?"),
    "can": ("What can {s} do?",),
    "have": ("What do {s} have?",),
    "eat": ("What do {s} eat?",),
    "live_in": ("Where do {s} live?",),
    "made_of": ("What are {s} made of?",),
}
# Article sections per fact kind, and fact-sheet line labels.
HEADINGS: dict[str, tuple[str, ...]] = {
    "are": ("Description", "Appearance and nature"),
    "can": ("Abilities", "Behaviour"),
    "have": ("Features", "Parts"),
    "eat": ("Diet", "Feeding"),
    "live_in": ("Habitat", "Dwelling"),
    "made_of": ("Composition", "Construction"),
}
SUBGROUPS_HEADINGS = ("Subgroups", "Varieties")
SHEET_LABELS = {"isa": "Classification", "are": "Description", "can": "Abilities", "have": "Features",
                "eat": "Diet", "live_in": "Habitat", "made_of": "Composition"}
# Topic-only sentences: they name one category and state nothing about it.
INTROS = ("This article is about the {t}.", "The {t} are the subject of this article.",
          "This entry describes the {t}.", "The following text is about the {t}.")
OVERVIEW_INTROS = ("This overview covers the {t} and some of their subgroups.",
                   "Several subgroups of the {t} are described in this overview.")
FILLERS = ("Many reference works mention the {t}.", "Much has been written about the {t}.",
           "Observers have described the {t} in detail.", "The {t} are well documented.",
           "Little else is recorded about the {t}.", "Further details on the {t} are given in other entries.")
SHEET_FILLERS = ("Notes: the {t} are well documented.", "Sources: many reference works mention the {t}.",
                 "Status: this sheet on the {t} is complete.", "Related: other sheets describe groups near the {t}.",
                 "Reviewed: the entry on the {t} was checked.", "Updated: the {t} entry was revised recently.")
TRIVIA_HEADERS = ("Did you know?", "Here are a few facts.", "Some facts worth knowing.", "A short list of facts.")
POPULARITY_RANGE = 8.0  # the most written-about category appears about 8x as often as the least
MIN_SALIENCE = 0.4  # an article about a category states each of its facts with probability 0.4-1
COVERAGE_PACE = 4  # unstated facts per remaining document above which documents become full-length fact lists
ANSWER_CAP = 8  # at most this many questions of a split share an answer word (not for category_holdout)
STYLES = ("article", "overview", "sheet", "trivia")
STYLE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)  # of the non-QA documents

SENTENCE_END = re.compile(r"[.?!](?=\s|$)")
TOKEN = re.compile(r"[a-z0-9]+")  # as the surface baseline tokenizes


def count_sentences(text: str) -> int:
    """Sentences in a document: terminal punctuation followed by whitespace or the end (headings have none)."""
    return len(SENTENCE_END.findall(text))


# --- World model ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One fact of the English world: kind in KINDS; obj is a category (isa, relations) or a property name."""

    kind: str
    subject: str
    obj: str


@dataclass
class World:
    """A category tree with own properties and relations; every query follows strict inheritance."""

    parent: dict[str, str | None]  # in HIERARCHY order
    props: dict[str, list[tuple[str, str]]]  # category -> own (kind, property name)
    relations: list[Fact]

    @property
    def categories(self) -> list[str]:
        return list(self.parent)

    @cached_property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in self.parent}
        for c, p in self.parent.items():
            if p is not None:
                out[p].append(c)
        return out

    def ancestors(self, c: str) -> list[str]:
        """Nearest first."""
        out = []
        p = self.parent[c]
        while p is not None:
            out.append(p)
            p = self.parent[p]
        return out

    def descendants(self, c: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.children[c]))
        while stack:
            d = stack.pop()
            out.append(d)
            stack.extend(reversed(self.children[d]))
        return out

    def lineage(self, c: str) -> set[str]:
        """The category, its ancestors and its descendants: everything a claim about c could be confused with."""
        return {c, *self.ancestors(c), *self.descendants(c)}

    def own_facts(self, c: str) -> list[Fact]:
        """Parent link, own properties, own relations (in that order)."""
        facts = [Fact("isa", c, p) for p in [self.parent[c]] if p is not None]
        facts += [Fact(kind, c, name) for kind, name in self.props[c]]
        facts += [r for r in self.relations if r.subject == c]
        return facts

    def possible_props(self, c: str, kind: str) -> set[str]:
        return {name for x in self.lineage(c) for k, name in self.props[x] if k == kind}

    def related_objects(self, c: str, kind: str) -> set[str]:
        """Objects that c, an ancestor or a descendant, relates to by `kind`, with their lineages."""
        line = self.lineage(c)
        return {y for r in self.relations if r.kind == kind and r.subject in line for y in self.lineage(r.obj)}

    def related_subjects(self, o: str, kind: str) -> set[str]:
        line = self.lineage(o)
        return {x for r in self.relations if r.kind == kind and r.obj in line for x in self.lineage(r.subject)}

    def subset(self, keep: set[str]) -> World:
        """The part of the world on `keep` (closed under ancestors)."""
        return World(
            parent={c: p for c, p in self.parent.items() if c in keep},
            props={c: v for c, v in self.props.items() if c in keep},
            relations=[r for r in self.relations if r.subject in keep and r.obj in keep],
        )


def parse_world(hierarchy: str = HIERARCHY, relations: str = RELATIONS) -> World:
    """Parse and validate the English world constants."""
    parent: dict[str, str | None] = {}
    props: dict[str, list[tuple[str, str]]] = {}
    for line in hierarchy.strip().splitlines():
        name, par, plist = (part.strip() for part in line.split("|"))
        if name in parent or (par != "-" and par not in parent):
            raise ValueError(f"HIERARCHY: {name!r} repeats or its parent {par!r} is not defined above it")
        parent[name] = None if par == "-" else par
        own = []
        for prop in plist.split(";"):
            kind, _, pname = prop.strip().partition(" ")
            if kind not in PROPERTY_KINDS or not pname:
                raise ValueError(f"HIERARCHY: {name!r} has a malformed property {prop!r}")
            own.append((kind, pname))
        if not 1 <= len(own) <= 6:
            raise ValueError(f"HIERARCHY: {name!r} has {len(own)} own properties (1-6 allowed)")
        props[name] = own
    rels = []
    for line in relations.strip().splitlines():
        subj, rel, obj = (part.strip() for part in line.split("|"))
        if subj not in parent or obj not in parent or rel not in RELATION_NAMES:
            raise ValueError(f"RELATIONS: bad line {line!r}")
        rels.append(Fact(RELATION_NAMES[rel], subj, obj))
    world = World(parent, props, rels)
    for c in world.categories:
        line = [c, *world.ancestors(c)]
        held = [p for x in line for p in world.props[x]]
        held_rels = [(r.kind, r.obj) for r in world.relations if r.subject in line]
        if len(set(held)) != len(held) or len(set(held_rels)) != len(held_rels):
            raise ValueError(f"world: {c!r} owns or inherits the same property or relation twice")
    return world


WORLD = parse_world()
assert len(WORLD.categories) == 110, len(WORLD.categories)


def vocabulary(seed: int) -> dict[tuple[str, str], str]:
    """Nonsense word for every ("cat", category) and (kind, property) of the full world, in constant order."""
    keys: list[tuple[str, str]] = [("cat", c) for c in WORLD.categories]
    keys += list(dict.fromkeys(p for c in WORLD.categories for p in WORLD.props[c]))
    return dict(zip(keys, Lexicon(seed).take(len(keys)), strict=True))


# --- Generation state ----------------------------------------------------------------------------------------------
@dataclass
class Sentence:
    text: str
    facts: tuple[Fact, ...] = ()
    section: str = ""  # heading of the section it belongs to ("" = lead paragraph)
    order: int = 0  # section order within the document


@dataclass
class Candidate:
    """A question before its distractors are chosen."""

    split: str
    subtype: str
    prompt: str
    answer: str
    pool: list[str]
    premises: list[Fact]
    feasible: list[int] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, world: World, holdouts: list[str], rng: random.Random, params: dict[str, Any]):
        self.world = world
        self.holdouts = holdouts
        self.hidden = set(holdouts)
        self.rng = rng
        self.p = params
        self.vocab = vocabulary(seed)
        self.trained: dict[str, list[Fact]] = {
            c: (world.own_facts(c)[:1] if c in self.hidden else world.own_facts(c)) for c in world.categories
        }
        self.all_trained = [f for c in world.categories for f in self.trained[c]]
        self.stated: Counter[Fact] = Counter()
        # Uneven repetition, as in real text: how often a category is written about, and how likely an article
        # about it mentions each of its facts. It spreads the word counts that the distractor ranks rely on.
        self.popularity = {c: POPULARITY_RANGE ** rng.random() for c in world.categories}
        self.salience = {f: rng.uniform(MIN_SALIENCE, 1.0) for f in self.all_trained}
        self.tiebreak = {c: i for i, c in enumerate(rng.sample(world.categories, len(world.categories)))}
        self.fact_tiebreak = {f: i for i, f in enumerate(rng.sample(self.all_trained, len(self.all_trained)))}

    # words -------------------------------------------------------------------------------------------------------
    def w(self, category: str) -> str:
        return self.vocab[("cat", category)]

    def obj_word(self, fact: Fact) -> str:
        return self.vocab[(fact.kind, fact.obj)] if fact.kind in PROPERTY_KINDS else self.w(fact.obj)

    def fact_id(self, fact: Fact) -> str:
        return f"{fact.kind}:{self.w(fact.subject)}:{self.obj_word(fact)}"

    def say(self, fact: Fact, template: str | None = None) -> str:
        template = template or self.rng.choice(FORWARD[fact.kind])
        return template.format(s=self.w(fact.subject), o=self.obj_word(fact))

    # documents ---------------------------------------------------------------------------------------------------
    def length(self) -> int:
        return self.rng.randint(self.p["min_sentences"], self.p["max_sentences"])

    def prioritized(self, facts: Iterable[Fact]) -> list[Fact]:
        """Facts never stated yet first (fixed order), then the rest in a random order weighted by popularity and
        salience (Efraimidis-Spirakis keys)."""
        facts = list(facts)
        fresh = sorted((f for f in facts if not self.stated[f]), key=self.fact_tiebreak.__getitem__)
        keys = {f: self.rng.random() ** (1 / (self.popularity[f.subject] * self.salience[f]))
                for f in facts if self.stated[f]}
        return fresh + sorted(keys, key=lambda f: -keys[f])

    def mentioned(self, facts: list[Fact]) -> list[Fact]:
        """The facts an article about their subject states: the parent link, any fact never stated yet, and each
        other fact with its salience as probability."""
        chosen = [f for f in facts if f.kind == "isa" or not self.stated[f] or self.rng.random() < self.salience[f]]
        return chosen or self.prioritized(facts)[:1]

    def pick_topic(self, candidates: list[str], facts_of: Callable[[str], list[Fact]]) -> str:
        """A category with a fact never stated yet if there is one, else one drawn by popularity."""
        fresh = [c for c in candidates if any(not self.stated[f] for f in facts_of(c))]
        if fresh:
            return min(fresh, key=self.tiebreak.__getitem__)
        return self.rng.choices(candidates, weights=[self.popularity[c] for c in candidates])[0]

    def fact_sentences(self, facts: list[Fact], order0: int, headings: bool) -> list[Sentence]:
        """Sentences for one category's facts, grouped by kind; lists for 2+ properties of a kind sometimes."""
        out: list[Sentence] = []
        by_kind: dict[str, list[Fact]] = {}
        for f in facts:
            by_kind.setdefault(f.kind, []).append(f)
        for i, kind in enumerate(k for k in KINDS if k in by_kind):
            group = by_kind[kind]
            section = "" if kind == "isa" or not headings else self.rng.choice(HEADINGS[kind])
            order = order0 + i
            if kind in LISTED and len(group) >= 2 and self.rng.random() < 0.5:
                words = [self.obj_word(f) for f in group]
                listed = ", ".join(words[:-1]) + " and " + words[-1]
                text = self.rng.choice(LISTED[kind]).format(s=self.w(group[0].subject), o=listed)
                out.append(Sentence(text, tuple(group), section, order))
            else:
                out += [Sentence(self.say(f), (f,), section, order) for f in group]
        return out

    def fillers(self, topic: str, pool: Sequence[str], order: int, n: int, skip: Iterable[str] = ()) -> list[Sentence]:
        texts = [t.format(t=self.w(topic)) for t in pool]
        texts = [t for t in texts if t not in set(skip)]
        return [Sentence(t, (), "", order) for t in self.rng.sample(texts, min(n, len(texts)))]

    def fresh_first(self, sentences: list[Sentence]) -> list[Sentence]:
        return sorted(sentences, key=lambda s: all(self.stated[f] for f in s.facts))

    def fit(self, priority: list[Sentence], topic: str, filler_pool: Sequence[str], filler_order: int
            ) -> list[Sentence]:
        """Keep the first sentences up to a drawn length, pad with fillers, restore section order."""
        chosen = priority[: self.length()]
        if len(chosen) < self.p["min_sentences"]:
            missing = self.p["min_sentences"] - len(chosen)
            chosen += self.fillers(topic, filler_pool, filler_order, missing, skip=[s.text for s in chosen])
        return sorted(chosen, key=lambda s: s.order)  # stable: keeps order within a section

    def article(self) -> tuple[str, list[Sentence]]:
        topics = [c for c in self.world.categories if c not in self.hidden]
        topic = self.pick_topic(topics, lambda c: self.trained[c])
        facts = self.mentioned(self.trained[topic])
        lead = [Sentence(self.rng.choice(INTROS).format(t=self.w(topic)), (), "", 0)]
        body = self.fact_sentences(facts, 1, headings=True)
        heading = self.rng.choice(SUBGROUPS_HEADINGS)
        subs = [Sentence(self.say(f), (f,), heading, 10) for f in self.child_links(topic)]
        closing = self.fillers(topic, FILLERS, 11, 1)
        sentences = self.fit(lead + self.fresh_first(body) + subs + closing, topic, FILLERS, 0)
        return self.w(topic), sentences

    def child_links(self, topic: str) -> list[Fact]:
        return self.prioritized(self.trained[c][0] for c in self.world.children[topic])

    def overview(self) -> tuple[str, list[Sentence]]:
        parents = [c for c in self.world.categories if self.world.children[c]]
        topic = self.pick_topic(parents, lambda c: [self.trained[k][0] for k in self.world.children[c]])
        lead = [Sentence(self.rng.choice(OVERVIEW_INTROS).format(t=self.w(topic)), (), "", 0)]
        own = self.fresh_first(self.fact_sentences(self.mentioned(self.trained[topic]), 1, headings=False))
        heading = self.rng.choice(SUBGROUPS_HEADINGS)
        subs: list[Sentence] = []
        for link in self.child_links(topic):
            others = [f for f in self.trained[link.subject] if f.kind != "isa"]
            extra = self.prioritized(others)[: self.rng.randint(0, 2)]
            subs += [Sentence(self.say(f), (f,), heading, 10) for f in [link, *extra]]
        # Sentences from the top: the parent's own facts first, then as many subgroups as the length allows.
        return f"{self.w(topic)}: an overview", self.fit(lead + own + subs, topic, FILLERS, 0)

    def sheet(self) -> tuple[str, list[Sentence]]:
        topics = [c for c in self.world.categories if c not in self.hidden]
        topic = self.pick_topic(topics, lambda c: self.trained[c])
        lines = [Sentence(f"{SHEET_LABELS[f.kind]}: {self.say(f)}", (f,), "", KINDS.index(f.kind) + 1)
                 for f in self.prioritized(self.mentioned(self.trained[topic]))]
        return f"Fact sheet: {self.w(topic)}", self.fit(lines, topic, SHEET_FILLERS, 99)

    def trivia(self, full: bool = False) -> tuple[str, list[Sentence]]:
        n = max(1, (self.p["max_sentences"] if full else self.length()) - 1)
        header = Sentence(self.rng.choice(TRIVIA_HEADERS))
        return "", [header] + [Sentence(self.say(f), (f,)) for f in self.prioritized(self.all_trained)[:n]]

    def qa(self) -> tuple[str, list[Sentence]]:
        """2-10 question-answer pairs (for 4-20 sentences)."""
        lo, hi = (self.p["min_sentences"] + 1) // 2, self.p["max_sentences"] // 2
        n = self.rng.randint(lo, hi)
        out = []
        for f in self.prioritized(self.all_trained)[:n]:
            question = self.rng.choice(QA_QUESTIONS[f.kind]).format(s=self.w(f.subject))
            out += [Sentence(f"Q: {question}"), Sentence(f"A: {self.say(f)}", (f,))]
        return "", out

    def qa_fits(self) -> bool:
        """Whole question-answer pairs can fill min_sentences..max_sentences (not when both are one odd number)."""
        return (self.p["min_sentences"] + 1) // 2 <= self.p["max_sentences"] // 2

    def render(self, style: str, title: str, sentences: list[Sentence]) -> str:
        if style == "qa":
            return "\n".join(s.text for s in sentences)
        if style == "trivia":
            return "\n".join([sentences[0].text] + [f"- {s.text}" for s in sentences[1:]])
        if style == "sheet":
            return "\n".join([title] + [s.text for s in sentences])
        blocks = [title]
        current: str | None = None
        paragraph: list[str] = []
        for s in sentences:
            if s.section != current and paragraph:
                blocks.append(" ".join(paragraph))
                paragraph = []
            if s.section != current and s.section:
                blocks.append(s.section)
            current = s.section
            paragraph.append(s.text)
        blocks.append(" ".join(paragraph))
        return "\n\n".join(blocks)

    def documents(self, track: Callable[[Iterable[Any], str], Iterable[Any]]) -> list[Document]:
        builders = {"article": self.article, "overview": self.overview, "sheet": self.sheet,
                    "trivia": self.trivia, "qa": self.qa}
        drafts = []
        n_docs = self.p["n_documents"]
        for i in track(range(n_docs), "documents"):
            qa = self.rng.random() < self.p["qa_fraction"] and self.qa_fits()
            style = "qa" if qa else self.rng.choices(STYLES, STYLE_WEIGHTS)[0]
            unstated = sum(not self.stated[f] for f in self.all_trained)
            if unstated > COVERAGE_PACE * (n_docs - i):  # too few documents left: pack facts into long lists
                style = "trivia"
                title, sentences = self.trivia(full=True)
            else:
                title, sentences = builders[style]()
            facts = list(dict.fromkeys(f for s in sentences for f in s.facts))
            self.stated.update(facts)
            text = self.render(style, title, sentences)
            assert self.p["min_sentences"] <= count_sentences(text) <= self.p["max_sentences"], text
            drafts.append((text, facts))
        missing = [f for f in self.all_trained if not self.stated[f]]
        if missing:
            raise AdaptlabError(
                f"{NAME}: n_documents={self.p['n_documents']} leaves {len(missing)} of {len(self.all_trained)} "
                f"facts unstated; use more documents or a smaller n_categories"
            )
        self.rng.shuffle(drafts)
        return [Document(id=f"doc-{i:05d}", text=text, source_fact_ids=[self.fact_id(f) for f in facts])
                for i, (text, facts) in enumerate(drafts)]

    # inferences ----------------------------------------------------------------------------------------------------
    def inferred(self, c: str) -> list[tuple[str, Fact, list[Fact]]]:
        """Facts about c that follow from training but are not stated: (subtype, conclusion, premises)."""
        out = []
        chain: list[Fact] = []
        below = c
        for depth, anc in enumerate(self.world.ancestors(c), start=1):
            chain = [*chain, Fact("isa", below, anc)]
            below = anc
            if depth >= 2:
                out.append(("isa", Fact("isa", c, anc), list(chain)))
            for f in self.trained[anc]:
                if f.kind == "isa":
                    continue
                subtype = "relation" if f.kind in RELATION_KINDS else ("property" if depth == 1 else "long")
                out.append((subtype, Fact(f.kind, c, f.obj), [*chain, f]))
        return out

    # distractor pools (words) ----------------------------------------------------------------------------------------
    @cached_property
    def visible(self) -> list[str]:
        return [c for c in self.world.categories if c not in self.hidden]

    @cached_property
    def holds_kind(self) -> dict[str, list[str]]:
        """Visible categories that hold some trained fact of each kind (own or inherited)."""
        out: dict[str, list[str]] = {}
        for kind in (*PROPERTY_KINDS, *RELATION_KINDS):
            out[kind] = [c for c in self.visible
                         if any(f.kind == kind for x in [c, *self.world.ancestors(c)] for f in self.trained[x])]
        return out

    def forward_pool(self, kind: str, subject: str) -> list[str]:
        world = self.world
        if kind == "isa":
            line = world.lineage(subject)
            return [self.w(c) for c in world.categories if world.children[c] and c not in line]
        if kind in PROPERTY_KINDS:
            bad = world.possible_props(subject, kind)
            names = dict.fromkeys(f.obj for f in self.all_trained if f.kind == kind and f.obj not in bad)
            return [self.vocab[(kind, n)] for n in names]
        bad = world.related_objects(subject, kind)
        objs = dict.fromkeys(f.obj for f in self.all_trained if f.kind == kind and f.obj not in bad)
        return [self.w(o) for o in objs]

    def reverse_pool(self, kind: str, obj: str) -> list[str]:
        world = self.world
        if kind == "isa":
            line = world.lineage(obj)
            return [self.w(c) for c in world.categories if world.parent[c] is not None and c not in line]
        if kind in PROPERTY_KINDS:
            return [self.w(c) for c in self.holds_kind[kind] if obj not in world.possible_props(c, kind)]
        bad = world.related_subjects(obj, kind)
        return [self.w(c) for c in self.holds_kind[kind] if c not in bad]

    # questions -----------------------------------------------------------------------------------------------------
    def candidates(self) -> dict[str, list[Candidate]]:
        out: dict[str, list[Candidate]] = {"rephrase": [], "reversal": [], "syllogism": [], "category_holdout": []}
        for c in self.visible:
            for f in self.trained[c]:
                prompt = self.rng.choice(REPHRASE[f.kind]).format(s=self.w(c))
                out["rephrase"].append(Candidate("rephrase", f.kind, prompt, self.obj_word(f),
                                                 self.forward_pool(f.kind, c), [f]))
                prompt = self.rng.choice(REVERSE[f.kind]).format(o=self.obj_word(f))
                out["reversal"].append(Candidate("reversal", f.kind, prompt, self.w(c),
                                                 self.reverse_pool(f.kind, f.obj), [f]))
            for subtype, f, premises in self.inferred(c):
                out["syllogism"].append(self.forward_candidate("syllogism", subtype, f, premises))
        for h in self.holdouts:
            link = self.trained[h][0]
            prompt = REVERSE["isa"][0].format(o=self.w(link.obj))
            out["category_holdout"].append(Candidate("category_holdout", "reversal", prompt, self.w(h),
                                                     self.reverse_pool("isa", link.obj), [link]))
            for subtype, f, premises in self.inferred(h):
                subtype = "property" if subtype == "long" else subtype
                out["category_holdout"].append(self.forward_candidate("category_holdout", subtype, f, premises))
        return out

    def forward_candidate(self, split: str, subtype: str, f: Fact, premises: list[Fact]) -> Candidate:
        prompt = FORWARD[f.kind][0].removesuffix(" {o}.").format(s=self.w(f.subject))
        return Candidate(split, subtype, prompt, self.obj_word(f), self.forward_pool(f.kind, f.subject), premises)

    def questions(self, counts: Counter[str]) -> list[Question]:
        k = self.p["n_choices"] - 1
        questions: list[Question] = []
        for split, cands in self.candidates().items():
            for cand in cands:
                c = counts[cand.answer]
                above = sum(counts[w] > c for w in cand.pool)
                below = sum(0 < counts[w] < c for w in cand.pool)
                cand.feasible = [t for t in range(k + 1) if t <= above and k - t <= below]
            chosen = self.sample([x for x in cands if x.feasible])
            questions += self.finish(split, chosen, counts)
        return questions

    def sample(self, cands: list[Candidate]) -> list[Candidate]:
        """Round robin over subtypes (each shuffled) up to questions_per_split."""
        by_sub: dict[str, list[Candidate]] = {}
        for cand in cands:
            by_sub.setdefault(cand.subtype, []).append(cand)
        for group in by_sub.values():
            self.rng.shuffle(group)
        cap = len(cands) if cands and cands[0].split == "category_holdout" else ANSWER_CAP
        used: Counter[str] = Counter()
        chosen: list[Candidate] = []
        while len(chosen) < self.p["questions_per_split"] and any(by_sub.values()):
            for group in by_sub.values():
                while group and len(chosen) < self.p["questions_per_split"]:
                    cand = group.pop()
                    if used[cand.answer] < cap:
                        used[cand.answer] += 1
                        chosen.append(cand)
                        break
        return chosen

    def finish(self, split: str, chosen: list[Candidate], counts: Counter[str]) -> list[Question]:
        n = self.p["n_choices"]
        ranks = self.assign_ranks(chosen)
        positions = [i % n for i in range(len(chosen))]
        self.rng.shuffle(positions)
        out = []
        serial: Counter[str] = Counter()
        # Within a split a word should be the answer in 1 of every n_choices questions that show it, or a model with
        # a fixed liking for some words would beat chance: distractors go first to the words that are answers
        # elsewhere and have not yet been shown (n_choices - 1) times as often as distractors.
        as_answer = Counter(cand.answer for cand in chosen)
        as_distractor: Counter[str] = Counter()

        def pick(pool: list[str], k: int) -> list[str]:
            shuffled = self.rng.sample(pool, len(pool))
            shuffled.sort(key=lambda w: -((n - 1) * as_answer[w] - as_distractor[w]))
            return shuffled[:k]

        for cand, t, pos in zip(chosen, ranks, positions, strict=True):
            c = counts[cand.answer]
            above = [w for w in cand.pool if counts[w] > c]
            below = [w for w in cand.pool if 0 < counts[w] < c]
            distractors = pick(above, t) + pick(below, n - 1 - t)
            as_distractor.update(distractors)
            self.rng.shuffle(distractors)
            choices = [*distractors[:pos], cand.answer, *distractors[pos:]]
            serial[cand.subtype] += 1
            out.append(Question(
                id=f"{split}-{cand.subtype}-{serial[cand.subtype]:04d}", prompt=cand.prompt, choices=choices,
                answer=pos, split=split, source_fact_ids=[self.fact_id(f) for f in cand.premises],
            ))
        return out

    def assign_ranks(self, chosen: list[Candidate]) -> list[int]:
        """A frequency rank per question so that every rank is used equally often (most constrained first)."""
        usage = [0] * self.p["n_choices"]
        ranks = [0] * len(chosen)
        order = sorted(range(len(chosen)), key=lambda i: (len(chosen[i].feasible), i))
        for i in order:
            least = min(usage[t] for t in chosen[i].feasible)
            t = self.rng.choice([t for t in chosen[i].feasible if usage[t] == least])
            usage[t] += 1
            ranks[i] = t
        return ranks

    # oracle --------------------------------------------------------------------------------------------------------
    def oracle(self) -> list[Document]:
        docs = []
        turn = 0
        for c in self.world.categories:
            sentences: list[tuple[str, Fact]] = []
            for _, f, _ in self.inferred(c):
                sentences.append((self.say(f, FORWARD[f.kind][0]), f))
            for f in self.trained[c]:
                frame = REVERSE[f.kind][turn % len(REVERSE[f.kind])]
                turn += 1
                sentences.append((frame.format(o=self.obj_word(f)) + f" {self.w(c)}.", f))
            step = self.p["max_sentences"]
            for i in range(0, len(sentences), step):
                chunk = sentences[i : i + step]
                docs.append(Document(id=f"oracle-{len(docs):05d}", text=" ".join(s for s, _ in chunk),
                                     source_fact_ids=list(dict.fromkeys(self.fact_id(f) for _, f in chunk))))
        return docs


def word_counts(documents: Iterable[Document]) -> Counter[str]:
    """Token counts of the training text, tokenized as the surface baseline does."""
    counts: Counter[str] = Counter()
    for doc in documents:
        counts.update(TOKEN.findall(doc.text.lower()))
    return counts


def _choose_world(rng: random.Random, n_categories: int) -> World:
    if n_categories >= len(WORLD.categories):
        return WORLD
    """A random part of the world with exactly n_categories, closed under ancestors."""
    order = rng.sample(WORLD.categories, len(WORLD.categories))
    keep: set[str] = set()
    while len(keep) < n_categories:  # a category whose ancestors are kept adds one, so every pass makes progress
        for c in order:
            grown = keep | {c, *WORLD.ancestors(c)}
            if len(grown) <= n_categories:
                keep = grown
    return WORLD.subset(keep)


def _choose_holdouts(rng: random.Random, world: World, n_holdout: int) -> list[str]:
    """Leaves that are not the object of a relation, with distinct parents, in world order."""
    objects = {r.obj for r in world.relations}
    eligible = [c for c in world.categories if not world.children[c] and world.parent[c] and c not in objects]
    chosen: list[str] = []
    parents: set[str | None] = set()
    for c in rng.sample(eligible, len(eligible)):
        if len(chosen) < n_holdout and world.parent[c] not in parents:
            chosen.append(c)
            parents.add(world.parent[c])
    return [c for c in world.categories if c in chosen]


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
) -> Generated:
    """Draw the semantic-structure dataset for `seed` (defaults: the paper's sizes)."""
    params: dict[str, Any] = {
        "n_documents": n_documents, "n_categories": n_categories, "n_holdout": n_holdout,
        "questions_per_split": questions_per_split, "n_choices": n_choices, "min_sentences": min_sentences,
        "max_sentences": max_sentences, "qa_fraction": qa_fraction,
    }
    _check_params(params)
    rng = random.Random(f"{NAME}-{seed}")
    world = _choose_world(rng, n_categories)
    holdouts = _choose_holdouts(rng, world, n_holdout)
    gen = _Generator(seed, world, holdouts, rng, params)
    documents = gen.documents(track)
    questions = gen.questions(word_counts(documents))
    if not questions:
        raise AdaptlabError(f"{NAME}: a world of {len(world.categories)} categories leaves no {n_choices}-choice "
                            f"question with enough distractors; use a larger n_categories or a smaller n_choices")
    return Generated(documents=documents, questions=questions, oracle=gen.oracle(), params=params)
