"""Fine-tuning methods: plain, sentence-split, augmented (local, global, both, oracle), and fine-tuning + RAG.

| method | trains on | sentence splitting (default) | test-time context |
|---|---|---|---|
| `ft` | documents | off | none |
| `ft-split` | documents | independent | none |
| `aug-local-ft` | documents + local augmentations | independent | none |
| `aug-global-ft` | documents + global augmentations | independent | none |
| `aug-ft` | documents + local + global | independent | none |
| `aug-oracle-ft` | documents + the generator's valid inferences | independent | none |
| `ft+rag` | documents | off | top-k retrieved documents |
| `ft-lora` / `ft-full` | documents | off | none |

`ft-lora` and `ft-full` are `ft` with LoRA and with full fine-tuning whatever `finetune.mode` says, so that one study
can put the two side by side (what each learns, and what each costs the model: `adaptlab.retention`).

Splitting defaults follow the paper: its plain fine-tuning baseline is unsplit (splitting hurt it on the semantic
data) and augmented fine-tuning splits sentences independently. `--split` overrides either.

Update paths (`Method.update`):

| method | paths |
|---|---|
| `ft`, `ft-split` | `retrain`, `continue` |
| `aug-*-ft` | `reaugment`, `retrain` |
| `ft+rag` | `retrieve`, `retrain` |

`retrain`: from the base model on the updated corpus, as the initial run. `continue`: from the fine-tuned weights,
on the changed documents only. `reaugment`: augment only the changed documents (the rest of the corpus as context;
the generation cache holds what was generated before) and continue from the fine-tuned weights on them and their
augmentations. `retrieve`: the old weights, retrieving from the updated corpus.
A continued run trains for the share of the configured steps that the changed documents are of the updated corpus
(at least one step): the same passes over its data as the initial run, so its cost scales with the change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, Prepared, as_update
from adaptlab.models.base import LanguageModel, require_trainable
from adaptlab.options import FinetuneConfig, MethodOptions
from adaptlab.training.examples import SplitMode, make_examples
from adaptlab.training.trained import TRAINED, Trained, load_trained


@dataclass(frozen=True)
class Preset:
    """What distinguishes one fine-tuning method from another (see the table in this module's docstring)."""

    name: str
    augment_kinds: tuple[str, ...] = ()  # "local", "global", "oracle"
    default_split: SplitMode = "off"  # sentence splitting unless `split` is set
    retrieve_at_test: bool = False
    mode: Literal["lora", "full"] | None = None  # fine-tuning mode whatever the options say (else theirs)

    @property
    def update_paths(self) -> tuple[str, ...]:
        if self.retrieve_at_test:
            return ("retrieve", "retrain")
        return ("reaugment", "retrain") if self.augment_kinds else ("retrain", "continue")


PRESETS = {p.name: p for p in (
    Preset("ft"),
    Preset("ft-split", default_split="independent"),
    Preset("aug-local-ft", ("local",), "independent"),
    Preset("aug-global-ft", ("global",), "independent"),
    Preset("aug-ft", ("local", "global"), "independent"),
    Preset("aug-oracle-ft", ("oracle",), "independent"),
    Preset("ft+rag", retrieve_at_test=True),
    Preset("ft-lora", mode="lora"),
    Preset("ft-full", mode="full"),
)}


class FineTuned(Method):
    """Fine-tuning, with the augmentations, sentence splitting and test-time retrieval of its preset."""

    def __init__(self, options: MethodOptions | None = None, *, preset: str = "ft"):
        super().__init__(options)
        self.preset = PRESETS[preset]
        self.name = preset
        self.finetune_config = self.options.finetune_config()
        if self.preset.mode is not None:
            self.finetune_config = self.finetune_config.model_copy(update={"mode": self.preset.mode})
        self.augment_options = self.options.augment_options()
        self.split: SplitMode = self.options.split or self.preset.default_split
        self.update_paths = self.preset.update_paths

    def train(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None,
        main_first: Callable[[], AbstractContextManager[Any]] = nullcontext, only: list[str] | None = None,
        config: FinetuneConfig | None = None,
    ) -> Trained:
        """Augment (if the method does) and fine-tune: the trained model, what it cost and what was decided.
        `main_first`: under several processes (`adaptlab finetune` under torchrun), the context in which the main
        process augments first, so that the others find its generations in the cache. `only`: the ids of the
        documents to train on (and augment), e.g. an update's changed documents; `config`: in place of the
        method's fine-tuning settings."""
        from adaptlab.training.augment import augment
        from adaptlab.training.finetune import finetune

        require_trainable(model, f"method {self.name}")  # before any augmentation is paid for
        costs = []
        config = config or self.finetune_config
        info: dict[str, object] = {"split": self.split}
        documents = [d for d in dataset.documents if only is None or d.id in only]
        if self.preset.augment_kinds:
            if "oracle" in self.preset.augment_kinds and not dataset.oracle:
                raise AdaptlabError(f"dataset {dataset.name} has no oracle inferences (oracle.jsonl)")
            augmenter = model
            if self.options.augmenter:
                from adaptlab.models.registry import load_model

                augmenter = load_model(self.options.augmenter)
            cache = (cache_dir or workdir) / "generations.sqlite"
            with main_first():
                result = augment(augmenter, dataset, self.preset.augment_kinds, cache, seed, self.augment_options,
                                 only)
            documents += result.documents
            if result.cost is not None:
                costs.append(result.cost)
            info["augmentation"] = dict(result.counts)
            info["augmenter"] = augmenter.name
        examples = make_examples(documents, self.split)
        config = config.for_examples(len(examples))  # `epochs`: steps for these examples
        info["finetune"] = config.model_dump()
        adapted, cost, log = finetune(model, examples, config, workdir, seed)
        costs.append(cost)
        info["train_examples"] = log["examples"]
        info["final_loss"] = log["losses"][-1][1] if log["losses"] else None
        info["resumed"] = log["resumed"]
        return Trained(model=adapted, costs=costs, info=info, losses=log["losses"])

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        """Train — or take the model that `adaptlab finetune` trained for this run into `workdir/trained` — then
        the test-time context (none, or retrieved documents)."""
        trained = load_trained(workdir / TRAINED, model) or self.train(
            model, dataset, seed=seed, workdir=workdir, cache_dir=cache_dir)
        return self._serve(trained, dataset, seed, workdir)

    def _serve(self, trained: Trained, dataset: Dataset, seed: int, workdir: Path) -> Prepared:
        """The trained model and the test-time context (none, or documents retrieved from `dataset`)."""
        adapted, costs, info = trained.model, list(trained.costs), dict(trained.info)
        info["loss_curve"] = [[step, loss] for step, loss in trained.losses]  # (step, training loss) as logged
        contexts = [""] * len(dataset.questions)
        if self.preset.retrieve_at_test:
            from adaptlab.methods.rag import Retrieved

            retrieved = Retrieved(self.options).prepare(adapted, dataset, seed=seed, workdir=workdir)
            contexts = retrieved.contexts
            costs += retrieved.costs
            info.update(retrieved.info)
        return Prepared(model=adapted, contexts=contexts, info=info, costs=costs)

    def update(
        self, prepared: Prepared, model: LanguageModel, before: Dataset, after: Dataset, *, path: str, seed: int,
        workdir: Path, cache_dir: Path | None = None,
    ) -> Prepared:
        """`retrain`: train `model` (the base) on `after` as `prepare` would; `retrieve`: keep the fine-tuned
        weights, retrieve from `after`; `continue`, `reaugment`: train the fine-tuned weights further on the changed
        documents (and, for augmented methods, their augmentations) for their share of the steps (with `epochs`:
        that many passes over them)."""
        self.check_path(path)
        changed = after.changed_documents(before)
        if path == "retrain":
            trained = self.train(model, after, seed=seed, workdir=workdir, cache_dir=cache_dir)
        elif path == "retrieve":
            trained = Trained(model=prepared.model, costs=[], info={})
        elif not changed:
            trained = Trained(model=prepared.model, costs=[], info={"train_examples": 0})
        else:
            config = self.finetune_config  # with `epochs`: that many passes over the changed documents' examples
            if config.epochs is None:
                share = len(changed) / len(after.documents)
                steps = max(1, math.ceil(config.steps * share))
                config = config.model_copy(update={"steps": steps, "warmup_steps": min(config.warmup_steps, steps - 1)})
            trained = self.train(prepared.model, after, seed=seed, workdir=workdir, cache_dir=cache_dir,
                                 only=[d.id for d in changed], config=config)
        served = self._serve(trained, after, seed, workdir)
        served.info.update({"update_path": path, "changed_documents": len(changed)})
        return Prepared(model=served.model, contexts=served.contexts, info=served.info, costs=as_update(served.costs))
