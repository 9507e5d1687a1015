"""The evaluation arithmetic on hand-built scores: each normalisation, the prediction it makes, and accuracy per
split with its standard error for all four metrics. Only untied cases: how ties count is tested with the tie rule."""

from __future__ import annotations

import math

import pytest

from adaptlab.data.records import Question
from adaptlab.evaluate import METRICS, Scored, accuracy_rows, normalised, predict
from adaptlab.models.base import ChoiceScore

# Four choices built so that every metric prefers a different one, with no tie under any metric:
#   sum        = logprob                 -> -6, -8, -5, -7          best: 2
#   per_token  = logprob / n_tokens      -> -3, -2, -5, -1          best: 3
#   per_char   = logprob / n_chars       -> -2, -1, -2.5, -1.4      best: 1
#   calibrated = logprob - null_logprob  ->  0, -2, -0.5, -4        best: 0
CHOICES = [Scored(-6.0, 2, 3, -6.0), Scored(-8.0, 4, 8, -6.0), Scored(-5.0, 1, 2, -4.5), Scored(-7.0, 7, 5, -3.0)]
BEST = {"sum": 2, "per_token": 3, "per_char": 1, "calibrated": 0}


def definition(s: Scored, metric: str) -> float:
    return {"sum": s.logprob, "per_token": s.logprob / s.n_tokens, "per_char": s.logprob / s.n_chars,
            "calibrated": s.logprob - s.null_logprob}[metric]


@pytest.mark.parametrize("metric", METRICS)
def test_normalised_follows_each_metrics_definition(metric: str):
    for s in CHOICES:
        assert normalised(s, metric) == pytest.approx(definition(s, metric))
    values = [normalised(s, metric) for s in CHOICES]
    assert len(set(values)) == len(values)  # the fixture has no ties


def test_normalised_guards_empty_choices_and_reads_plain_choice_scores():
    empty = Scored(-3.0, 0, 0, -1.0)
    assert normalised(empty, "per_token") == normalised(empty, "per_char") == normalised(empty, "sum") == -3.0
    plain = ChoiceScore(logprob=-6.0, n_tokens=3, n_chars=4)  # from a model, before null scores are added
    assert [normalised(plain, m) for m in ("sum", "per_token", "per_char")] == [-6.0, -2.0, -1.5]


@pytest.mark.parametrize("metric", METRICS)
def test_predict_takes_the_best_normalised_choice(metric: str):
    assert predict(CHOICES, metric) == BEST[metric]
    # Independent of where the best choice stands.
    for shift in range(1, len(CHOICES)):
        rotated = CHOICES[shift:] + CHOICES[:shift]
        assert predict(rotated, metric) == (BEST[metric] - shift) % len(CHOICES)


def test_predict_defaults_to_per_char():
    assert predict(CHOICES) == BEST["per_char"]


def question(i: int, answer: int, split: str, n_choices: int) -> Question:
    return Question(id=f"q{i}", prompt="The glon is", choices=[f"c{j}" for j in range(n_choices)], answer=answer,
                    split=split)


def test_accuracy_rows_per_split_and_metric_with_standard_errors():
    # Split "four": the same four-choice scores for every question, answers chosen so that the four metrics
    # get different accuracies. Split "two": two-choice questions, every metric right on 3 of 4.
    answers = [2, 2, 2, 1, 1, 3]
    two = [Scored(-1.0, 1, 1, -5.0), Scored(-3.0, 2, 2, -1.0)]  # choice 0 best under every metric, no tie
    questions = [question(i, a, "four", 4) for i, a in enumerate(answers)]
    questions += [question(10 + i, a, "two", 2) for i, a in enumerate([0, 0, 0, 1])]
    scores = [CHOICES] * len(answers) + [two] * 4
    rows = accuracy_rows(questions, scores)

    assert [(r.split, r.metric) for r in rows] == [(s, m) for s in ("four", "two") for m in METRICS]
    for r in rows:
        if r.split == "four":
            expected = answers.count(BEST[r.metric]) / len(answers)
            n, chance = len(answers), 1 / 4
        else:
            expected, n, chance = 3 / 4, 4, 1 / 2
        assert r.accuracy == pytest.approx(expected), r
        assert r.stderr == pytest.approx(math.sqrt(expected * (1 - expected) / n)), r
        assert (r.n, r.chance, r.ties) == (n, pytest.approx(chance), 0)
    four = {r.metric: r.accuracy for r in rows if r.split == "four"}
    assert len(set(four.values())) == len(METRICS)  # the four metrics are told apart
