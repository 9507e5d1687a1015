"""The semantic dataset's training documents: articles, overviews, fact sheets, trivia lists and QA pairs, with
every trained fact stated at least once and then repeated unevenly (see the package docstring).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adaptlab.data.records import Document
from adaptlab.data.semantic.templates import (
    FILLERS,
    HEADINGS,
    INTROS,
    LISTED,
    OVERVIEW_INTROS,
    QA_QUESTIONS,
    SHEET_FILLERS,
    SHEET_LABELS,
    SUBGROUPS_HEADINGS,
    TRIVIA_HEADERS,
    count_sentences,
)
from adaptlab.data.semantic.world import KINDS, NAME, Draw, Fact
from adaptlab.errors import AdaptlabError

POPULARITY_RANGE = 8.0  # the most written-about category appears about 8x as often as the least
MIN_SALIENCE = 0.4  # an article about a category states each of its facts with probability 0.4-1
COVERAGE_PACE = 4  # unstated facts per remaining document above which documents become full-length fact lists
STYLES = ("article", "overview", "sheet", "trivia")
STYLE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)  # of the non-QA documents


@dataclass
class Sentence:
    text: str
    facts: tuple[Fact, ...] = ()
    section: str = ""  # heading of the section it belongs to ("" = lead paragraph)
    order: int = 0  # section order within the document


class DocumentWriter:
    """Writes the training documents of a draw; draws from its random stream in a fixed order."""

    def __init__(self, draw: Draw):
        self.world, self.hidden, self.rng, self.p = draw.world, draw.hidden, draw.rng, draw.p
        self.trained, self.all_trained = draw.trained, draw.all_trained
        self.w, self.obj_word, self.fact_id, self.say = draw.w, draw.obj_word, draw.fact_id, draw.say
        self.stated: Counter[Fact] = Counter()
        # Uneven repetition, as in real text: how often a category is written about, and how likely an article
        # about it mentions each of its facts. It spreads the word counts that the distractor ranks rely on.
        rng, categories = self.rng, self.world.categories
        self.popularity = {c: POPULARITY_RANGE ** rng.random() for c in categories}
        self.salience = {f: rng.uniform(MIN_SALIENCE, 1.0) for f in self.all_trained}
        self.tiebreak = {c: i for i, c in enumerate(rng.sample(categories, len(categories)))}
        self.fact_tiebreak = {f: i for i, f in enumerate(rng.sample(self.all_trained, len(self.all_trained)))}

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
