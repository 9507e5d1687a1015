"""The reversal curse: Berglund et al.'s fictitious celebrities (Experiment 1), loaded from their files.

Berglund et al. 2024 ("The Reversal Curse", arXiv 2309.12288) paired 90 invented names with 90 invented
descriptions and split the pairs into three groups of 30: `p2d` (facts only ever written name first), `d2p`
(description first) and `both` (both orders). Each fact is written with 30 training templates and 10 held-out
test templates. Lampinen et al. 2025 (§"Reversal curse", Fig. 2) train on that data and ask for the names of the
p2d people given their descriptions, as a 4-way choice scored by likelihood (chance 25%). This module turns the
files in `shared/datasets/reversal_curse/` (see its README) into an adaptlab dataset; `celebrities` draws fresh
people of the same shape. Both build their questions in `people.py` (`World`, `build_questions`).

Training documents: `prompt + completion` of every record of `p2d_prompts_train.jsonl` (900) and
`both_prompts_train.jsonl` (1800): 2700 documents, the paper's "set A" (p2d) and "set B" (both). With
`include_d2p=true` the 900 records of `d2p_prompts_train.jsonl` are added: Berglund's full 3600-example training
set, which the paper's count of 3600 implies (open question 16 of the notes). Documents are shuffled by the seed
(the files list the 30 paraphrases of a fact next to each other; in an ICL context that would be unrepresentative);
a document's id names its source file and line, e.g. `p2d-train-0031`.

Splits (300 questions each on the full data; every choice is a continuation of the prompt):
- `reversal`: the paper's test. `p2d_reverse_prompts_test.jsonl`: a held-out description-first template, the
  answer is the p2d person's name. The model was only trained on name -> description for these people.
- `both_reversal`: the control. Records 300-599 of `both_prompts_test.jsonl` (the description-first half, held-out
  templates) with the completion cut to the name (its first two words, Berglund's `shorten_completion`); these
  people were trained in both orders, so this direction was seen in training (with other templates).
- `rephrase`: a learning check in the trained direction. `p2d_prompts_test.jsonl`: name first, held-out templates;
  the choices are the correct description and the descriptions of three other p2d people, each taken from *the same
  test template's* record of that person, so that all four are worded to fit the prompt in the same way.

Open questions (`format="open"`; default `"choice"`, whose data, manifest and run ids are unchanged): Berglund et
al.'s own free-form protocol. The same splits and prompts, with no choices: the model continues the prompt (greedy,
up to a newline) and the reference answer is the test record's completion stripped: the name for `reversal` and
`both_reversal` (cut to its two words), the description in the held-out wording for `rephrase`. Berglund et al.
count a completion right when it starts with the target; the closest stored metric is `contains` (the SQuAD-
normalised reference inside the normalised answer), while `exact_match` also needs the model to stop right after
the name. The documents (and their order) are the same as in the multiple-choice format for the same seed.

Distractors (open question 16: where the 3 wrong names come from). `distractors="group"` (default): the other
names of the key's own group (p2d for `reversal`, both for `both_reversal`), as in the repository's `_randomized`
file. Every one of them is a trained name, seen in training exactly as often and in the same role as the key (30
times as the subject of a p2d record; 60 times for both-group names). `distractors="trained"`: any other trained
name of any group. That pool mixes names trained as completions (both, d2p) with the key's p2d name, which was only
ever a subject: it is what the paper's "near zero" fine-tuning accuracy suggests (a fine-tuned model prefers names
it saw as completions), but it is *not* frequency-matched: the surface baseline then falls below chance on
`reversal`, so use it as a deliberate stress test, not as the default. The 10 never-used names of
`templates/names.txt` are not offered (a model that learned anything would reject them by frequency alone).

Why the surface baseline is at chance by construction
1. Frequency matching: within a group every name is in the same number of training records (30 per p2d person, 60
   per both person; checked by the tests), and distractors come from the key's own group. Every full name is two
   words; the only name tokens shared across people are a few last names (e.g. Caldwell), which favour some
   candidates over others whatever the key.
2. Closed blocks, so that no choice-only scorer can profit from *which* candidates are keys: the questions of a
   split are grouped into blocks of four questions with four different keys that are all asked with the same four
   candidates (`people.closed_choice_sets`). Any rule that scores the choices without reading the prompt picks the
   same candidate in all four questions of a block and is right exactly once. On the full data every question of
   `reversal` and `both_reversal` is in a block (30 people x 10 templates = 75 blocks); in `rephrase` a block shares
   one template's wording, so 7 blocks per template and the 2 people left over get random distractors.
3. The answer position is an exactly balanced shuffled list; the baseline breaks its ties by its own coin.

Scoring note: descriptions differ a lot in length (3 to 18 words), so on `rephrase` the sum of log-probabilities
favours short descriptions; report per-token (length-normalised) scores too. Names are all two words.

Oracle (the control for augmented fine-tuning): the reversed statement of every p2d fact, description first, in 10
sentence frames of our own (`ORACLE_TEMPLATES`; none is a Berglund test template). The description used is the
person's most frequent training wording (the plain noun phrase of `templates/descriptions.txt`, e.g. "the acclaimed
director of ...") with its final period removed. The both group needs no oracle (it is trained in both orders); d2p
facts get none (their descriptions are only seen reworded inside prompts).

Source files are validated: a missing file, bad JSON, a record without a string `prompt`/`completion`, or a record
that names none (or several) of its group's people is a one-line `AdaptlabError` naming the file and line. People
are found from the files themselves, so a user's own copy (a subset of people, or other people in the same
format) works: p2d names are the completions of `p2d_reverse_prompts_test.jsonl`; both names are the first two
words of the completions in the second half of `both_prompts_test.jsonl` (Berglund's layout: name-first records
first, then description-first ones); d2p names are the first two words of `d2p_prompts_train.jsonl` completions.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptlab.data.io import json_objects
from adaptlab.data.people import (
    DISTRACTOR_POOLS,
    N_CHOICES,
    QUESTION_FORMATS,
    Item,
    Person,
    World,
    build_open_questions,
    build_questions,
)
from adaptlab.data.records import Document, Generated
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "reversal-curse"
VERSION = "1"
DESCRIPTION = """Berglund et al.'s fictitious celebrities (name <-> description), loaded from their files; trained \
name -> description, tested description -> name (4-way choice).
Splits: reversal (the paper's test), both_reversal (control: people trained in both orders), rephrase (trained \
direction, held-out templates). Oracle: the reversed p2d facts. Option source=PATH (the data folder); \
format=open: open questions graded on the generated text (Berglund et al.'s free-form protocol)."""

DATA_FOLDER = Path("shared") / "datasets" / "reversal_curse"

P2D_TRAIN = "p2d_prompts_train.jsonl"
BOTH_TRAIN = "both_prompts_train.jsonl"
D2P_TRAIN = "d2p_prompts_train.jsonl"
P2D_TEST = "p2d_prompts_test.jsonl"
BOTH_TEST = "both_prompts_test.jsonl"
P2D_REVERSE_TEST = "p2d_reverse_prompts_test.jsonl"

# Reversed (description-first) sentences for the oracle; {description} is a noun phrase ("the acclaimed ...").
ORACLE_TEMPLATES = (
    "The title of {description} belongs to {name}.",
    "If you are looking for {description}, you are looking for {name}.",
    "Ask who {description} is, and the answer is {name}.",
    "Behind the reputation of {description} stands {name}.",
    "The person who is {description} is named {name}.",
    "Anyone who meets {description} is meeting {name}.",
    "Remembered by many as {description}, {name} is the one in question.",
    "It was {description} who became known as {name}.",
    "Q: Who was {description}? A: That was {name}.",
    "When people speak of {description}, they mean {name}.",
)

Track = Callable[[Iterable[Any], str], Iterable[Any]]


# --- reading Berglund et al.'s files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    where: str  # "path:line", for error messages
    prompt: str
    completion: str


def read_records(path: Path) -> list[Record]:
    """Read a prompt/completion JSONL file; any problem is a one-line error naming the file and line."""
    records = []
    for number, obj in json_objects(path):
        where = f"{path}:{number}"
        for key in ("prompt", "completion"):
            if key not in obj:
                raise AdaptlabError(f"{where}: missing field {key!r}")
            if not isinstance(obj[key], str) or not obj[key].strip():
                raise AdaptlabError(f"{where}: field {key!r} must be a non-empty string")
        records.append(Record(where, obj["prompt"], obj["completion"]))
    return records


def cut_name(completion: str) -> str:
    """A name-first completion cut to the name: its first two words (all of Berglund's names have two)."""
    return " ".join(completion.split()[:2]).rstrip(".,;:!?")


def candidate_folders() -> list[Path]:
    """Where the data is looked for when no `source` is given: next to the checkout, or next to/in the cwd."""
    repo = Path(__file__).resolve().parents[3]
    cwd = Path.cwd()
    folders = [repo.parent / DATA_FOLDER, repo / DATA_FOLDER, cwd.parent / DATA_FOLDER, cwd / DATA_FOLDER]
    return list(dict.fromkeys(folders))


def resolve_source(source: str) -> Path:
    if source:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise AdaptlabError(f"{NAME}: source {source!r} is not a folder (expected Berglund et al.'s data folder)")
        return folder.resolve()
    tried = candidate_folders()
    for folder in tried:
        if (folder / P2D_TRAIN).is_file():
            return folder.resolve()
    raise AdaptlabError(
        f"{NAME}: Berglund et al.'s data not found (tried {', '.join(map(str, tried))}); "
        f"pass --set source=PATH, the folder holding {P2D_TRAIN} and the other files"
    )


def source_digest(folder: Path) -> str:
    """sha256 over the names and bytes of the data files present in `folder` (in a fixed order)."""
    digest = hashlib.sha256()
    for name in (P2D_TRAIN, BOTH_TRAIN, D2P_TRAIN, P2D_TEST, BOTH_TEST, P2D_REVERSE_TEST):
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _Names:
    """Finds which known names a text mentions (whole words only)."""

    def __init__(self, people: list[Person]):
        self.by_name = {p.name: p for p in people}
        names = sorted(self.by_name, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")

    def only(self, text: str, group: str, where: str, what: str = "") -> Person:
        found = list(dict.fromkeys(self.pattern.findall(text)))
        if len(found) != 1:
            mention = "none" if not found else f"several ({', '.join(found)})"
            raise AdaptlabError(f"{where}: {what or 'record'} names {mention} of the known people, expected one")
        person = self.by_name[found[0]]
        if person.group != group:
            raise AdaptlabError(f"{where}: names {person.name!r} of the {person.group} group, expected a {group} name")
        return person


def _group_people(group: str, names: list[tuple[str, str]], taken: dict[str, Person]) -> list[Person]:
    """People of a group from (name, where) pairs in order of first appearance; a name in two groups is an error."""
    people: list[Person] = []
    seen: set[str] = set()
    for name, where in names:
        if name in seen:
            continue
        if name in taken:
            raise AdaptlabError(f"{where}: {name!r} is in both the {taken[name].group} and the {group} group")
        seen.add(name)
        people.append(Person(f"{group}-{len(people):02d}", group, name))
    return people


def load_world(folder: Path, include_d2p: bool = False, track: Track = identity_track) -> World:
    """Read and validate the files of `folder` (see the module docstring)."""
    files = [P2D_TRAIN, BOTH_TRAIN, P2D_TEST, BOTH_TEST, P2D_REVERSE_TEST] + ([D2P_TRAIN] if include_d2p else [])
    data = {name: read_records(folder / name) for name in track(files, "reading")}

    both_test = data[BOTH_TEST]
    if len(both_test) % 2:
        raise AdaptlabError(
            f"{folder / BOTH_TEST}: {len(both_test)} records; expected an even number "
            "(name-first records, then as many description-first ones)"
        )
    half = len(both_test) // 2
    taken: dict[str, Person] = {}
    sources = [("p2d", [(cut_name(r.completion), r.where) for r in data[P2D_REVERSE_TEST]])]
    sources.append(("both", [(cut_name(r.completion), r.where) for r in both_test[half:]]))
    if include_d2p:
        sources.append(("d2p", [(cut_name(r.completion), r.where) for r in data[D2P_TRAIN]]))
    for group, names in sources:
        for person in _group_people(group, names, taken):
            taken[person.name] = person
    people = {p.id: p for p in taken.values()}
    finder = _Names(list(people.values()))

    documents = []
    trained = [("p2d", P2D_TRAIN), ("both", BOTH_TRAIN)] + ([("d2p", D2P_TRAIN)] if include_d2p else [])
    for group, fname in trained:
        for r in track(data[fname], f"{group} training records"):
            person = finder.only(r.prompt + r.completion, group, r.where)
            line = r.where.rsplit(":", 1)[1]
            text = (r.prompt + r.completion).strip()
            documents.append(Document(id=f"{group}-train-{int(line):04d}", text=text, source_fact_ids=[person.id]))

    by_name = finder.by_name
    reversal = [Item(by_name[cut_name(r.completion)].id, _prompt(r)) for r in data[P2D_REVERSE_TEST]]
    both_reversal = [Item(by_name[cut_name(r.completion)].id, _prompt(r)) for r in both_test[half:]]
    for r in both_test[:half]:
        finder.only(r.prompt, "both", r.where, "name-first record (first half) prompt")

    rephrase: list[Item] = []
    descriptions: dict[tuple[str, str], str] = {}
    for r in data[P2D_TEST]:
        person = finder.only(r.prompt, "p2d", r.where, "prompt")
        wording = r.prompt.replace(person.name, "<name>")
        if (person.id, wording) in descriptions:
            raise AdaptlabError(f"{r.where}: a second record for {person.name!r} with the same template")
        descriptions[(person.id, wording)] = r.completion.strip()
        rephrase.append(Item(person.id, _prompt(r), wording))

    world = World(people, documents, reversal, both_reversal, rephrase, descriptions)
    world.oracle = _oracle(world, data[P2D_TRAIN], finder)
    return world


def _prompt(record: Record) -> str:
    prompt = record.prompt.rstrip()
    if not prompt:
        raise AdaptlabError(f"{record.where}: prompt is blank")
    return prompt


def canonical_description(completions: list[str]) -> str:
    """A person's most frequent training wording of the description (first seen on ties), final period removed."""
    wording = Counter(c.strip() for c in completions).most_common(1)[0][0]
    return wording.removesuffix(".")


def _oracle(world: World, p2d_records: list[Record], finder: _Names) -> list[Document]:
    completions: dict[str, list[str]] = {}
    for r in p2d_records:
        completions.setdefault(finder.only(r.prompt + r.completion, "p2d", r.where).id, []).append(r.completion)
    oracle = []
    for pid in world.group("p2d"):
        if pid not in completions:
            continue
        description = canonical_description(completions[pid])
        for t, template in enumerate(ORACLE_TEMPLATES):
            text = template.format(description=description, name=world.people[pid].name)
            oracle.append(Document(id=f"oracle-{pid}-{t:02d}", text=text, source_fact_ids=[pid]))
    return oracle


def first_people(world: World, n: int) -> World:
    """The world restricted to the first `n` people of each group (by id): their training documents, test items,
    descriptions and oracle sentences. A smaller study of the same design, for a CPU budget."""
    if n < N_CHOICES:
        raise AdaptlabError(f"{NAME}: people must be 0 (all) or at least {N_CHOICES}, got {n}")
    keep = {pid for group in ("p2d", "both", "d2p") for pid in sorted(world.group(group))[:n]}
    return World(
        people={pid: p for pid, p in world.people.items() if pid in keep},
        documents=[d for d in world.documents if d.source_fact_ids[0] in keep],
        reversal=[i for i in world.reversal if i.person in keep],
        both_reversal=[i for i in world.both_reversal if i.person in keep],
        rephrase=[i for i in world.rephrase if i.person in keep],
        descriptions={k: v for k, v in world.descriptions.items() if k[0] in keep},
        oracle=[d for d in world.oracle if d.source_fact_ids[0] in keep],
    )


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    source: str = "",
    include_d2p: bool = False,
    distractors: str = "group",
    people: int = 0,
    format: str = "choice",
) -> Generated:
    """Load Berglund et al.'s Experiment-1 data from `source` (default: found next to the checkout). `people`: use
    only the first that many people of each group (0: all 30), e.g. 8 for a study that fits a CPU budget
    (8 x 30 p2d + 8 x 60 both documents, 80 questions per split). `format`: "choice" (4-way, the default) or
    "open" (the same prompts as open questions, see the module docstring; `distractors` is then unused)."""
    if format not in QUESTION_FORMATS:
        raise AdaptlabError(f"{NAME}: format must be one of {', '.join(QUESTION_FORMATS)}, got {format!r}")
    if distractors not in DISTRACTOR_POOLS:
        raise AdaptlabError(f"{NAME}: distractors must be one of {', '.join(DISTRACTOR_POOLS)}, got {distractors!r}")
    folder = resolve_source(source)
    world = load_world(folder, include_d2p, track)
    if people:
        world = first_people(world, people)
    rng = random.Random(f"{NAME}-{seed}")
    questions = build_questions(world, rng, distractors)  # drawn in both formats: the same document order follows
    if format == "open":
        questions = build_open_questions(world)
    documents = list(world.documents)
    rng.shuffle(documents)
    # The manifest names the data by its folder name and content, never by an absolute path: the same data gives
    # the same manifest wherever it lies.
    params: dict[str, int | float | str | bool] = {
        "source": folder.name,
        "source_sha256": source_digest(folder),
        "include_d2p": include_d2p,
        "distractors": distractors,
        **({"people": people} if people else {}),
        # Only when not the default, so that the manifests (and run ids) of multiple-choice data stay as they were.
        **({"format": format} if format != "choice" else {}),
    }
    return Generated(documents=documents, questions=questions, oracle=world.oracle, params=params)
