"""How much text fits before the questions, and which documents go there: the context budget that in-context
learning, retrieval-free hybrids, augmentation and the memory method share.

Documents are joined with a blank line between them, in dataset order. When they do not fit the model's context
window (after room for the chat template, the longest question and its longest choice), a random subset that fits
is used, drawn deterministically from the seed and kept in dataset order.
"""

from __future__ import annotations

import random

from adaptlab.data.records import Document, Question
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import LanguageModel
from adaptlab.models.prompts import (
    MC_REPLY_TOKENS,
    SEPARATOR,
    multiple_choice_prompt,
    open_question_prompt,
    question_text,
)

MARGIN_TOKENS = 8
# The most tokens an open question's generated answer may have (`adaptlab.evaluate_open` generates up to this).
OPEN_ANSWER_TOKENS = 32


def suffix_budget(model: LanguageModel, questions: list[Question]) -> int:
    """Tokens the longest question plus its longest choice needs after the context (under the generative
    multiple-choice protocol: the question with every choice lettered, and the reply). An open question needs
    room for its longest reference answer (scored) and for the answer it generates (`OPEN_ANSWER_TOKENS`)."""
    longest = 0
    for q in questions:
        text = question_text(q)
        if q.is_open:
            asked = open_question_prompt(text) if model.protocol == "generative-mc" else text
            need = max(model.count_tokens(text + " " + max(q.references, key=len)),
                       model.count_tokens(asked) + OPEN_ANSWER_TOKENS)
        elif model.protocol == "generative-mc":
            need = model.count_tokens(multiple_choice_prompt(text, q.choices)) + MC_REPLY_TOKENS
        else:
            need = model.count_tokens(text + " " + max(q.choices, key=len))
        longest = max(longest, need)
    return longest + MARGIN_TOKENS


def context_budget(model: LanguageModel, questions: list[Question], cap: int | None = None) -> int:
    budget = model.context_window - suffix_budget(model, questions) - model.count_tokens(model.render_prefix(""))
    if cap is not None:
        budget = min(budget, cap)
    if budget <= 0:
        raise AdaptlabError(
            f"model {model.name}: context window {model.context_window} leaves no room for documents "
            "after the question; use a model with a longer context"
        )
    return budget


def fit_documents(
    model: LanguageModel, documents: list[Document], budget: int, seed: int, fraction: float = 1.0
) -> list[Document]:
    """The documents that go in context: all if they fit (and fraction is 1), else a seeded random subset."""
    sep = model.count_tokens(SEPARATOR) if SEPARATOR.strip() else 1
    lengths = [model.count_tokens(d.text) + sep for d in documents]
    order = list(range(len(documents)))
    limit = max(1, round(fraction * len(documents)))
    if sum(lengths) <= budget and limit == len(documents):
        return list(documents)
    random.Random(f"icl-{seed}").shuffle(order)
    chosen, used = [], 0
    for i in order:
        if len(chosen) >= limit:
            break
        if used + lengths[i] <= budget:
            chosen.append(i)
            used += lengths[i]
    return [documents[i] for i in sorted(chosen)]


def build_context(documents: list[Document]) -> str:
    return SEPARATOR.join(d.text for d in documents)
