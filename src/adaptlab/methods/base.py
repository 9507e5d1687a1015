"""The one interface every adaptation method implements.

`prepare` may fine-tune, augment or build an index (metering its own one-off cost), and returns the model to
score with and the context each test question gets. Evaluation is then the same for every method.

`update` brings a prepared method up to date when the knowledge changes (`Dataset.update`), along one of the
method's declared `update_paths` (e.g. `ft`: `retrain` from the base model, or `continue` from the fine-tuned
weights on the changed documents). Its one-off costs are of kind `update`, in phases named `update:<phase>`
(`as_update`), apart from the initial preparation's; its per-query and held costs are those of the updated state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
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

    # The ways this method is brought up to date after an update (see the module docstring); none: it cannot be.
    update_paths: tuple[str, ...] = ()

    def update(  # workdir: the update's own folder (not the initial preparation's)
        self, prepared: Prepared, model: LanguageModel, before: Dataset, after: Dataset, *, path: str, seed: int,
        workdir: Path, cache_dir: Path | None = None,
    ) -> Prepared:
        """`prepared` (this method prepared on `before`, from the base `model`) brought up to date with `after`
        along `path`: the model and contexts for `after`'s questions, and the update's costs (`as_update`). By
        default the method is prepared again on `after` (`prepare_again`: an index or a prefix rebuilt); a method
        whose paths do more overrides this."""
        self.check_path(path)
        return self.prepare_again(model, after, seed=seed, workdir=workdir, cache_dir=cache_dir)

    def check_path(self, path: str) -> None:
        if path not in self.update_paths:
            known = ", ".join(self.update_paths) or "none"
            raise AdaptlabError(f"method {self.name} has no update path {path!r}; its paths: {known}")

    def prepare_again(self, model: LanguageModel, after: Dataset, *, seed: int, workdir: Path,
                      cache_dir: Path | None = None) -> Prepared:
        """The update path that prepares this method from scratch on the updated corpus (a context swapped, an index
        or a prefix rebuilt): its one-off costs counted as the update's."""
        again = self.prepare(model, after, seed=seed, workdir=workdir, cache_dir=cache_dir)
        return Prepared(model=again.model, contexts=again.contexts, info=again.info, costs=as_update(again.costs))


UPDATE = "update"  # the kind of an update's one-off costs, and the prefix of their phases


def as_update(costs: list[CostRow]) -> list[CostRow]:
    """An update's costs: its one-off phases become kind `update`, phase `update:<phase>`; per-query and held
    costs (those of the updated state) stay as they are."""
    from dataclasses import replace

    return [replace(c, kind=UPDATE, phase=f"{UPDATE}:{c.phase}") if c.kind == "one_off" else c for c in costs]
