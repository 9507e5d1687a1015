"""Open-question evaluation: generate an answer after each question's context, grade it against the references,
and score the first reference's log-likelihood as a graded score that needs no generation.

- Generation is greedy, stops at a newline, at most `OPEN_ANSWER_TOKENS` new tokens, through
  `LanguageModel.generate_requests`: questions that share a context share its prefix (the transformers backend
  prefills the tokens every request starts with once). A model that continues text (protocol `likelihood`) gets
  the question's prompt as the start of its reply, exactly as scoring does; a model declared `generative-mc`
  (a chat endpoint without log-probabilities) gets the question as its user turn (`prompts.open_question_prompt`).
- Grading is SQuAD's (`adaptlab.grading`): `exact_match`, `f1`, `contains`, each the best over the references.
- `answer_logprob` is the log-likelihood per character of `prompt + " " + answers[0]` after the context (like the
  multiple-choice `per_char`); skipped, not faked, under the `generative-mc` protocol.

Every metric is a mean over a split's open questions with its standard error; chance is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from adaptlab.context import OPEN_ANSWER_TOKENS
from adaptlab.data.records import Question
from adaptlab.grading import OPEN_METRICS, grade
from adaptlab.models.base import GenerationRequest, GenerationStats, LanguageModel, ScoreRequest, ScoringStats
from adaptlab.models.prompts import open_question_prompt, question_text
from adaptlab.progress import report as report_progress
from adaptlab.store import AnswerRow, MetricRow

__all__ = ["ANSWER_LOGPROB", "OPEN_ANSWER_TOKENS", "OPEN_METRIC_NAMES", "OPEN_STOP", "Answered", "answer_questions",
           "generation_as_scoring", "open_rows"]

OPEN_STOP = ("\n",)
ANSWER_LOGPROB = "answer_logprob"
OPEN_METRIC_NAMES = (*OPEN_METRICS, ANSWER_LOGPROB)


@dataclass(frozen=True)
class Answered:
    """What evaluation got for the open questions: one stored row per question, and what it cost."""

    answers: list[AnswerRow]
    generation: GenerationStats
    scoring: ScoringStats  # the reference answers' log-likelihoods (empty under `generative-mc`)

    @property
    def mean_generated_tokens(self) -> float:
        """Tokens generated per question, measured (for the deployment cost of an open question)."""
        return self.generation.tokens_generated / len(self.answers) if self.answers else 0.0


def generation_requests(model: LanguageModel, questions: Sequence[Question],
                        contexts: Sequence[str]) -> list[GenerationRequest]:
    """Each question after its context: the prompt continued by the model (`instruction=None`, so the prefix is
    the one scoring uses), or, for a `generative-mc` model, the question as its user turn."""
    if model.protocol == "generative-mc":
        return [GenerationRequest(ctx, "", instruction=open_question_prompt(question_text(q)))
                for q, ctx in zip(questions, contexts, strict=True)]
    return [GenerationRequest(ctx, question_text(q), instruction=None)
            for q, ctx in zip(questions, contexts, strict=True)]


def answer_questions(model: LanguageModel, questions: Sequence[Question], contexts: Sequence[str]) -> Answered:
    """Generate and grade every open question, and score its first reference answer where the model gives
    log-likelihoods."""
    assert all(q.is_open for q in questions)
    if not questions:
        return Answered([], GenerationStats(), ScoringStats())
    report_progress("answering", 0, len(questions))
    texts, gen = model.generate_requests(generation_requests(model, questions, contexts),
                                         max_new_tokens=OPEN_ANSWER_TOKENS, stop=OPEN_STOP)
    report_progress("answering", len(questions), len(questions))
    logprobs: list[float | None] = [None] * len(questions)
    scoring = ScoringStats()
    if model.protocol == "likelihood":
        requests = [ScoreRequest(ctx, question_text(q), (q.references[0],))
                    for q, ctx in zip(questions, contexts, strict=True)]
        scores, scoring = model.score(requests)
        logprobs = [row[0].logprob / max(row[0].n_chars, 1) for row in scores]
    rows = []
    for q, text, lp in zip(questions, texts, logprobs, strict=True):
        answer = text.strip()
        g = grade(answer, q.references)
        rows.append(AnswerRow(q.id, q.split, answer, g["exact_match"], g["f1"], g["contains"], lp,
                              question=question_text(q), reference=q.references[0]))
    return Answered(rows, gen, scoring)


def open_rows(questions: Sequence[Question], answers: Sequence[AnswerRow]) -> list[MetricRow]:
    """Per split of the open questions: the mean of each graded metric and of `answer_logprob` (where scored),
    with the standard error of the mean (the standard deviation of the per-question values over √n); chance 0."""
    rows = []
    for split in dict.fromkeys(q.split for q in questions):
        per = [a for a in answers if a.split == split]
        for metric in OPEN_METRIC_NAMES:
            values = [v for a in per if (v := a.value(metric)) is not None]
            if not values:
                continue
            n = len(values)
            mean = sum(values) / n
            variance = max(sum(v * v for v in values) / n - mean * mean, 0.0)
            rows.append(MetricRow(split, metric, mean, math.sqrt(variance / n), 0.0, n))
    return rows


def generation_as_scoring(gen: GenerationStats) -> ScoringStats:
    """Generation's consumption in the scoring phase's terms: every token run through the model (the prompts and
    each generated token) is processed; the rest is carried over as measured."""
    return ScoringStats(tokens_prefilled=gen.tokens_prefilled + gen.tokens_generated, tokens_reused=gen.tokens_reused,
                        seconds=gen.seconds, peak_memory_bytes=gen.peak_memory_bytes, flops=gen.flops,
                        tokens_cached=gen.tokens_cached, dollars=gen.dollars)
