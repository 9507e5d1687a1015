"""The semantic dataset's world: the English hierarchy and relations, the strict-inheritance world model, the
nonsense word of every category and property for a seed, and one seed's draw (`Draw`: the part of the world, its
held-out categories, the words and the random stream) that the document and question writers share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from adaptlab.data.lexicon import Lexicon
from adaptlab.data.semantic.templates import FORWARD

NAME = "semantic"

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


def choose_world(rng: random.Random, n_categories: int) -> World:
    """A random part of the world with exactly n_categories, closed under ancestors."""
    if n_categories >= len(WORLD.categories):
        return WORLD
    order = rng.sample(WORLD.categories, len(WORLD.categories))
    keep: set[str] = set()
    while len(keep) < n_categories:  # a category whose ancestors are kept adds one, so every pass makes progress
        for c in order:
            grown = keep | {c, *WORLD.ancestors(c)}
            if len(grown) <= n_categories:
                keep = grown
    return WORLD.subset(keep)


def choose_holdouts(rng: random.Random, world: World, n_holdout: int) -> list[str]:
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


class Draw:
    """One seed's draw: the world (or part of it), its held-out categories, the nonsense words, the facts written in
    training, the random stream and the parameters. Held-out categories are trained on their parent link only."""

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
