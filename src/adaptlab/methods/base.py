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
from adaptlab.models.base import LanguageModel
from adaptlab.options import MethodOptions
from adaptlab.store import CostRow


@dataclass
class Prepared:
    model: LanguageModel
    contexts: list[str]  # one per test question, aligned with dataset.questions
    info: dict[str, Any] = field(default_factory=dict)  # what the method decided (documents used, k, ...)
    costs: list[CostRow] = field(default_factory=list)  # one-off costs of preparing


class Method(ABC):
    name: str

    def __init__(self, options: MethodOptions | None = None):
        self.options = options or MethodOptions()

    @abstractmethod
    def prepare(  # workdir: this run's own folder; cache_dir: shared by runs (e.g. generations)
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared: ...
