"""The semantic dataset's test questions and oracle: the inferences that follow from training, hard false
distractors, and frequency ranks that keep the surface baseline at chance (see the package docstring).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from adaptlab.data.records import Document, Question
from adaptlab.data.semantic.templates import FORWARD, REPHRASE, REVERSE
from adaptlab.data.semantic.world import PROPERTY_KINDS, RELATION_KINDS, Draw, Fact

ANSWER_CAP = 8  # at most this many questions of a split share an answer word (not for category_holdout)
TOKEN = re.compile(r"[a-z0-9]+")  # as the surface baseline tokenizes


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
    # A word that must be one of the distractors (an update's old answer), not in `pool`.
    forced: str | None = None


class QuestionWriter:
    """Writes the questions and the oracle of a draw, after its documents (distractor ranks use their word counts)."""

    def __init__(self, draw: Draw):
        self.world, self.holdouts, self.hidden, self.rng, self.p = (
            draw.world, draw.holdouts, draw.hidden, draw.rng, draw.p)
        self.vocab, self.trained, self.all_trained = draw.vocab, draw.trained, draw.all_trained
        self.w, self.obj_word, self.fact_id, self.say = draw.w, draw.obj_word, draw.fact_id, draw.say

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
        return self.build(self.candidates(), counts)

    def build(self, candidates: dict[str, list[Candidate]], counts: Counter[str]) -> list[Question]:
        """Questions from candidates, split by split: those with a feasible frequency rank, sampled, finished."""
        questions: list[Question] = []
        for split, cands in candidates.items():
            for cand in cands:
                cand.feasible = self.feasible(cand, counts)
            chosen = self.sample([x for x in cands if x.feasible])
            questions += self.finish(split, chosen, counts)
        return questions

    def feasible(self, cand: Candidate, counts: Counter[str]) -> list[int]:
        """The frequency ranks t (distractors strictly more frequent than the answer) the pool allows; a forced
        distractor counts where its frequency puts it, and one as frequent as the answer allows none."""
        k = self.p["n_choices"] - 1
        c = counts[cand.answer]
        above = sum(counts[w] > c for w in cand.pool)
        below = sum(0 < counts[w] < c for w in cand.pool)
        if cand.forced is None:
            return [t for t in range(k + 1) if t <= above and k - t <= below]
        if counts[cand.forced] == c:
            return []
        up = int(counts[cand.forced] > c)
        return [t for t in range(up, k + up) if t - up <= above and k - 1 - (t - up) <= below]

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
        # With a forced distractor (an update's old value, rare in the corpus after the update) the answer can seldom
        # be the least frequent choice: the answer is then the most frequent one in at most 1/n of the questions
        # (what the surface baseline rewards), and a question that allows nothing else is dropped.
        quota = len(chosen) // n if any(cand.forced is not None for cand in chosen) else None
        assigned = self.assign_ranks(chosen, quota)
        chosen = [cand for cand, t in zip(chosen, assigned, strict=True) if t is not None]
        ranks = [t for t in assigned if t is not None]
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
            if cand.forced is None:
                distractors = pick(above, t) + pick(below, n - 1 - t)
            else:
                up = int(counts[cand.forced] > c)
                distractors = [cand.forced, *pick(above, t - up), *pick(below, n - 2 - t + up)]
            as_distractor.update(distractors)
            self.rng.shuffle(distractors)
            choices = [*distractors[:pos], cand.answer, *distractors[pos:]]
            serial[cand.subtype] += 1
            out.append(Question(
                id=f"{split}-{cand.subtype}-{serial[cand.subtype]:04d}", prompt=cand.prompt, choices=choices,
                answer=pos, split=split, source_fact_ids=[self.fact_id(f) for f in cand.premises],
            ))
        return out

    def assign_ranks(self, chosen: list[Candidate], zero_quota: int | None = None) -> list[int | None]:
        """A frequency rank per question so that every rank is used equally often (most constrained first). With
        `zero_quota`, rank 0 (the answer the most frequent choice) is given at most that often, and a question
        left with no rank gets None."""
        usage = [0] * self.p["n_choices"]
        ranks: list[int | None] = [0] * len(chosen)
        order = sorted(range(len(chosen)), key=lambda i: (len(chosen[i].feasible), i))
        for i in order:
            feasible = chosen[i].feasible
            if zero_quota is not None and usage[0] >= zero_quota:
                feasible = [t for t in feasible if t != 0]
                if not feasible:
                    ranks[i] = None
                    continue
            least = min(usage[t] for t in feasible)
            t = self.rng.choice([t for t in feasible if usage[t] == least])
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
