"""`pretrained`: the model as it is, the question alone (the no-leak control: should sit at chance). Its one update
path, `none`, changes nothing: the control for an update's questions."""

from __future__ import annotations

from pathlib import Path

from adaptlab.data.records import Dataset
from adaptlab.methods.base import Method, Prepared
from adaptlab.models.base import LanguageModel


class Pretrained(Method):
    name = "pretrained"
    update_paths = ("none",)

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        return Prepared(model=model, contexts=[""] * len(dataset.questions))

    def update(
        self, prepared: Prepared, model: LanguageModel, before: Dataset, after: Dataset, *, path: str, seed: int,
        workdir: Path, cache_dir: Path | None = None,
    ) -> Prepared:
        self.check_path(path)
        return Prepared(model=prepared.model, contexts=[""] * len(after.questions))
