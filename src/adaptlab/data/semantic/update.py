"""The semantic dataset's update: the same world after a share of its category properties changed value and as many
new properties came (see the package docstring, "Updates").
"""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter

from adaptlab.data.records import NEW, UNCHANGED, UPDATED, UPDATED_REVERSAL, Document, Generated
from adaptlab.data.semantic.questions import Candidate, QuestionWriter, word_counts
from adaptlab.data.semantic.templates import FILLERS, REPHRASE, REVERSE, TRIVIA_HEADERS
from adaptlab.data.semantic.world import NAME, PROPERTY_KINDS, Draw, Fact, World

UPDATED_INHERITED = "updated_inherited"  # a changed property asked of a category that inherits it
SENTENCE = re.compile(r"[^.?!\n]+")  # a sentence (or heading, or label) of a training document


def _restate(text: str, subject: str, old: str, new: str) -> str:
    """The document with `old` replaced by `new` in every sentence that names `subject` (the sentences stating the
    subject's property; every fact sentence names its subject and holds one category's properties only)."""
    word, name = re.compile(rf"\b{re.escape(old)}\b"), re.compile(rf"\b{re.escape(subject)}\b")

    def fix(m: re.Match[str]) -> str:
        return word.sub(new, m.group()) if name.search(m.group()) else m.group()

    return SENTENCE.sub(fix, text)


class Updater:
    """Draws an update of one draw from its own random stream (`<name>-<seed>-update`)."""

    def __init__(self, seed: int, draw: Draw, documents: list[Document], share: float):
        self.seed, self.before, self.documents, self.share = seed, draw, documents, share
        self.rng = random.Random(f"{NAME}-{seed}-update")
        world = draw.world
        self.props = {c: list(v) for c, v in world.props.items()}
        self.world = World(world.parent, self.props, world.relations)  # changed in place as the update is drawn
        visible = [c for c in world.categories if c not in draw.hidden]
        self.visible = visible
        self.values = {kind: list(dict.fromkeys(f.obj for f in draw.all_trained if f.kind == kind))
                       for kind in PROPERTY_KINDS}
        self.dropped: set[tuple[str, str, str]] = set()  # (category, kind, value) an update took away

    def options(self, c: str, kind: str) -> list[str]:
        """Property values of `kind` some category has, that `c` may take without owning or inheriting one twice (nor
        one the update took from it, its ancestors or descendants: an old value stays false wherever it was asked)."""
        line = self.world.lineage(c)
        taken = self.world.possible_props(c, kind) | {v for x, k, v in self.dropped if k == kind and x in line}
        return [v for v in self.values[kind] if v not in taken]

    def change(self) -> tuple[list[tuple[Fact, Fact]], list[Fact]]:
        """(old fact, new fact) of every changed property, and the added properties."""
        rng, trained = self.rng, self.before.trained
        facts = [f for c in self.visible for f in trained[c] if f.kind in PROPERTY_KINDS]
        changes: list[tuple[Fact, Fact]] = []
        for f in rng.sample(facts, min(len(facts), max(1, round(self.share * len(facts))))):
            options = self.options(f.subject, f.kind)
            if options:
                value = rng.choice(options)
                own = self.props[f.subject]
                own[own.index((f.kind, f.obj))] = (f.kind, value)
                self.dropped.add((f.subject, f.kind, f.obj))
                changes.append((f, Fact(f.kind, f.subject, value)))
        added: list[Fact] = []
        for _ in range(50 * len(changes)):
            if len(added) == len(changes):
                break
            c, kind = rng.choice(self.visible), rng.choice(PROPERTY_KINDS)
            options = self.options(c, kind)
            if options and len(self.props[c]) < 6:
                value = rng.choice(options)
                self.props[c].append((kind, value))
                added.append(Fact(kind, c, value))
        return changes, added

    def corpus(self, after: Draw, changes: list[tuple[Fact, Fact]], added: list[Fact]) -> list[Document]:
        """Unchanged documents as they were; a document stating a changed property restated with the new value (a
        new id); documents stating the added properties, each as often as the median fact of the corpus."""
        before, p = self.before, self.before.p
        by_id = {before.fact_id(old): (old, new) for old, new in changes}
        kept: list[Document] = []
        written: list[tuple[str, list[str]]] = []
        for doc in self.documents:
            hits = [by_id[i] for i in doc.source_fact_ids if i in by_id]
            if not hits:
                kept.append(doc)
                continue
            text = doc.text
            for old, new in hits:
                text = _restate(text, before.w(old.subject), before.obj_word(old), after.obj_word(new))
            assert text != doc.text, (doc.id, hits)
            ids = [after.fact_id(by_id[i][1]) if i in by_id else i for i in doc.source_fact_ids]
            written.append((text, ids))
        statements = Counter(i for doc in self.documents for i in doc.source_fact_ids)
        repeats = max(1, round(statistics.median(statements.values()))) if statements else 1
        size = max(p["min_sentences"] - 1, min(p["max_sentences"] - 1, 8))
        for _ in range(repeats):  # trivia lists of the added properties, each stated once per round
            order = self.rng.sample(added, len(added))
            for i in range(0, len(order), size):
                chunk = order[i : i + size]
                lines = [f"- {after.say(f)}" for f in chunk]
                fillers = [t.format(t=after.w(chunk[0].subject)) for t in FILLERS]
                lines += [f"- {t}" for t in self.rng.sample(fillers, max(0, p["min_sentences"] - 1 - len(chunk)))]
                written.append(("\n".join([self.rng.choice(TRIVIA_HEADERS), *lines]),
                                [after.fact_id(f) for f in chunk]))
        corpus = kept + [Document(id=f"doc-update-{i:05d}", text=t, source_fact_ids=ids)
                         for i, (t, ids) in enumerate(written)]
        self.rng.shuffle(corpus)
        return corpus

    def candidates(self, writer: QuestionWriter, after: Draw, changes: list[tuple[Fact, Fact]], added: list[Fact]
                   ) -> dict[str, list[Candidate]]:
        rng, world = self.rng, self.world
        out: dict[str, list[Candidate]] = {UPDATED: [], UPDATED_REVERSAL: [], UPDATED_INHERITED: [], NEW: [],
                                           UNCHANGED: []}

        def rephrase(split: str, f: Fact, forced: str | None) -> Candidate:
            prompt = rng.choice(REPHRASE[f.kind]).format(s=after.w(f.subject))
            pool = [w for w in writer.forward_pool(f.kind, f.subject) if w != forced]
            return Candidate(split, f.kind, prompt, after.obj_word(f), pool, [f], forced=forced)

        for old, new in changes:
            was = self.before.obj_word(old)
            out[UPDATED].append(rephrase(UPDATED, new, was))
            prompt = rng.choice(REVERSE[new.kind]).format(o=after.obj_word(new))
            out[UPDATED_REVERSAL].append(Candidate(UPDATED_REVERSAL, new.kind, prompt, after.w(new.subject),
                                                   writer.reverse_pool(new.kind, new.obj), [new]))
            for d in world.descendants(new.subject):
                chain: list[Fact] = []  # d's parent links up to the changed category
                for below, above in zip([d, *world.ancestors(d)], world.ancestors(d), strict=False):
                    chain.append(Fact("isa", below, above))
                    if above == new.subject:
                        break
                cand = writer.forward_candidate(UPDATED_INHERITED, "property" if len(chain) == 1 else "long",
                                                Fact(new.kind, d, new.obj), [*chain, new])
                cand.pool, cand.forced = [w for w in cand.pool if w != was], was
                out[UPDATED_INHERITED].append(cand)
        out[NEW] = [rephrase(NEW, f, None) for f in added]
        changed = {new for _, new in changes} | set(added)
        out[UNCHANGED] = [rephrase(UNCHANGED, f, None) for c in self.visible for f in after.trained[c]
                          if f not in changed]
        return out

    def generate(self) -> Generated:
        changes, added = self.change()
        after = Draw(self.seed, self.world, self.before.holdouts, self.rng, self.before.p)
        corpus = self.corpus(after, changes, added)
        writer = QuestionWriter(after)
        questions = writer.build(self.candidates(writer, after, changes, added), word_counts(corpus))
        return Generated(documents=corpus, questions=questions, oracle=writer.oracle(),
                         params={"update_share": self.share})
