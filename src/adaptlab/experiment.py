"""One experiment run: a model × a dataset × a method × a seed → a `RunResult` (scores, answers, metrics, costs).

A dataset may mix multiple-choice and open questions: the multiple-choice ones are scored exactly as in a dataset
of them alone (`adaptlab.evaluate`), the open ones answered and graded (`adaptlab.evaluate_open`), and both costs
are measured into the one `scoring` phase."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import (
    accuracy_rows,
    choose_questions,
    generative_rows,
    query_costs,
    score_questions,
    score_rows,
    scoring_cost,
)
from adaptlab.evaluate_open import answer_questions, generation_as_scoring, open_rows
from adaptlab.methods import get_method
from adaptlab.models.base import LanguageModel, ScoringStats
from adaptlab.options import MethodOptions
from adaptlab.retention import Retention, evaluate_retention, resolve
from adaptlab.store import MetricRow, RunResult, ScoreRow

UPDATE_SUFFIX = "@update"  # an update run's dataset column: `<dataset>@update`; its method column: `<method>/<path>`


def run_identity(
    model: str, model_fingerprint: str, dataset: Dataset, method: str, seed: int, options: MethodOptions,
    *, update_path: str | None = None, retention: Retention = "none",
) -> tuple[str, dict[str, Any]]:
    """The run id and the configuration it hashes: everything that changes a result — the model's weights, the
    dataset's content (after any question limit), the method and all its options, the seed, and the retention
    evaluation stored with it (only when there is one, so runs without keep their ids). `eval` and `run` both get
    their ids here, so the same experiment has the same id whichever command ran it.

    An update run (`update_path`: the method prepared on `dataset`, brought up to date with `dataset.update` along
    that path, tested on the update's questions) also hashes the update's content and the path; its id names the
    dataset `<name>@update` and the method `<method>/<path>`, the columns it is stored under."""
    config = {
        "model_fingerprint": model_fingerprint,
        "dataset_sha256": dataset.digest(),
        "questions": len(dataset.questions),
        "method_options": options.model_dump(),
    }
    retention = resolve(retention, model)
    if retention != "none":
        config["retention"] = retention
    name, label = dataset.name, method
    if update_path is not None:
        if dataset.update is None:
            raise AdaptlabError(f"dataset {dataset.name} has no update to run update path {update_path!r} on")
        config |= {"update_sha256": dataset.update.digest(), "update_questions": len(dataset.update.questions),
                   "update_path": update_path}
        name, label = f"{dataset.name}{UPDATE_SUFFIX}", f"{method}/{update_path}"
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{model}|{name}|{label}|seed{seed}|{digest}", config


def run_experiment(
    model: LanguageModel,
    model_name: str,
    dataset: Dataset,
    method_name: str,
    seed: int,
    options: MethodOptions,
    workdir: Path,
    cache_dir: Path | None = None,
    info: dict[str, Any] | None = None,
    model_fingerprint: str | None = None,
    update_path: str | None = None,
    trained: Path | None = None,
    retention: Retention = "none",
) -> RunResult:
    """Prepare the method, score every test question, and collect metrics and costs; then, if asked, the retention
    evaluation of the prepared model (`adaptlab.retention`), stored beside them. `info` (e.g. the dataset's
    generator parameters) is stored with the run; it does not enter the run id (see `run_identity`).

    With `update_path`, an update run: prepare on `dataset` exactly as its ordinary run does (in `workdir/initial`;
    `trained`: the ordinary run's trained model folder, used when `adaptlab finetune` left one there), bring it up
    to date with `dataset.update` along the path (in `workdir/update`), then score the update's questions. Its costs
    are the initial preparation's one-off costs, the update's (kind `update`) and the updated state's per query."""
    from adaptlab.models.registry import model_fingerprint as fingerprint_of

    fingerprint = model_fingerprint or fingerprint_of(model_name)
    rid, config = run_identity(model_name, fingerprint, dataset, method_name, seed, options,
                               update_path=update_path, retention=retention)
    method = get_method(method_name, options)
    if update_path is None or dataset.update is None:  # (run_identity refused a path without an update)
        prepared = method.prepare(model, dataset, seed=seed, workdir=workdir, cache_dir=cache_dir)
        tested, initial_costs = dataset, []
    else:
        method.check_path(update_path)
        initial = method.prepare(model, dataset, seed=seed, workdir=_initial_workdir(workdir, trained),
                                 cache_dir=cache_dir)
        tested = dataset.update
        prepared = method.update(initial, model, dataset, tested, path=update_path, seed=seed,
                                 workdir=workdir / "update", cache_dir=cache_dir)
        initial_costs = [c for c in initial.costs if c.kind == "one_off"]
        prepared.info = {"initial": initial.info, **prepared.info}
    questions = tested.questions
    closed = [i for i, q in enumerate(questions) if not q.is_open]
    opened = [i for i, q in enumerate(questions) if q.is_open]
    mc_questions = [questions[i] for i in closed]
    mc_contexts = [prepared.contexts[i] for i in closed]
    score_list: list[ScoreRow] = []
    metric_list: list[MetricRow] = []
    stats = ScoringStats()
    if mc_questions and prepared.model.protocol == "generative-mc":  # no log-likelihoods: its own metric, no scores
        picks, stats = choose_questions(prepared.model, mc_questions, mc_contexts)
        metric_list = generative_rows(mc_questions, picks)
    elif mc_questions:
        scores, stats = score_questions(prepared.model, mc_questions, mc_contexts)
        score_list, metric_list = score_rows(mc_questions, scores), accuracy_rows(mc_questions, scores)
    answered = answer_questions(prepared.model, [questions[i] for i in opened],
                                [prepared.contexts[i] for i in opened])
    if opened:
        metric_list += open_rows([questions[i] for i in opened], answered.answers)
        stats.merge(answered.scoring).merge(generation_as_scoring(answered.generation))
    deployment = query_costs(prepared.model, questions, prepared.contexts,
                             answer_tokens=round(answered.mean_generated_tokens))
    costs = [*initial_costs, *prepared.costs, *deployment,
             scoring_cost(stats, len(questions), tokens_generated=answered.generation.tokens_generated)]
    kept: dict[str, Any] = {}
    if "retention" in config:  # after the costs are measured: an evaluation, not part of deploying the method
        kept_result = evaluate_retention(prepared.model, config["retention"], dataset, workdir)
        score_list += kept_result.scores
        metric_list += kept_result.metrics
        kept = kept_result.info
    return RunResult(
        run_id=rid,
        model=model_name,
        dataset=dataset.name if update_path is None else f"{dataset.name}{UPDATE_SUFFIX}",
        method=method_name if update_path is None else f"{method_name}/{update_path}",
        seed=seed,
        config=config,
        scores=score_list,
        metrics=metric_list,
        costs=costs,
        answers=answered.answers,
        info={**(info or {}), **prepared.info, "model_params": model.n_params, **coverage(model, tested), **kept},
    )


def _initial_workdir(workdir: Path, trained: Path | None) -> Path:
    """Where an update run prepares its initial state: its own folder, seeing the ordinary run's trained model
    (a link to it) when there is one, so that the weights are loaded rather than trained again."""
    from adaptlab.training.trained import RECORD, TRAINED

    folder = workdir / "initial"
    folder.mkdir(parents=True, exist_ok=True)
    if trained is not None and (trained / RECORD).is_file() and not (folder / TRAINED).exists():
        (folder / TRAINED).symlink_to(trained.resolve(), target_is_directory=True)
    return folder


UNKNOWN_WARN_ABOVE = 0.01  # share of a dataset's tokens that the model's tokenizer maps to its unknown token


def coverage(model: LanguageModel, dataset: Dataset) -> dict[str, Any]:
    """How much of the dataset the model's tokenizer cannot represent (its unknown token): text it cannot see,
    e.g. names made of letters the organism has no pieces for. Above 1% a warning is stored with the run."""
    texts = [d.text for d in dataset.documents] + [t for q in dataset.questions
                                                   for t in (q.prompt, *q.choices, *(q.answers or []))]
    share = model.unknown_token_share(texts)
    if share is None:
        return {}
    out: dict[str, Any] = {"unknown_token_share": round(share, 4)}
    if share > UNKNOWN_WARN_ABOVE:
        out["warnings"] = [f"the tokenizer of {model.name} maps {share:.1%} of {dataset.name}'s tokens to its "
                           "unknown token: it cannot read that text, and scores there mean little"]
    return out
