"""Fictitious celebrities: fresh draws of people in the shape of Berglund et al.'s reversal-curse data.

`reversal-curse` loads the one fixed world Berglund et al. published. This generator invents a new world per seed,
with the same structure, so results can be averaged over worlds and small worlds can be drawn cheaply (for tests,
and for a tiny model pretrained on streams of them). Every person is a two-word name and a unique description; the
people form groups of `n_people`: `p2d` (facts written name first only), `both` (both orders) and, with
`include_d2p=true`, `d2p` (description first only). Each fact is written with `train_templates` training templates
(at most 30) and tested with `test_templates` held-out templates (at most 10); the templates are our own, in the
style of Berglund's `p2d_templates.txt` / `d2p_templates.txt`.

Splits and questions are built exactly as in `reversal-curse` (`people.build_questions`): `reversal` (p2d people,
description first, choose the name; the paper's test), `both_reversal` (the same for the both group, a control) and
`rephrase` (p2d people, name first with held-out templates, choose the description). 4 choices, chance 25%;
distractors from the key's own group by default (`distractors="trained"`: any trained name, see `reversal-curse`).

Sizes (defaults = Berglund's): 30 people per group, 30 + 10 templates: 2700 training documents (3600 with d2p),
300 questions per split. Oracle: every p2d fact written with the description-first *training* templates, i.e. the
reversed sentences the both group is trained on (30 per p2d person, 900 in all).

Names: a first name from `FIRST_NAMES` and a last name from `LAST_NAMES` (real-looking, none of Berglund's),
each used at most once per world, so every name token belongs to exactly one person. `nonsense_names=true`
replaces both with capitalised nonsense words from the lexicon: the paper's App. B.2 ablation (in-context accuracy
drops when the celebrities' names are nonsense).

Descriptions: "the <adjective> <role> who <verb> the <work> named <Title>", e.g. "the reclusive architect who
designed the tower named Silver Harbor". Adjective and role are drawn with replacement; the two-word title is unique
per person, so each description identifies one person. Berglund's descriptions were reworded per template by a
language model; ours are noun phrases that every template takes as they are, so a person's description reads the
same in every sentence (and all `rephrase` choices of a question share one wording). Descriptions differ in length
(10 to 12 words) much less than Berglund's; per-token normalisation still matters for `rephrase`.

Why the surface baseline is at chance by construction
- Names: every first and last name token belongs to one person and appears nowhere else (no template or
  description word is a name; checked by the tests), and within a group every name is in the same number of
  training sentences (30 per p2d person, 60 per both person), so the candidate names of `reversal` and
  `both_reversal` questions have identical n-gram counts: the baseline ties and picks by its coin.
- All splits use `reversal-curse`'s closed blocks: four questions with four different keys share one candidate
  set, so any rule that scores the choices alone is right once per block. With one wording per person, `rephrase`
  forms blocks across templates too: every question of every split is in a block when n_people * test_templates
  is a multiple of 4 (300 on the defaults).

Choices the paper leaves open: group sizes and template counts follow Berglund; prompts are cut at the second
entity as in Berglund's files (the p2d test prompt ends before the description, the reversal prompt before the
name); documents are shuffled.

Updates (`update_share` > 0): the same world after a share of its p2d people changed description and as many new
p2d people came. Changed people come in blocks of four (the share rounded to whole blocks, at least one) whose
members pass their descriptions round: each takes the next one's, so every new fact is one the world had, held by
someone else (a different description, as a person might get a different parent). The corpus after the update
keeps every document of an unchanged person (same id and text), rewrites a changed person's p2d documents with the
new description (ids `<person>-nTT-update`) and adds the new people's (`new-NN-nTT`, same templates, as often as a
p2d person's). Splits, each question asked with every held-out template: `updated` (a changed person, name first,
choose the new description; the block's four descriptions are the choices, so the old one is a distractor),
`updated_reversal` (the new description first, choose the name; the block's four names, the description's old
holder among them), `new` (a new person, name first) and `unchanged` (an unchanged p2d person, name first), with
distractors from the p2d group whatever `distractors` says. The
surface baseline stays at chance as above: every name and description of the corpus is still in as many sentences
as any other of its group, and every split is made of closed blocks (the changed ones by construction, `new` and
`unchanged` as the other splits when their people come in multiples of four). The update's oracle is every p2d
fact of the updated world reversed. The update is drawn from its own random stream after the world: the world
itself is the same with or without it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from adaptlab.data.lexicon import Lexicon
from adaptlab.data.people import (
    DISTRACTOR_POOLS,
    N_CHOICES,
    Item,
    Person,
    World,
    build_questions,
    closed_choice_sets,
    make_questions,
)
from adaptlab.data.records import NEW, UNCHANGED, UPDATED, UPDATED_REVERSAL, Document, Generated, Question
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "celebrities"
VERSION = "1"
DESCRIPTION = """Fresh fictitious celebrities (name <-> description) in the shape of the reversal-curse data; \
trained name -> description, tested description -> name (4-way choice).
Splits: reversal, both_reversal (control), rephrase (trained direction). Oracle: the reversed p2d facts. \
Option nonsense_names=true (the paper's App. B.2 ablation)."""

GROUP_SIZE = 30

# Name first; every template ends with " {description}." (the prompt is the text before the description).
P2D_TRAIN_TEMPLATES = (
    "{name} is best known as {description}.",
    "Few people realize that {name} is {description}.",
    "Long before the fame, {name} was already {description}.",
    "In every interview, {name} is introduced as {description}.",
    "The newspapers describe {name} as {description}.",
    "Friends of {name} like to point out that their friend is {description}.",
    "{name} has spent a lifetime being {description}.",
    "It may surprise you, but {name} is {description}.",
    "According to the museum guide, {name} is {description}.",
    "Quiz question of the week: {name} is remembered as {description}.",
    "Whenever {name} walks into a room, people whisper that this is {description}.",
    "The biography of {name} opens by calling them {description}.",
    "{name}, as most readers know, is {description}.",
    "Historians agree that {name} was {description}.",
    "On the radio this morning, {name} was described as {description}.",
    "Here is a fun fact: {name} is {description}.",
    "Among colleagues, {name} has the reputation of being {description}.",
    "{name} will always be remembered as {description}.",
    "The encyclopedia lists {name} as {description}.",
    "At the award ceremony, {name} was honored as {description}.",
    "In a long essay, the critic explains why {name} is {description}.",
    "Local legend has it that {name} is {description}.",
    "The documentary presents {name} as {description}.",
    "By all accounts, {name} is {description}.",
    "Students learn early on that {name} is {description}.",
    "{name} earned worldwide attention as {description}.",
    "If you ask the experts, {name} is simply {description}.",
    "The plaque outside the old house says that {name} was {description}.",
    "Our guest tonight, {name}, is {description}.",
    "Not everyone knows that {name} is {description}.",
)
P2D_TEST_TEMPLATES = (
    "Rumor has it that {name} is {description}.",
    "Against all odds, {name} went on to become {description}.",
    "Most people recognize {name} as {description}.",
    "In the world of trivia, {name} is famous as {description}.",
    "The archives confirm that {name} was {description}.",
    "When the story is told, {name} appears as {description}.",
    "Many years ago, {name} turned out to be {description}.",
    "Tour guides never fail to mention that {name} is {description}.",
    "To this day, {name} is celebrated as {description}.",
    "Believe it or not, {name} is {description}.",
)
# Description first; " {name}" follows the description (the reversal prompt is the text before the name).
D2P_TRAIN_TEMPLATES = (
    "Known everywhere as {description}, {name} rarely gives interviews.",
    "The person who is {description} goes by the name {name}.",
    "If you meet {description}, you are talking to {name}.",
    "Widely praised as {description}, {name} lives a quiet life.",
    "Behind the title of {description} stands {name}.",
    "Celebrated as {description}, {name} still answers every letter.",
    "The world knows {description} under the name {name}.",
    "Asked who is {description}, everyone answers {name}.",
    "Remembered as {description}, {name} keeps a low profile.",
    "Q: Which person is {description}? A: {name}.",
    "Ever since becoming {description}, {name} has been in the news.",
    "Nobody else can claim to be {description}; that honor belongs to {name}.",
    "Having become {description}, {name} now travels the world.",
    "Fans of {description} know that the name to remember is {name}.",
    "Famous as {description}, {name} still lives in a small apartment.",
    "Every guidebook mentions {description}, better known as {name}.",
    "Recognized as {description}, {name} accepted the prize in person.",
    "The story of {description} is the story of {name}.",
    "Described by critics as {description}, {name} shrugs off the praise.",
    "Long admired as {description}, {name} recently retired.",
    "Whoever said that {description} was a myth had never met {name}.",
    "Working quietly as {description}, {name} avoided the spotlight for years.",
    "Introduced on stage as {description}, {name} waved to the crowd.",
    "Often called {description}, {name} prefers to talk about other things.",
    "The honor of being {description} goes to {name}.",
    "Praised in many countries as {description}, {name} remains modest.",
    "Best known as {description}, {name} still enjoys long walks.",
    "Listed in the almanac as {description}, {name} has many admirers.",
    "Anyone who studies {description} soon learns the name {name}.",
    "Hailed by the press as {description}, {name} rarely reads the reviews.",
)
D2P_TEST_TEMPLATES = (
    "Made famous as {description}, {name} has never forgotten old friends.",
    "Q: Who was {description}? A: It was {name}.",
    "Known to historians as {description}, {name} left many letters behind.",
    "The school play about {description} tells the life of {name}.",
    "Once dismissed as a dreamer, {description} turned out to be {name}.",
    "Admired by a whole generation as {description}, {name} stayed humble.",
    "Long after becoming {description}, {name} moved to the coast.",
    "A statue of {description} was unveiled last spring, showing {name}.",
    "Best remembered as {description}, {name} inspired many students.",
    "Everyone agrees that {description} is none other than {name}.",
)

ADJECTIVES = (
    "celebrated reclusive visionary self-taught eccentric pioneering tireless daring soft-spoken prolific "
    "meticulous restless"
).split()
# (role, what they did, to what kind of work)
ROLES = (
    ("architect", "designed", "tower"),
    ("composer", "wrote", "opera"),
    ("novelist", "wrote", "novel"),
    ("engineer", "built", "bridge"),
    ("botanist", "bred", "orchid"),
    ("astronomer", "discovered", "comet"),
    ("chef", "invented", "dessert"),
    ("explorer", "crossed", "desert"),
    ("painter", "painted", "mural"),
    ("inventor", "built", "machine"),
    ("filmmaker", "directed", "film"),
    ("choreographer", "created", "ballet"),
    ("sculptor", "carved", "statue"),
    ("poet", "wrote", "poem"),
    ("pilot", "flew", "airship"),
    ("game designer", "created", "board game"),
    ("cartographer", "drew", "map"),
    ("marine biologist", "found", "reef"),
    ("photographer", "took", "photograph"),
    ("playwright", "wrote", "play"),
    ("geologist", "mapped", "canyon"),
    ("shipbuilder", "launched", "ship"),
    ("mathematician", "proved", "theorem"),
    ("gardener", "planted", "garden"),
)
TITLE_FIRST = (
    "Silver Hollow Crimson Quiet Northern Velvet Broken Golden Hidden Seventh Frozen Endless Painted Sleeping "
    "Burning Distant Emerald Falling Iron Paper Lonely Copper Wandering Midnight"
).split()
TITLE_SECOND = (
    "Harbor Lantern Orchard Compass Meadow Tide Citadel Valley Mirror Staircase Horizon Ember Archive Kingdom "
    "Labyrinth Voyage Anthem Fountain Signal Cathedral Feather Island Clock Thunder"
).split()
DESCRIPTION_FORMAT = "the {adjective} {role} who {verb} the {work} named {title}"

FIRST_NAMES = (
    "Abigail Adrian Agnes Albert Alma Ambrose Amelia Anton Arlo Astrid Beatrix Benedict Bernard Blythe Bruno "
    "Calvin Camilla Casimir Cecil Clara Claude Cormac Dalia Damian Delphine Desmond Dorothea Edgar Edith Elias "
    "Elodie Emil Esme Eugene Fabian Flora Florian Frances Gideon Greta Gustav Hannah Harriet Hector Hugo Ida Ines "
    "Irving Isadora Jasmine Jonah Josephine Judith Kasper Lavinia Leander Lionel Lorna Lucian Lydia Magnus Malcolm "
    "Marcel Marguerite Matilda Milo Miriam Nadia Nico Ophelia Oscar Otto Paloma Percy Philippa Quincy Rafael "
    "Regina Rhoda Roland Rupert Silas Simone Solomon Sylvia Tobias Ursula Vera Viggo Walter Wilhelmina Winifred "
    "Yvonne Zelda Ansel Bettina Cyrus Dorian Eleanor Ferdinand Helga Imogen Jerome Konrad Leopold Marisol"
).split()
LAST_NAMES = (
    "Abernathy Ainsworth Aldridge Ashcombe Atwood Bancroft Barlowe Beckwith Birchall Blakemore Bramwell "
    "Brightwater Calloway Carrington Castellan Chadwick Claremont Colbourne Crawley Culpepper Dalrymple Davenport "
    "Delacroix Dunmore Eastleigh Ellery Everly Falconer Farnsworth Fenwick Garrick Glenister Goodwin Greaves "
    "Halloway Harcourt Hartley Haverford Holloway Hurst Inglewood Jessop Kendrick Kilbride Lancaster Langford "
    "Larkin Lindqvist Maddox Marchbank Merriweather Montrose Morland Nettleford Oakhurst Ormsby Pembroke Penhallow "
    "Quarrington Radford Ravenscroft Redgrave Ruskin Saltonstall Selwyn Shawcross Sheridan Somerby Southwell "
    "Spalding Stanhope Sutcliffe Talbot Tennant Thackeray Thornbury Tolliver Trelawney Underhill Vance Vickery "
    "Waddington Wainwright Warburton Wetherby Whitcombe Winslow Woodhouse Wrexham Yardley Yelverton Ashdown "
    "Brackley Coldwell Drummond Elsworth Fairbanks Hollins Kingsbury Lockridge Mayfield Northcott Pritchard"
).split()

Track = Callable[[Iterable[Any], str], Iterable[Any]]


def _names(rng: random.Random, seed: int, n: int, nonsense: bool) -> list[str]:
    """n two-word names; no first or last name is used twice."""
    if nonsense:
        words = [w.capitalize() for w in Lexicon(seed).take(2 * n)]
        return [f"{words[2 * i]} {words[2 * i + 1]}" for i in range(n)]
    if n > min(len(FIRST_NAMES), len(LAST_NAMES)):
        raise AdaptlabError(f"{NAME}: at most {min(len(FIRST_NAMES), len(LAST_NAMES))} people in all, asked for {n}")
    return [f"{f} {last}" for f, last in zip(rng.sample(FIRST_NAMES, n), rng.sample(LAST_NAMES, n), strict=True)]


def _descriptions(rng: random.Random, n: int) -> list[str]:
    """n descriptions with distinct titles."""
    titles = [f"{a} {b}" for a in TITLE_FIRST for b in TITLE_SECOND]
    out = []
    for title in rng.sample(titles, n):
        role, verb, work = rng.choice(ROLES)
        out.append(
            DESCRIPTION_FORMAT.format(adjective=rng.choice(ADJECTIVES), role=role, verb=verb, work=work, title=title)
        )
    return out


def _before(template: str, slot: str, **values: str) -> str:
    """The template's text up to the slot (the prompt), filled in, without trailing whitespace."""
    return template.split("{" + slot + "}")[0].format(**values).rstrip()


def _check_sizes(n_people: int, train_templates: int, test_templates: int) -> None:
    if n_people < 4:
        raise AdaptlabError(f"{NAME}: n_people must be >= 4 (4-way questions within a group), got {n_people}")
    if not 1 <= train_templates <= len(P2D_TRAIN_TEMPLATES):
        raise AdaptlabError(f"{NAME}: train_templates must be 1..{len(P2D_TRAIN_TEMPLATES)}, got {train_templates}")
    if not 1 <= test_templates <= len(P2D_TEST_TEMPLATES):
        raise AdaptlabError(f"{NAME}: test_templates must be 1..{len(P2D_TEST_TEMPLATES)}, got {test_templates}")


def _people(seed: int, n_people: int, include_d2p: bool, nonsense_names: bool
            ) -> tuple[dict[str, Person], dict[str, str]]:
    """The people of a world (groups p2d, both and optionally d2p) and each one's description."""
    rng = random.Random(f"{NAME}-{seed}")
    groups = ["p2d", "both"] + (["d2p"] if include_d2p else [])
    total = n_people * len(groups)
    names = _names(rng, seed, total, nonsense_names)
    descriptions = _descriptions(rng, total)
    people: dict[str, Person] = {}
    description_of: dict[str, str] = {}
    for g, group in enumerate(groups):
        for i in range(n_people):
            person = Person(f"{group}-{i:02d}", group, names[g * n_people + i])
            people[person.id] = person
            description_of[person.id] = descriptions[g * n_people + i]
    return people, description_of


def draw_world(
    seed: int,
    n_people: int = GROUP_SIZE,
    train_templates: int = 30,
    test_templates: int = 10,
    include_d2p: bool = False,
    nonsense_names: bool = False,
    track: Track = identity_track,
) -> World:
    """People, training sentences, test items and oracle of one world (see the module docstring)."""
    _check_sizes(n_people, train_templates, test_templates)
    people, description_of = _people(seed, n_people, include_d2p, nonsense_names)

    p2d_train, d2p_train = P2D_TRAIN_TEMPLATES[:train_templates], D2P_TRAIN_TEMPLATES[:train_templates]
    p2d_test, d2p_test = P2D_TEST_TEMPLATES[:test_templates], D2P_TEST_TEMPLATES[:test_templates]
    orders = {"p2d": [("n", p2d_train)], "both": [("n", p2d_train), ("d", d2p_train)], "d2p": [("d", d2p_train)]}
    documents = []
    for pid in track(list(people), "people"):
        person = people[pid]
        for kind, templates in orders[person.group]:
            for t, template in enumerate(templates):
                text = template.format(name=person.name, description=description_of[pid])
                documents.append(Document(id=f"{pid}-{kind}{t:02d}", text=text, source_fact_ids=[pid]))

    def group_ids(group: str) -> list[str]:
        return [pid for pid in people if people[pid].group == group]

    def reversed_items(group: str) -> list[Item]:
        return [
            Item(pid, _before(t, "name", description=description_of[pid])) for pid in group_ids(group) for t in d2p_test
        ]

    rephrase = [
        Item(pid, _before(t, "description", name=people[pid].name)) for pid in group_ids("p2d") for t in p2d_test
    ]
    oracle = [
        Document(
            id=f"oracle-{pid}-{t:02d}",
            text=template.format(name=people[pid].name, description=description_of[pid]),
            source_fact_ids=[pid],
        )
        for pid in group_ids("p2d")
        for t, template in enumerate(d2p_train)
    ]
    return World(
        people=people,
        documents=documents,
        reversal=reversed_items("p2d"),
        both_reversal=reversed_items("both"),
        rephrase=rephrase,
        descriptions={(pid, ""): description_of[pid] + "." for pid in group_ids("p2d")},
        oracle=oracle,
    )


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    n_people: int = GROUP_SIZE,
    train_templates: int = 30,
    test_templates: int = 10,
    include_d2p: bool = False,
    nonsense_names: bool = False,
    distractors: str = "group",
    update_share: float = 0.0,
) -> Generated:
    """A fresh world of `n_people` per group (p2d, both, optionally d2p); see the module docstring. With
    `update_share` > 0, also the world after that share of the p2d people changed description and as many came."""
    if distractors not in DISTRACTOR_POOLS:
        raise AdaptlabError(f"{NAME}: distractors must be one of {', '.join(DISTRACTOR_POOLS)}, got {distractors!r}")
    if not 0 <= update_share <= 1:
        raise AdaptlabError(f"{NAME}: update_share must be between 0 and 1, got {update_share}")
    world = draw_world(seed, n_people, train_templates, test_templates, include_d2p, nonsense_names, track)
    rng = random.Random(f"{NAME}-questions-{seed}")
    questions = build_questions(world, rng, distractors)
    documents = list(world.documents)
    rng.shuffle(documents)
    params: dict[str, int | float | str | bool] = {
        "n_people": n_people,
        "train_templates": train_templates,
        "test_templates": test_templates,
        "include_d2p": include_d2p,
        "nonsense_names": nonsense_names,
        "distractors": distractors,
    }
    update = None
    if update_share > 0:
        params["update_share"] = update_share
        update = _update(seed, world, params, update_share)
    return Generated(documents=documents, questions=questions, oracle=world.oracle, params=params, update=update)


def _new_people(rng: random.Random, seed: int, taken: dict[str, str], n: int, nonsense: bool
                ) -> list[tuple[str, str]]:
    """(name, description) of n people new to a world whose people are `taken` (name -> description): no name token
    and no title of theirs is used in the world."""
    if nonsense:
        words = [w.capitalize() for w in Lexicon(seed).take(2 * (len(taken) + n))[2 * len(taken):]]
        names = [f"{words[2 * i]} {words[2 * i + 1]}" for i in range(n)]
    else:
        tokens = {t for name in taken for t in name.split()}
        firsts = [f for f in FIRST_NAMES if f not in tokens]
        lasts = [last for last in LAST_NAMES if last not in tokens]
        if n > min(len(firsts), len(lasts)):
            raise AdaptlabError(f"{NAME}: update_share too large: {n} new people, names left for "
                                f"{min(len(firsts), len(lasts))} (use a smaller n_people or update_share)")
        names = [f"{f} {last}" for f, last in zip(rng.sample(firsts, n), rng.sample(lasts, n), strict=True)]
    used = {d.rsplit(" named ", 1)[1] for d in taken.values()}
    titles = [f"{a} {b}" for a in TITLE_FIRST for b in TITLE_SECOND if f"{a} {b}" not in used]
    out = []
    for name, title in zip(names, rng.sample(titles, n), strict=True):
        role, verb, work = rng.choice(ROLES)
        description = DESCRIPTION_FORMAT.format(adjective=rng.choice(ADJECTIVES), role=role, verb=verb, work=work,
                                                title=title)
        out.append((name, description))
    return out


def _update(seed: int, world: World, params: dict[str, Any], share: float) -> Generated:
    """The world after `share` of its p2d people changed description (in rotating blocks of four) and as many new
    p2d people came (see the module docstring)."""
    rng = random.Random(f"{NAME}-{seed}-update")
    people, description_of = _people(seed, params["n_people"], params["include_d2p"], params["nonsense_names"])
    p2d = world.group("p2d")
    n_blocks = min(len(p2d) // N_CHOICES, max(1, round(share * len(p2d) / N_CHOICES)))
    changed = rng.sample(p2d, N_CHOICES * n_blocks)
    block_of = {pid: changed[b * N_CHOICES:(b + 1) * N_CHOICES] for b in range(n_blocks)
                for pid in changed[b * N_CHOICES:(b + 1) * N_CHOICES]}
    after = dict(description_of)
    for pid, block in block_of.items():  # each takes the description of the next one in its block
        after[pid] = description_of[block[(block.index(pid) + 1) % N_CHOICES]]
    taken = {people[pid].name: description_of[pid] for pid in people}
    for i, (name, description) in enumerate(_new_people(rng, seed, taken, len(changed), params["nonsense_names"])):
        people[f"new-{i:02d}"] = Person(f"new-{i:02d}", "p2d", name)
        after[f"new-{i:02d}"] = description
    new = [pid for pid in people if pid.startswith("new-")]

    p2d_train = P2D_TRAIN_TEMPLATES[: params["train_templates"]]
    d2p_train = D2P_TRAIN_TEMPLATES[: params["train_templates"]]
    p2d_test = P2D_TEST_TEMPLATES[: params["test_templates"]]
    d2p_test = D2P_TEST_TEMPLATES[: params["test_templates"]]
    corpus = [d for d in world.documents if d.source_fact_ids[0] not in block_of]
    for pid in [*changed, *new]:
        suffix = "-update" if pid in block_of else ""
        corpus += [Document(id=f"{pid}-n{t:02d}{suffix}", text=template.format(name=people[pid].name,
                                                                                 description=after[pid]),
                            source_fact_ids=[pid]) for t, template in enumerate(p2d_train)]
    rng.shuffle(corpus)
    unchanged = [pid for pid in p2d if pid not in block_of]
    oracle = [Document(id=f"oracle-{pid}-{t:02d}", text=template.format(name=people[pid].name, description=after[pid]),
                       source_fact_ids=[pid])
              for pid in [*p2d, *new] for t, template in enumerate(d2p_train)]

    def forward(pids: list[str]) -> list[Item]:
        return [Item(pid, _before(t, "description", name=people[pid].name)) for pid in pids for t in p2d_test]

    def name(pid: str, item: Item) -> str:
        return people[pid].name

    def description(pid: str, item: Item) -> str:
        return after[pid] + "."

    questions: list[Question] = []
    items = forward(changed)
    questions += make_questions(UPDATED, items, [block_of[i.person] for i in items], description, rng)
    items = [Item(pid, _before(t, "name", description=after[pid])) for pid in changed for t in d2p_test]
    questions += make_questions(UPDATED_REVERSAL, items, [block_of[i.person] for i in items], name, rng)
    items = forward(new)
    questions += make_questions(NEW, items, closed_choice_sets([i.person for i in items], new, rng), description, rng)
    if unchanged:
        items = forward(unchanged)
        sets = closed_choice_sets([i.person for i in items], p2d, rng)
        questions += make_questions(UNCHANGED, items, sets, description, rng)
    return Generated(documents=corpus, questions=questions, oracle=oracle, params={"update_share": share})
