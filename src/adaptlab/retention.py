"""What adaptation cost the model: a retention evaluation stored beside each run (when a config asks for it).

Fine-tuning on new knowledge may cost what the model knew. After a method has prepared its model, the retention
evaluation asks that model — the adapted weights, or the untouched ones, or the base model holding a trained prefix
(`memory`) — questions about knowledge it had before, with nothing of the run's corpus in context:

- `general-knowledge` (a real model): the shipped 4-way general-knowledge set (`adaptlab.data.general_knowledge`,
  about 300 well-known facts) with the question alone, and the loss in nats per token on the shipped held-out text;
- `fresh-worlds` (a model trained from scratch, which knows nothing else): in-context learning on worlds it was not
  adapted to — fresh draws of the run's own generator (seeds `FRESH_SEED` + k, never a study's) with their
  documents in context — so the retention measured is the in-context skill fine-tuning may erode;
- `auto`: `fresh-worlds` for the models adaptlab trains from scratch (`organism`, `tiny`), else `general-knowledge`.

Everything is stored as metric rows of the split `retention` (accuracy per metric, like any split; for
`general-knowledge` also `heldout_nats_per_token`, whose "accuracy" column holds the mean held-out loss and "stderr"
its standard error over paragraphs) and score rows with ids prefixed `retention-`. It is an evaluation, not part of
deploying the method: its cost is kept out of the run's cost rows (its seconds are in the run's info).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adaptlab.data import general_knowledge
from adaptlab.data.records import Dataset, Question
from adaptlab.evaluate import accuracy_rows, score_questions, score_rows
from adaptlab.models.base import LanguageModel, ScoreRequest
from adaptlab.store import MetricRow, ScoreRow

Retention = Literal["none", "auto", "general-knowledge", "fresh-worlds"]
RETENTION_KINDS: tuple[str, ...] = ("none", "auto", "general-knowledge", "fresh-worlds")
SPLIT = "retention"
HELDOUT_METRIC = "heldout_nats_per_token"
FRESH_SEED = 1_000_000  # fresh worlds are seeds FRESH_SEED, FRESH_SEED + 1, ...
FRESH_WORLDS = 2
SCRATCH_MODELS = ("organism", "tiny")  # trained from scratch by adaptlab: no general knowledge to retain
# The world a fresh-worlds evaluation draws when the run's dataset is not a generator's (the demo's reversals).
DEFAULT_WORLD = ("simple-reversals", {"n_facts": 16, "articles_per_fact": 3})


def resolve(kind: Retention, model_name: str) -> Retention:
    if kind != "auto":
        return kind
    return "fresh-worlds" if model_name in SCRATCH_MODELS else "general-knowledge"


@dataclass
class RetentionResult:
    kind: str
    scores: list[ScoreRow] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def evaluate_retention(model: LanguageModel, kind: Retention, dataset: Dataset, workdir: Path) -> RetentionResult:
    """The retention evaluation `kind` (resolved: not `auto`) of `model` as a method prepared it."""
    start = time.perf_counter()
    if kind == "general-knowledge":
        questions: list[Question] = [q.model_copy(update={"id": f"retention-{q.id}"})
                                     for q in general_knowledge.questions(SPLIT)]
        contexts = [""] * len(questions)
    elif kind == "fresh-worlds":
        questions, contexts = _fresh_worlds(model, dataset, workdir)
    else:
        raise ValueError(f"not a retention evaluation: {kind!r}")
    scores, _ = score_questions(model, questions, contexts)
    result = RetentionResult(kind, score_rows(questions, scores), accuracy_rows(questions, scores))
    if kind == "general-knowledge":
        result.metrics.append(heldout_loss(model))
    result.info = {"retention": kind, "retention_questions": len(questions),
                   "retention_seconds": round(time.perf_counter() - start, 3)}
    return result


def heldout_loss(model: LanguageModel) -> MetricRow:
    """Mean loss (nats per token) of the held-out text, paragraph by paragraph, each after its first word."""
    requests = []
    for paragraph in general_knowledge.heldout_paragraphs():
        first, rest = paragraph.split(" ", 1)
        requests.append(ScoreRequest(context="", prompt=first, choices=(rest,)))
    scores, _ = model.score(requests)
    losses = [-row[0].logprob / row[0].n_tokens for row in scores]
    mean = sum(losses) / len(losses)
    spread = math.sqrt(sum((x - mean) ** 2 for x in losses) / (len(losses) - 1) / len(losses))
    return MetricRow(SPLIT, HELDOUT_METRIC, mean, spread, 0.0, len(losses))


def _fresh_worlds(model: LanguageModel, dataset: Dataset, workdir: Path) -> tuple[list[Question], list[str]]:
    """Questions of fresh worlds of the run's generator, each with its world's documents in context (as `icl`)."""
    from adaptlab.data.io import load_dataset
    from adaptlab.data.registry import GENERATORS, make_dataset
    from adaptlab.methods import get_method

    manifest = dataset.manifest
    if manifest is not None and manifest.name in GENERATORS and manifest.seed is not None:
        name = manifest.name
        params = {k: v for k, v in manifest.params.items() if k != "update_share"}
    else:
        name, params = DEFAULT_WORLD
    questions: list[Question] = []
    contexts: list[str] = []
    for k in range(FRESH_WORLDS):
        folder = workdir / "retention" / f"{name}-seed{FRESH_SEED + k}"
        make_dataset(name, FRESH_SEED + k, folder, params)
        world = load_dataset(folder)
        prepared = get_method("icl").prepare(model, world, seed=FRESH_SEED + k, workdir=folder)
        for q, context in zip(world.questions, prepared.contexts, strict=True):
            questions.append(q.model_copy(update={"id": f"retention-w{k}-{q.id}", "split": SPLIT}))
            contexts.append(context)
    return questions, contexts
