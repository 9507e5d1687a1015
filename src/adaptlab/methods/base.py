"""The one interface every adaptation method implements.

`prepare` may fine-tune, augment or build an index (metering its own one-off cost), and returns the model to
score with and the context each test question gets. Evaluation is then the same for every method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import LanguageModel
from adaptlab.store import CostRow


@dataclass
class Prepared:
    model: LanguageModel
    contexts: list[str]  # one per test question, aligned with dataset.questions
    info: dict[str, Any] = field(default_factory=dict)  # what the method decided (documents used, k, ...)
    costs: list[CostRow] = field(default_factory=list)  # one-off costs of preparing


@dataclass
class MethodOptions:
    """Knobs shared by methods; each method reads the ones it needs."""

    k: int = 8  # documents retrieved per question (rag)
    retriever: str = "bm25"  # bm25 | dense
    icl_fraction: float = 1.0  # use at most this fraction of the documents in context (the paper: 1/8 on its largest)
    max_context_tokens: int | None = None  # cap on the context below the model's window (CPU budgets)
    split: str | None = None  # sentence splitting for fine-tuning: off | independent | cumulative (method default)
    augmenter: str | None = None  # model that writes augmentations (default: the model being adapted)
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneConfig fields
    augment: dict[str, Any] = field(default_factory=dict)  # AugmentOptions fields
    memory: dict[str, Any] = field(default_factory=dict)  # MemoryConfig fields (method `memory`)

    def __post_init__(self) -> None:
        from adaptlab.retrieval import RETRIEVERS

        def ok_int(v: object, low: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= low

        problems = [
            (not ok_int(self.k, 1), f"k must be an integer >= 1, got {self.k!r}"),
            (self.retriever not in RETRIEVERS,
             f"retriever must be one of {', '.join(RETRIEVERS)}, got {self.retriever!r}"),
            (not (isinstance(self.icl_fraction, int | float) and 0 < self.icl_fraction <= 1),
             f"icl_fraction must be in (0, 1], got {self.icl_fraction!r}"),
            (self.max_context_tokens is not None and not ok_int(self.max_context_tokens, 1),
             f"max_context_tokens must be an integer >= 1, got {self.max_context_tokens!r}"),
        ]
        for bad, message in problems:
            if bad:
                raise AdaptlabError(f"option {message}")
        # The option groups are checked here, whichever methods will read them: a misspelt field must not pass
        # unnoticed (`finetune: {k: 2}` beside methods [icl, rag]).
        from adaptlab.errors import describe_validation_error
        from adaptlab.methods.memory import MemoryConfig
        from adaptlab.training.augment import AugmentOptions
        from adaptlab.training.finetune import FinetuneConfig

        for group, model in (("finetune", FinetuneConfig), ("augment", AugmentOptions), ("memory", MemoryConfig)):
            try:
                model(**getattr(self, group))
            except (TypeError, ValueError) as e:
                raise AdaptlabError(f"option {group}: {describe_validation_error(e)}") from None


class Method(ABC):
    name: str

    def __init__(self, options: MethodOptions | None = None):
        self.options = options or MethodOptions()

    @abstractmethod
    def prepare(  # workdir: this run's own folder; cache_dir: shared by runs (e.g. generations)
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared: ...
