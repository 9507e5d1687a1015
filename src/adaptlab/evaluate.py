"""Multiple-choice evaluation: score every choice of every question, then accuracy per split with standard errors.

Three ways to turn choice log-likelihoods into a prediction are reported (as lm-evaluation-harness does):
`sum` (the total log-probability of the choice: the exact likelihood), `per_token` (mean per token) and
`per_char` (total divided by the choice's length in characters: lm-eval's `acc_norm`).
The default is `per_char`: our choices differ in length within a question (syllogism quantifiers, people's
names, semantic properties), where the sum favours short choices; per-character normalisation removes most of
that bias and, unlike per-token, does not depend on the tokenizer, so different models stay comparable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from adaptlab.costs import ModelShape, forward_flops
from adaptlab.data.records import Question
from adaptlab.models.base import ChoiceScore, LanguageModel, ScoreRequest, ScoringStats
from adaptlab.store import CostRow, MetricRow, ScoreRow

METRICS = ("sum", "per_token", "per_char")
DEFAULT_METRIC = "per_char"


def question_text(question: Question) -> str:
    """The prompt as scored: the question's context hint, if any, goes before its prompt."""
    return f"{question.context_hint}\n{question.prompt}" if question.context_hint else question.prompt


def normalised(score: ChoiceScore, metric: str) -> float:
    if metric == "sum":
        return score.logprob
    if metric == "per_token":
        return score.logprob / max(score.n_tokens, 1)
    return score.logprob / max(score.n_chars, 1)


def predict(scores: Sequence[ChoiceScore], metric: str = DEFAULT_METRIC) -> int:
    values = [normalised(s, metric) for s in scores]
    return max(range(len(values)), key=values.__getitem__)


def accuracy_rows(questions: Sequence[Question], scores: Sequence[Sequence[ChoiceScore]]) -> list[MetricRow]:
    rows = []
    for split in dict.fromkeys(q.split for q in questions):
        idx = [i for i, q in enumerate(questions) if q.split == split]
        chance = sum(questions[i].chance for i in idx) / len(idx)
        for metric in METRICS:
            acc = sum(predict(scores[i], metric) == questions[i].answer for i in idx) / len(idx)
            rows.append(MetricRow(split, metric, acc, math.sqrt(acc * (1 - acc) / len(idx)), chance, len(idx)))
    return rows


def score_rows(questions: Sequence[Question], scores: Sequence[Sequence[ChoiceScore]]) -> list[ScoreRow]:
    return [
        ScoreRow(q.id, q.split, c, c == q.answer, s.logprob, s.n_tokens, s.n_chars)
        for q, qs in zip(questions, scores, strict=True)
        for c, s in enumerate(qs)
    ]


def score_questions(
    model: LanguageModel,
    questions: Sequence[Question],
    contexts: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> tuple[list[list[ChoiceScore]], ScoringStats]:
    requests = [
        ScoreRequest(context=ctx, prompt=question_text(q), choices=tuple(q.choices))
        for q, ctx in zip(questions, contexts, strict=True)
    ]
    return model.score(requests, progress=progress)


def query_cost(model: LanguageModel, questions: Sequence[Question], contexts: Sequence[str]) -> CostRow:
    """What serving these questions costs in deployment, one query at a time with no cache shared between
    queries: the rendered context plus the question, prefilled (the answer's own few tokens are ignored)."""
    shape = model_shape(model)
    prefix_tokens: dict[str, int] = {}
    tokens = 0
    flops = 0.0
    for q, ctx in zip(questions, contexts, strict=True):
        if ctx not in prefix_tokens:
            prefix_tokens[ctx] = model.count_tokens(model.render_prefix(ctx))
        n = prefix_tokens[ctx] + model.count_tokens(question_text(q))
        tokens += n
        flops += forward_flops(shape, n)
    return CostRow(phase="query", kind="per_query", tokens_processed=tokens, flops=flops, queries=len(questions))


def scoring_cost(stats: ScoringStats, queries: int) -> CostRow:
    """What our evaluation actually ran (with shared-prefix reuse), as measured."""
    return CostRow(
        phase="scoring", kind="per_query", tokens_processed=stats.tokens_prefilled, tokens_reused=stats.tokens_reused,
        flops=stats.flops, seconds=stats.seconds, peak_memory_bytes=stats.peak_memory_bytes, queries=queries,
    )


def model_shape(model: LanguageModel) -> ModelShape:
    config = getattr(getattr(model, "model", None), "config", None)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    width = int(getattr(config, "hidden_size", 0) or 0)
    return ModelShape(n_params=model.n_params, n_layers=layers, d_model=width)
