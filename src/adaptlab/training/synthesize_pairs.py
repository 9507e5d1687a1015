"""Pairs of documents for questions that need two documents (`adaptlab data synthesize --pairs N`).

Two documents are paired when they share an **entity**: a name (a run of capitalised words, e.g. "Ocean Suite", and
each of its words, e.g. "Suite") or a number (e.g. "1987"), compared in lower case. Not entities: stop-words
("The", "In", "It", ...) and a capitalised word that starts a sentence when the documents also use it in lower case
(a common word, e.g. "Despite"). Of all the pairs that share an entity, at most N are chosen, in an order drawn
from the seed, pairs of documents not used yet first (so N pairs cover as many documents as they can); a document
that shares nothing with any other is in no pair. A pair's documents keep their dataset order.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from adaptlab.context import build_context
from adaptlab.data.records import Document
from adaptlab.models.base import GenerationRequest
from adaptlab.models.prompts import PAIR_INSTRUCTION, SYNTH_PROMPT

STOP_WORDS = frozenset(
    "a about after again all also an and any are as at be because been before being both but by can could did do "
    "does during each either every for from had has have he her here hers him his how however i if in into is it its "
    "me my neither no nor not of on once one only or our she since so some such than that the their them then there "
    "these they this those though through to too under until up upon very was we were what when where whether which "
    "while who whom whose why will with within without would yet you your".split()
)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
TOKEN = re.compile(r"[^\W\d_][\w'’-]*|\d+(?:[.,]\d+)*")
SHOWN = 3  # shared entities named in the writing request


@dataclass(frozen=True)
class DocumentPair:
    first: Document
    second: Document
    shared: tuple[str, ...]  # the entities both mention, as the first document writes them, sorted

    @property
    def documents(self) -> tuple[Document, Document]:
        return self.first, self.second

    @property
    def context(self) -> str:
        """Both documents, joined as in-context learning joins documents."""
        return build_context([self.first, self.second])


def _word(token: str) -> str:
    return re.sub(r"['’]s$", "", token)


def common_words(documents: Sequence[Document]) -> frozenset[str]:
    """Words the documents use in lower case."""
    return frozenset(t for d in documents for t in TOKEN.findall(d.text) if t[:1].islower())


def entities(text: str, common: frozenset[str] = frozenset()) -> dict[str, str]:
    """The names and numbers of `text` (see above), in lower case, each with the form it first has in the text;
    `common` are the documents' lower-case words, which a capitalised word that starts a sentence must not be."""
    found: dict[str, str] = {}

    def end_name(run: list[str]) -> None:
        for name in ([" ".join(run)] if len(run) > 1 else []) + run:
            found.setdefault(name.lower(), name)
        run.clear()

    for sentence in SENTENCE.split(text):
        run: list[str] = []
        last_end = -1
        for position, match in enumerate(TOKEN.finditer(sentence)):
            token, word = match.group(), _word(match.group())
            if last_end >= 0 and sentence[last_end : match.start()].strip():  # punctuation ends a name
                end_name(run)
            last_end = match.end()
            if token[0].isupper() and word.lower() not in STOP_WORDS and not (position == 0 and word.lower() in common):
                run.append(word)
                continue
            end_name(run)
            if token[0].isdigit():
                number = token.replace(",", "")
                found.setdefault(number, number)
        end_name(run)
    return found


def select_pairs(documents: Sequence[Document], n: int, seed: int) -> list[DocumentPair]:
    """At most `n` pairs of documents that share an entity, drawn by the seed (see above), in dataset order."""
    if n <= 0:
        return []
    common = common_words(documents)
    found = [entities(d.text, common) for d in documents]
    index: dict[str, list[int]] = {}
    for i, names in enumerate(found):
        for name in names:
            index.setdefault(name, []).append(i)
    candidates = sorted({pair for ids in index.values() for pair in combinations(ids, 2)
                         if documents[pair[0]].text.strip() != documents[pair[1]].text.strip()})
    random.Random(f"{seed}-pairs").shuffle(candidates)
    chosen: list[tuple[int, int]] = []
    used: set[int] = set()
    for pair in candidates:  # documents not used yet first
        if len(chosen) < n and not used & set(pair):
            chosen.append(pair)
            used |= set(pair)
    taken = set(chosen)
    chosen += [pair for pair in candidates if pair not in taken][: n - len(chosen)]
    return [DocumentPair(documents[i], documents[j], tuple(sorted(found[i][k] for k in found[i].keys() & found[j])))
            for i, j in sorted(chosen)]


def pair_writing_request(pair: DocumentPair, n: int) -> GenerationRequest:
    """The request for N pairs that need both documents; the reply starts with "Q:"."""
    names: list[str] = []
    for name in sorted(pair.shared, key=lambda s: (-len(s.split()), s)):  # whole names, not their words again
        if len(names) < SHOWN and not any(f" {name} " in f" {longer} " for longer in names):
            names.append(name)
    shared = " and ".join(f'"{s}"' for s in names)
    return GenerationRequest(context=pair.context, prompt=SYNTH_PROMPT,
                             instruction=PAIR_INSTRUCTION.format(n=n, shared=shared))
