"""`pretrained`: the model as it is, the question alone (the no-leak control: should sit at chance)."""

from __future__ import annotations

from pathlib import Path

from adaptlab.data.records import Dataset
from adaptlab.methods.base import Method, Prepared
from adaptlab.models.base import LanguageModel


class Pretrained(Method):
    name = "pretrained"

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        return Prepared(model=model, contexts=[""] * len(dataset.questions))
