"""The semantic dataset's sentence templates: training phrasings (always subject first), the test-only rephrase and
reversal frames, QA questions, article headings and topic-only filler sentences.
"""

from __future__ import annotations

import re

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

SENTENCE_END = re.compile(r"[.?!](?=\s|$)")


def count_sentences(text: str) -> int:
    """Sentences in a document: terminal punctuation followed by whitespace or the end (headings have none)."""
    return len(SENTENCE_END.findall(text))
