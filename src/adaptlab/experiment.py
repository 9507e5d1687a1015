"""One experiment run: a model × a dataset × a method × a seed → a `RunResult` (scores, metrics, costs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.evaluate import (
    accuracy_rows,
    choose_questions,
    generative_rows,
    query_cost,
    score_questions,
    score_rows,
    scoring_cost,
)
from adaptlab.methods import MethodOptions, get_method
from adaptlab.models.base import LanguageModel
from adaptlab.store import RunResult


def run_config(options: MethodOptions, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a run's id hashes: the method options and `extra` (dataset parameters, question limit)."""
    return {"method_options": asdict(options), **(extra or {})}


def run_id(model: str, dataset: str, method: str, seed: int, config: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{model}|{dataset}|{method}|seed{seed}|{digest}"


def run_experiment(
    model: LanguageModel,
    model_name: str,
    dataset: Dataset,
    method_name: str,
    seed: int,
    options: MethodOptions,
    workdir: Path,
    progress: Callable[[int], None] | None = None,
    cache_dir: Path | None = None,
    extra_config: dict[str, Any] | None = None,
) -> RunResult:
    """Prepare the method, score every test question, and collect metrics and costs.

    The run id hashes the method options and `extra_config` (dataset parameters, question limit), so changing
    any of them makes a new run rather than reusing a stored one."""
    config = run_config(options, extra_config)
    method = get_method(method_name, options)
    prepared = method.prepare(model, dataset, seed=seed, workdir=workdir, cache_dir=cache_dir)
    questions = dataset.questions
    if prepared.model.protocol == "generative-mc":  # no log-likelihoods: its own metric, no score rows
        picks, stats = choose_questions(prepared.model, questions, prepared.contexts, progress)
        score_list, metric_list = [], generative_rows(questions, picks)
    else:
        scores, stats = score_questions(prepared.model, questions, prepared.contexts, progress)
        score_list, metric_list = score_rows(questions, scores), accuracy_rows(questions, scores)
    deployment = query_cost(prepared.model, questions, prepared.contexts)
    costs = [*prepared.costs, deployment, scoring_cost(stats, len(questions))]
    return RunResult(
        run_id=run_id(model_name, dataset.name, method_name, seed, config),
        model=model_name,
        dataset=dataset.name,
        method=method_name,
        seed=seed,
        config=config,
        scores=score_list,
        metrics=metric_list,
        costs=costs,
        info={**prepared.info, "model_params": model.n_params, **_served_usage(stats)},
    )


def _served_usage(stats: Any) -> dict[str, Any]:
    """What a served model's `usage` and price table add to the scoring cost (cached tokens, dollars), if any."""
    if not (stats.tokens_cached or stats.dollars):
        return {}
    return {"scoring_tokens_cached": stats.tokens_cached, "scoring_dollars": stats.dollars}
