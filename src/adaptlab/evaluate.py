"""Multiple-choice evaluation: score every choice of every question, then accuracy per split with standard errors
(open questions: `adaptlab.evaluate_open`).

Four ways to turn choice log-likelihoods into a prediction are reported: `sum` (the total log-probability of the
choice: the exact likelihood), `per_token` (mean per token), `per_char` (total divided by the choice's length in
characters: lm-eval's `acc_norm`) and `calibrated` (the choice's log-probability after the prompt minus its
log-probability after a content-free prompt, "Answer:": lm-eval's `acc_mutual_info`, the domain-conditional PMI
of Holtzman et al. 2021), which removes the model's prior for a choice's wording.
The default is `per_char`: our choices differ in length within a question (syllogism quantifiers, people's
names, semantic properties), where the sum favours short choices; per-character normalisation removes most of
that bias and, unlike per-token, does not depend on the tokenizer, so different models stay comparable.
`calibrated` matters where keys share a wording, so that a model's prior for that wording would pass for knowledge
(simple-syllogisms v1, where every key was an "All" statement; v2 balances the keys over six statement shapes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adaptlab.costs import deployment_costs
from adaptlab.data.records import Question
from adaptlab.evaluate_open import OPEN_ANSWER_TOKENS as OPEN_ANSWER_TOKENS  # the open-question constants, here too
from adaptlab.evaluate_open import OPEN_STOP as OPEN_STOP
from adaptlab.models.base import ChoiceScore, LanguageModel, ScoreRequest, ScoringStats
from adaptlab.models.prompts import question_text
from adaptlab.progress import report as report_progress
from adaptlab.store import CostRow, MetricRow, ScoreRow

METRICS = ("sum", "per_token", "per_char", "calibrated")
NULL_PROMPT = "Answer:"
# The generative multiple-choice protocol's accuracy (served models without prompt log-probabilities).
GENERATIVE_METRIC = "generative_mc"


@dataclass(frozen=True)
class Scored:
    """One choice as evaluation sees it: its log-likelihood after the question and after the null prompt."""

    logprob: float
    n_tokens: int
    n_chars: int
    null_logprob: float
DEFAULT_METRIC = "per_char"


def normalised(score: Scored | ChoiceScore, metric: str) -> float:
    if metric == "calibrated":
        return score.logprob - (score.null_logprob if isinstance(score, Scored) else 0.0)
    if metric == "sum":
        return score.logprob
    if metric == "per_token":
        return score.logprob / max(score.n_tokens, 1)
    return score.logprob / max(score.n_chars, 1)


def predict(scores: Sequence[Scored] | Sequence[ChoiceScore], metric: str = DEFAULT_METRIC) -> int:
    """The best choice (the first of several tied ones; `credit` shares a tie out instead)."""
    values = [normalised(s, metric) for s in scores]
    return max(range(len(values)), key=values.__getitem__)


def best_choices(scores: Sequence[Scored] | Sequence[ChoiceScore], metric: str = DEFAULT_METRIC) -> list[int]:
    """Every choice with the highest score (more than one when the model cannot tell them apart)."""
    values = [normalised(s, metric) for s in scores]
    top = max(values)
    return [i for i, v in enumerate(values) if v == top]


def credit(scores: Sequence[Scored] | Sequence[ChoiceScore], answer: int, metric: str = DEFAULT_METRIC) -> float:
    """1 when the answer alone scores best; 1/k when it ties with k-1 others (the expected accuracy of breaking the
    tie at random); 0 otherwise. So a model that scores every choice the same gets chance, never the first
    choice's share of the keys."""
    best = best_choices(scores, metric)
    return 1.0 / len(best) if answer in best else 0.0


def accuracy_rows(questions: Sequence[Question], scores: Sequence[Sequence[Scored]]) -> list[MetricRow]:
    """Accuracy per split and metric (ties credited 1/k, see `credit`), its standard error (the standard deviation
    of the per-question credits over √n: √(acc(1-acc)/n) when there are no ties), chance, n, and how many
    questions had a tie for the best score."""
    rows = []
    for split in dict.fromkeys(q.split for q in questions):
        idx = [i for i, q in enumerate(questions) if q.split == split]
        chance = sum(questions[i].chance for i in idx) / len(idx)
        for metric in METRICS:
            credits = [credit(scores[i], questions[i].answer, metric) for i in idx]
            ties = sum(len(best_choices(scores[i], metric)) > 1 for i in idx)
            acc = sum(credits) / len(idx)
            variance = max(sum(c * c for c in credits) / len(idx) - acc * acc, 0.0)
            rows.append(MetricRow(split, metric, acc, math.sqrt(variance / len(idx)), chance, len(idx), ties))
    return rows


def generative_rows(questions: Sequence[Question], picks: Sequence[int | None]) -> list[MetricRow]:
    """Accuracy per split under the `generative-mc` protocol (a reply that names no option counts as wrong),
    stored under its own metric name, `GENERATIVE_METRIC`: it is not a likelihood score and is never mixed with
    them."""
    rows = []
    for split in dict.fromkeys(q.split for q in questions):
        idx = [i for i, q in enumerate(questions) if q.split == split]
        chance = sum(questions[i].chance for i in idx) / len(idx)
        acc = sum(picks[i] == questions[i].answer for i in idx) / len(idx)
        rows.append(MetricRow(split, GENERATIVE_METRIC, acc, math.sqrt(acc * (1 - acc) / len(idx)), chance, len(idx)))
    return rows


def _reporting(phase: str, total: int) -> Callable[[int], None]:
    """A backend's increment callback that reports the phase's progress (`adaptlab.progress`)."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        report_progress(phase, done, total)

    return advance


def choose_questions(
    model: LanguageModel, questions: Sequence[Question], contexts: Sequence[str]
) -> tuple[list[int | None], ScoringStats]:
    """The option each question's reply names, for a model declared `protocol = "generative-mc"`."""
    requests = [
        ScoreRequest(context=ctx, prompt=question_text(q), choices=tuple(q.choices))
        for q, ctx in zip(questions, contexts, strict=True)
    ]
    return model.choose(requests, progress=_reporting("answering", len(requests)))


def score_rows(questions: Sequence[Question], scores: Sequence[Sequence[Scored]]) -> list[ScoreRow]:
    return [
        ScoreRow(q.id, q.split, c, c == q.answer, s.logprob, s.n_tokens, s.n_chars, s.null_logprob)
        for q, qs in zip(questions, scores, strict=True)
        for c, s in enumerate(qs)
    ]


def score_questions(
    model: LanguageModel, questions: Sequence[Question], contexts: Sequence[str]
) -> tuple[list[list[Scored]], ScoringStats]:
    """Score every choice after its question (with its context) and after the null prompt (for `calibrated`)."""
    requests = [
        ScoreRequest(context=ctx, prompt=question_text(q), choices=tuple(q.choices))
        for q, ctx in zip(questions, contexts, strict=True)
    ]
    scores, stats = model.score(requests, progress=_reporting("scoring", len(requests)))
    # Questions with the same choices share one null request.
    unique = list(dict.fromkeys(tuple(q.choices) for q in questions))
    null_scores, null_stats = model.score([ScoreRequest("", NULL_PROMPT, c) for c in unique])
    null_of = {c: [s.logprob for s in row] for c, row in zip(unique, null_scores, strict=True)}
    merged = [
        [Scored(s.logprob, s.n_tokens, s.n_chars, n) for s, n in zip(row, null_of[tuple(q.choices)], strict=True)]
        for q, row in zip(questions, scores, strict=True)
    ]
    return merged, stats.merge(null_stats)


def query_costs(model: LanguageModel, questions: Sequence[Question], contexts: Sequence[str],
                answer_tokens: int = 0) -> list[CostRow]:
    """What serving these questions costs in deployment, one query at a time: without and, where contexts
    repeat, with prompt caching (`costs.deployment_costs`). An open question also generates its answer:
    `answer_tokens` (the measured mean) more tokens each."""
    return deployment_costs(model, [question_text(q) for q in questions], contexts,
                            memory_positions=model.reused_positions,
                            answer_tokens=[answer_tokens if q.is_open else 0 for q in questions])


def scoring_cost(stats: ScoringStats, queries: int, tokens_generated: int = 0) -> CostRow:
    """What our evaluation actually ran (with shared-prefix reuse), as measured; `tokens_generated` of its
    processed tokens were generated (open questions' answers)."""
    return CostRow(
        phase="scoring", kind="per_query", tokens_processed=stats.tokens_prefilled, tokens_reused=stats.tokens_reused,
        tokens_generated=tokens_generated, flops=stats.flops, seconds=stats.seconds,
        peak_memory_bytes=stats.peak_memory_bytes, queries=queries, tokens_cached=stats.tokens_cached,
        dollars=stats.dollars,
    )
