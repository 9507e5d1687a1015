"""Training examples from documents, with optional sentence splitting (the paper's §3 / App. B.1).

- `off`: each document is one example.
- `independent`: each sentence is its own example, with no context (the paper's default when splitting).
- `cumulative`: the example for sentence k has the document's preceding sentences as context; the loss is on
  sentence k only (the paper does not say; loss on the target alone keeps the number of trained tokens equal to
  `independent`, so the two differ only in what the model sees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from adaptlab.data.records import Document

SplitMode = Literal["off", "independent", "cumulative"]
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclass(frozen=True)
class Example:
    context: str  # shown, not trained on ("" for none)
    target: str  # trained on


def sentences(text: str) -> list[str]:
    """Split text into sentences at ., ! or ? followed by whitespace (closing quotes stay with their sentence)."""
    parts, start = [], 0
    for match in SENTENCE_END.finditer(text):
        end = match.start() + len(match.group(0).rstrip())
        parts.append(text[start:end].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def make_examples(documents: list[Document], split: SplitMode = "off") -> list[Example]:
    out: list[Example] = []
    for doc in documents:
        if split == "off":
            out.append(Example("", doc.text))
            continue
        sents = sentences(doc.text)
        for k, sentence in enumerate(sents):
            context = " ".join(sents[:k]) if split == "cumulative" else ""
            out.append(Example(context, sentence))
    return out
