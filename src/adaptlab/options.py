"""Every option a method reads, as one schema per group, validated in one style (pydantic, unknown fields refused).

`MethodOptions` is what a run config's `options:` (and `method_options:`) holds; its groups `finetune`, `augment` and
`memory` are checked against their own schemas here, whichever methods will read them, so that a misspelt field
never passes unnoticed. A method turns its group into the typed object with `finetune_config()`,
`augment_options()` or `memory_config()`.

A bad value is an `AdaptlabError` naming the option, on one line (`option k: Input should be greater than or equal
to 1`). Run ids hash `MethodOptions.model_dump()`: the groups are kept as written (not filled with defaults), so a
config that spells out a default and one that leaves it out are different runs, as they always were.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from adaptlab.errors import AdaptlabError

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
Fraction = Annotated[Annotated[int, Field(strict=True)] | Annotated[float, Field(strict=True)], Field(gt=0, le=1)]


def _describe(err: ValidationError, group: str) -> str:
    """The first problem as one line: `option k: ...`, `unknown option 'kk'`, `option finetune: steps: ...`."""
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""  # the option, not the union member that refused it
    prefix = f"option {group}: " if group else "option "
    if first["type"] == "extra_forbidden":
        return f"{prefix}unknown field {field!r}" if group else f"unknown option {field!r}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{prefix}{field}: {message}" if field else f"{prefix}{message}"


class Options(BaseModel):
    """A group of options: unknown fields refused, and any problem one `AdaptlabError` line."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    group: ClassVar[str] = ""  # the group's name in `MethodOptions` ("" for `MethodOptions` itself)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise AdaptlabError(_describe(e, self.group)) from None

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed, validated like a new one."""
        return type(self)(**{**self.model_dump(), **changes})


class FinetuneConfig(Options):
    """Every knob of a fine-tuning run (defaults follow the paper: batch 8-16, lr 3e-4, 200-1000 steps)."""

    group: ClassVar[str] = "finetune"
    mode: Literal["lora", "full"] = "lora"
    steps: int = Field(300, ge=1)
    # Passes over the training examples instead of `steps`: steps = ceil(epochs x examples / batch_size), so that a
    # method training on more text (augmentations) sees each example as often as one training on less.
    epochs: float | None = Field(None, gt=0)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(10, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(256, ge=8)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_target_modules: str | list[str] = "all-linear"
    save_steps: int = Field(100, ge=1)

    def for_examples(self, n: int) -> FinetuneConfig:
        """These settings for `n` training examples: with `epochs`, its steps (and warm-up, at most all but one of
        them) resolved and `epochs` cleared; otherwise unchanged."""
        if self.epochs is None:
            return self
        steps = max(1, math.ceil(self.epochs * n / self.batch_size))
        return self.model_copy(update={"steps": steps, "epochs": None,
                                       "warmup_steps": min(self.warmup_steps, steps - 1)})


class AugmentOptions(Options):
    """How augmentations are generated (`options.augment`)."""

    group: ClassVar[str] = "augment"
    max_new_tokens_local: int = Field(96, ge=1)
    max_new_tokens_global: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0)
    samples: int = Field(1, ge=1)
    global_max_documents: int | None = Field(None, ge=1)  # cap on global prompts (one per document); None = all
    max_context_tokens: int | None = Field(None, ge=1)
    # Local prompt: `indirect` (the paper's: "other ways to say it", a sentence at a time) or `restate` (each whole
    # document, asked to end with the person's name: the reversed direction, stated explicitly).
    local_prompt: Literal["indirect", "restate"] = "indirect"
    # Local filter beyond fragments, copies and duplicates: `reordered` keeps a sentence only when every name in it is
    # in its source document and it ends on a name that the source says something after (no invented names, no
    # copies in the source's order).
    local_filter: Literal["none", "reordered"] = "none"
    # Keep a local augmentation that repeats one written for another unit (each document's restatement counts once
    # per document, as the documents' own paraphrases do); the default drops every repeat.
    local_repeats: bool = False


class MemoryConfig(Options):
    """Every knob of training a memory (`options.memory`, method `memory`)."""

    group: ClassVar[str] = "memory"
    positions: int = Field(64, ge=1)  # cached positions the memory holds
    # or: the most positions that hold at most 1/compression of the context's key/value cache (overrides positions)
    compression: float | None = Field(None, ge=1)
    # the attention layers (indices of the model's layers) that hold `positions` distinct keys and values; the
    # others hold one of each, repeated over the positions (None: every attention layer)
    layers: list[NonNegativeInt] | None = Field(None, min_length=1)
    steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(2e-2, gt=0)
    cuts: int = Field(3, ge=1)  # seed fragments per corpus sentence (cut after 1/4 .. 3/4 of its words)
    samples: int = Field(2, ge=1)  # generations per seed fragment, local or global prompt
    max_new_tokens: int = Field(32, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_k: int = Field(32, ge=1)  # teacher probabilities kept per position
    # where the self-study texts come from: the corpus' own documents; the model's inferences from one sentence
    # (augmentation's local prompt: restatements and reversals) or from the corpus and one document (global); the
    # teacher continuing seed fragments of the corpus' sentences (`cuts`), or writing freely after the corpus
    study: list[Literal["documents", "local", "global", "continue", "free"]] = Field(
        ["documents", "local"], min_length=1
    )
    free_samples: int = Field(128, ge=1)  # free texts (`free`)
    objective: Literal["distill", "lm"] = "distill"  # the teacher's top-k probabilities, or the text's next token
    init: Literal["corpus", "random"] = "corpus"  # the corpus' first tokens' cache, or Gaussian values


class MethodOptions(Options):
    """Knobs shared by methods; each method reads the ones it needs."""

    k: PositiveInt = 8  # documents retrieved per question (rag)
    retriever: Literal["bm25", "dense"] = "bm25"
    # The dense retriever's vector index: flat (exact), ivf or hnsw (approximate); None: flat up to
    # adaptlab.vector_index.EXACT_UP_TO documents, ivf above. Left out of the dump (and run ids) when None.
    retriever_index: Literal["flat", "ivf", "hnsw"] | None = None
    icl_fraction: Fraction = 1.0  # at most this fraction of the documents in context (the paper: 1/8 on its largest)
    max_context_tokens: PositiveInt | None = None  # cap on the context below the model's window (CPU budgets)
    split: Literal["off", "independent", "cumulative"] | None = None  # sentence splitting (default: the method's)
    augmenter: str | None = None  # model that writes augmentations (default: the model being adapted)
    finetune: dict[str, Any] = Field(default_factory=dict)  # FinetuneConfig fields
    augment: dict[str, Any] = Field(default_factory=dict)  # AugmentOptions fields
    memory: dict[str, Any] = Field(default_factory=dict)  # MemoryConfig fields

    @field_validator("finetune", "augment", "memory")
    @classmethod
    def _group_valid(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        GROUPS[info.field_name](**value)  # an AdaptlabError naming the group's field
        return value

    @model_validator(mode="after")
    def _index_needs_dense(self) -> MethodOptions:
        if self.retriever_index is not None and self.retriever != "dense":
            raise ValueError(f"retriever_index: {self.retriever_index} is an index of the dense retriever, "
                             f"not of {self.retriever}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Unset, the index option is not written: run ids of configs that never set it stay what they were.
        data = handler(self)
        if data.get("retriever_index", "") is None:
            del data["retriever_index"]
        return data

    def finetune_config(self) -> FinetuneConfig:
        return FinetuneConfig(**self.finetune)

    def augment_options(self) -> AugmentOptions:
        return AugmentOptions(**self.augment)

    def memory_config(self) -> MemoryConfig:
        return MemoryConfig(**self.memory)


GROUPS: dict[str, type[Options]] = {"finetune": FinetuneConfig, "augment": AugmentOptions, "memory": MemoryConfig}
