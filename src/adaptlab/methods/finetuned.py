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
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, Prepared
from adaptlab.models.base import LanguageModel, require_trainable
from adaptlab.options import MethodOptions
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

    def train(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None,
        main_first: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> Trained:
        """Augment (if the method does) and fine-tune: the trained model, what it cost and what was decided.
        `main_first`: under several processes (`adaptlab finetune` under torchrun), the context in which the main
        process augments first, so that the others find its generations in the cache."""
        from adaptlab.training.augment import augment
        from adaptlab.training.finetune import finetune

        require_trainable(model, f"method {self.name}")  # before any augmentation is paid for
        costs = []
        info: dict[str, object] = {"split": self.split, "finetune": self.finetune_config.model_dump()}
        documents = list(dataset.documents)
        if self.preset.augment_kinds:
            if "oracle" in self.preset.augment_kinds and not dataset.oracle:
                raise AdaptlabError(f"dataset {dataset.name} has no oracle inferences (oracle.jsonl)")
            augmenter = model
            if self.options.augmenter:
                from adaptlab.models.registry import load_model

                augmenter = load_model(self.options.augmenter)
            cache = (cache_dir or workdir) / "generations.sqlite"
            with main_first():
                result = augment(augmenter, dataset, self.preset.augment_kinds, cache, seed, self.augment_options)
            documents += result.documents
            if result.cost is not None:
                costs.append(result.cost)
            info["augmentation"] = dict(result.counts)
            info["augmenter"] = augmenter.name
        examples = make_examples(documents, self.split)
        adapted, cost, log = finetune(model, examples, self.finetune_config, workdir, seed)
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
