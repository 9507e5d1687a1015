"""The one language-model interface every backend implements, and the records that cross it.

A request is a question with its choices plus the shared `context` (the ICL documents) that precedes it. Each
choice is scored as the continuation `prompt + " " + choice` (lm-evaluation-harness's default target delimiter),
after the model-specific prefix `render_prefix(context)`. Backends see all requests of an evaluation at once, so
they can sort, de-duplicate and share work between questions that have the same context.

Two interfaces, as lm-evaluation-harness separates `LM` from `TemplateLM`:
- `LanguageModel`, text in and text out, which every backend implements (in-process transformers, a served model
  over HTTP): score, generate with stats, count tokens, render the prompt prefix. Evaluation, ICL, RAG and
  augmentation use only this.
- `TrainableModel`, which adds what training needs (the torch module, the tokenizer and its special tokens, a copy
  with new weights). Fine-tuning asks for it with `require_trainable`, which stops with one line for a backend
  that has no weights here.

This module imports no torch, so code that only passes records around stays light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Self

from adaptlab.costs import Dims
from adaptlab.errors import AdaptlabError
from adaptlab.models import prompts


@dataclass(frozen=True)
class ScoreRequest:
    """One multiple-choice question to score."""

    context: str  # shared text before the question (ICL documents); "" for none
    prompt: str  # the question prompt (never ends with whitespace)
    choices: tuple[str, ...]  # each scored as the continuation " " + choice after prompt


@dataclass(frozen=True)
class ChoiceScore:
    """The log-likelihood of one choice given everything before it."""

    logprob: float  # sum of the choice tokens' log-probabilities (natural log)
    n_tokens: int
    n_chars: int  # len(choice)

    @property
    def per_token(self) -> float:
        return self.logprob / self.n_tokens

    @property
    def per_char(self) -> float:
        return self.logprob / self.n_chars


@dataclass
class Stats:
    """What a call consumed, added up: `merge` sums every field but the peak memory, which is the larger of the two.
    One way to add stats for every caller, so that no field (a server's cached tokens, its dollars) is dropped."""

    def merge(self, other: Self) -> Self:
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(a, b) if f.name == "peak_memory_bytes" else a + b)
        return self


@dataclass
class ScoringStats(Stats):
    """What one `score()` call consumed.

    - `tokens_prefilled`: real tokens run through the model (padding not counted).
    - `tokens_reused`: tokens served from a cached shared prefix instead of being recomputed: the prefix length
      times the number of (question, choice) rows that attended to it.
    - `peak_memory_bytes`: on CUDA the measured `torch.cuda.max_memory_allocated` during the call (weights
      included); on CPU an estimate (weights + the largest batch's key/value cache, hidden activations and
      logits), because process RSS is neither per call nor deterministic.
    - `flops`: an estimate, 2·N_body·T + 2·d·V·T_logits + 4·L·d_attn·A, where N_body = parameters other than the
      embedding and output matrices, T = tokens prefilled, T_logits = positions whose logits were computed
      (only answer positions with prefix sharing; every position in the naive path, where it reduces to the
      usual 2·N per token), d·V = the output matrix, L = layers, d_attn = heads × head size and A = the number
      of (query, key) pairs attended to (a query at position p attends to p + 1 keys).
    """

    requests: int = 0
    choices: int = 0
    tokens_prefilled: int = 0
    tokens_reused: int = 0
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    flops: float = 0.0
    tokens_cached: int = 0  # a server's own cache hits, where its `usage` reports them (served models)
    dollars: float = 0.0  # from the price table a served model was given; 0 without one


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: `render_prefix(context, instruction=instruction) + prompt`, continued by the model."""

    context: str
    prompt: str
    instruction: str | None = ""


@dataclass
class GenerationStats(Stats):
    """What one `generate_with_stats()` call consumed; the fields mean what they mean in `ScoringStats`."""

    prompts: int = 0
    tokens_prefilled: int = 0  # prefix + prompt tokens run through the model
    tokens_reused: int = 0  # prefix tokens times the number of prompts that reused its cache
    tokens_generated: int = 0  # new tokens decoded (each one is also a forward step)
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    flops: float = 0.0
    tokens_cached: int = 0
    dollars: float = 0.0

    def share(self, n: int) -> dict[str, float]:
        """One of `n` equal parts of what was consumed (an item's share of its batch), the peak excepted."""
        kept = [f.name for f in fields(self) if f.name not in ("prompts", "peak_memory_bytes")]
        return {name: getattr(self, name) / n for name in kept}


class LanguageModel(ABC):
    """The text-level contract: a causal language model that scores multiple-choice continuations and generates.

    `render_prefix(context)` is the single place where prompt formatting lives (its wording is
    `adaptlab.models.prompts`): every question that shares a context shares the same prefix string, which is what
    lets a backend compute the prefix once.
    """

    name: str
    context_window: int  # the most tokens one sequence (prefix + question + choice) may have
    n_params: int  # 0 when unknown (a served model whose size was not given): FLOPs are then not estimated
    chat: bool = False  # prompts are wrapped in the model's chat template
    meta: Mapping[str, Any] = MappingProxyType({})  # facts adaptlab knows about the model (`adaptlab.json`)
    # How `score` measures a choice: "likelihood" (log-probabilities of the choice's tokens), the only protocol
    # whose numbers are log-likelihoods. A backend without prompt log-probabilities declares another.
    protocol: str = "likelihood"
    @property
    def reused_positions(self) -> int:
        """Positions every prompt attends to in a cache that holds no text (a trained memory prefix): what a query
        costs beyond its own tokens. 0 for a plain model."""
        return 0

    @property
    def dims(self) -> Dims:
        """The shape the cost model needs. This default knows only the parameter count (2·N FLOPs per token); a
        backend that holds the weights gives the real shape."""
        return Dims.from_params(self.n_params)

    @property
    def fingerprint(self) -> str:
        """What identifies the weights, for caches of what the model wrote: a digest of the tensors where they are
        here; "" where unknown (a served model is identified by its name)."""
        return ""

    def unknown_token_share(self, texts: Sequence[str]) -> float | None:
        """The share of the tokens of `texts` that the tokenizer maps to its unknown token (text the model cannot
        see); None where the tokenizer is not known here."""
        return None

    def choose(
        self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[int | None], ScoringStats]:
        """The generative multiple-choice protocol: each request's choices as lettered options after its context,
        the model's greedy reply parsed for a letter (None where it names none). Any model can answer this way; a
        backend may override it to send the requests side by side."""
        picks: list[int | None] = []
        stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))
        for r in requests:
            question = prompts.multiple_choice_prompt(r.prompt, r.choices)
            (reply,), gen = self.generate_with_stats(
                [""], context=r.context, instruction=question, max_new_tokens=prompts.MC_REPLY_TOKENS, stop=())
            picks.append(prompts.parse_letter(reply, len(r.choices)))
            stats.merge(ScoringStats(tokens_prefilled=gen.tokens_prefilled + gen.tokens_generated,
                                     tokens_reused=gen.tokens_reused, seconds=gen.seconds,
                                     peak_memory_bytes=gen.peak_memory_bytes, flops=gen.flops,
                                     tokens_cached=gen.tokens_cached, dollars=gen.dollars))
            if progress:
                progress(1)
        return picks, stats

    @abstractmethod
    def score(
        self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[list[ChoiceScore]], ScoringStats]:
        """Log-likelihood of every choice of every request, in request order.

        `progress`, if given, is called with the number of requests finished since its last call (an increment,
        like `rich.progress.Progress.advance`)."""

    @abstractmethod
    def generate_with_stats(
        self,
        prompts: Sequence[str],
        *,
        context: str = "",
        instruction: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> tuple[list[str], GenerationStats]:
        """Continue `render_prefix(context, instruction=instruction) + prompt` for each prompt: greedy when
        temperature is 0, else sampled with `seed`. Each output is cut before the first stop string. Returns the
        outputs and what they consumed."""

    def generate(
        self,
        prompts: Sequence[str],
        *,
        context: str = "",
        instruction: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> list[str]:
        """`generate_with_stats` without the stats."""
        texts, _ = self.generate_with_stats(
            prompts, context=context, instruction=instruction, max_new_tokens=max_new_tokens,
            temperature=temperature, seed=seed, stop=stop,
        )
        return texts

    def generate_requests(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> tuple[list[str], GenerationStats]:
        """Continue each request's `render_prefix(context, instruction=instruction) + prompt`, contexts differing
        from one request to the next (augmentation: one prompt per document). This default makes one
        `generate_with_stats` call per distinct context; a backend that can share work across contexts (a common
        token prefix, batching) overrides it."""
        out: list[str] = [""] * len(requests)
        total = GenerationStats()
        groups: dict[tuple[str, str | None], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.context, r.instruction), []).append(i)
        for (context, instruction), idx in groups.items():
            texts, stats = self.generate_with_stats(
                [requests[i].prompt for i in idx], context=context, instruction=instruction,
                max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, stop=stop,
            )
            for i, t in zip(idx, texts, strict=True):
                out[i] = t
            total.merge(stats)
        return out, total

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens in `text`, without any special tokens the tokenizer would add around it."""

    @abstractmethod
    def render_prefix(self, context: str, *, instruction: str | None = None) -> str:
        """The text that precedes every question prompt given this context (chat template applied if any);
        `instruction` replaces the default instruction (see `adaptlab.models.prompts.render_prefix`)."""


class TrainableModel(LanguageModel):
    """The weights-level contract, added by backends whose weights live in this process and can be trained."""

    tokenizer: Any  # a Hugging Face tokenizer
    device: str

    @property
    @abstractmethod
    def torch_model(self) -> Any:
        """The torch module whose weights fine-tuning trains (a copy of it: the model itself is not changed)."""

    @abstractmethod
    def encode_prefix(self, text: str) -> list[int]:
        """Token ids of a text that starts a sequence, with the special tokens the model expects there."""

    @abstractmethod
    def with_weights(self, model: Any, *, name: str) -> TrainableModel:
        """The same backend (tokenizer, prompt format, settings) around another torch module, e.g. a trained one."""

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        return int(pad if pad is not None else 0)


def require_trainable(model: LanguageModel, what: str) -> TrainableModel:
    """`model` as a `TrainableModel`, or a one-line error saying what to do."""
    if isinstance(model, TrainableModel):
        return model
    raise AdaptlabError(
        f"{what} needs the model's weights, and {model.name} has none here (it is a served model): fine-tune a "
        "local model (an alias, a folder or a hub id) and give the served model as `augmenter` to write its "
        "augmentations"
    )
