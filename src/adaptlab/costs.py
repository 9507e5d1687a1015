"""The one cost model: a model's shape, the FLOP formulas, the meter, deployment costs, and prices.

What is measured and what is estimated:
- **measured**: wall seconds of every phase; tokens processed, reused, generated and trained; on CUDA, peak
  allocated memory (`torch.cuda.max_memory_allocated`).
- **estimated**: FLOPs (the formulas below), memory on CPU (weights + the largest batch's key/value cache,
  activations and logits, or the training state: process RSS is neither per phase nor deterministic), the
  per-query cost of deployment (one query served alone, see `deployment_costs`), and everything projected to
  another model size or priced in dollars (`Prices`).

FLOPs of a forward pass (`Dims.flops`): 2·N_body·T + 2·d·V·T_logits + 4·L_attn·d_attn·A, where N_body = parameters
other than the embedding and output matrices, T = tokens run, T_logits = positions whose logits are computed, d·V
= the output matrix, L_attn = layers with attention (an LFM2's convolution layers have none; their cost is in
N_body), d_attn = heads × head size, and A = (query, key) pairs attended to (a query at position p attends to
p + 1 keys). With logits at every position it is the usual 2·N per token plus attention (Kaplan et al. 2020).
Training costs 3× the forward (forward + backward, weight gradients included), 2× for LoRA or a trained memory
(activation gradients only). A model known only by its parameter count (`Dims.from_params`) costs 2·N per token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from adaptlab.store import CostRow


@dataclass(frozen=True)
class Dims:
    """The model shape the cost estimates need."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    n_body: int  # parameters other than the embedding and output matrices
    dtype_bytes: int
    param_bytes: int
    attn_layers: int = -1  # layers with attention (a key/value cache); -1: all
    n_params: int = 0  # all parameters (0: n_body)

    @classmethod
    def from_params(cls, n_params: int, dtype_bytes: int = 2) -> Dims:
        """A model known only by its parameter count: 2·N FLOPs per token, no attention or cache estimate."""
        return cls(layers=0, hidden=0, intermediate=0, heads=0, kv_heads=0, head_dim=0, vocab=0, n_body=n_params,
                   dtype_bytes=dtype_bytes, param_bytes=n_params * dtype_bytes, attn_layers=0, n_params=n_params)

    @property
    def attention_layers(self) -> int:
        return self.layers if self.attn_layers < 0 else self.attn_layers

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.attention_layers * self.kv_heads * self.head_dim * self.dtype_bytes

    def cache_bytes(self, tokens: int) -> int:
        """Memory of the key/value cache of `tokens` positions (one sequence)."""
        return self.kv_bytes_per_token * tokens

    def flops(self, tokens: int, logits: int, attended: int) -> float:
        """2·N_body·T + 2·d·V·T_logits + 4·L_attn·d_attn·A (see the module docstring)."""
        return (
            2.0 * self.n_body * tokens
            + 2.0 * self.hidden * self.vocab * logits
            + 4.0 * self.attention_layers * self.heads * self.head_dim * attended
        )

    def forward_bytes(self, rows: int, past: int, new: int, logits: int) -> int:
        """Estimated memory of one forward beyond the weights: the key/value cache, the widest activations
        (MLP), one layer's attention scores, and the float32 logits with their log-softmax."""
        kv = self.kv_bytes_per_token * rows * (past + new)
        act = rows * new * (4 * self.hidden + 3 * self.intermediate) * self.dtype_bytes
        scores = rows * self.heads * new * (past + new) * self.dtype_bytes
        return kv + act + scores + 2 * logits * self.vocab * 4

    def training_bytes(self, trainable: int, rows: int, seq_len: int) -> int:
        """Estimated memory of a training step beyond the weights: gradients and two Adam moments (float32) of
        the trainable parameters, and every layer's activations kept for the backward pass."""
        state = 3 * 4 * trainable
        act = self.layers * rows * seq_len * (4 * self.hidden + 3 * self.intermediate) * self.dtype_bytes
        return state + act + self.forward_bytes(rows, 0, seq_len, rows * seq_len)


def attended_pairs(past: int, new: int) -> int:
    """(query, key) pairs when `new` tokens follow `past` cached ones causally: Σ_{t<new} (past + t + 1)."""
    return new * past + new * (new + 1) // 2


def text_config(model: Any) -> Any:
    """The language model's config (multimodal configs nest it)."""
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def model_dims(model: Any) -> Dims:
    """The shape of a transformers model (config + parameters)."""
    config = text_config(model)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0) or 1)
    head_dim = int(getattr(config, "head_dim", 0) or (hidden // heads if heads else 0))
    params = {id(p): p for p in model.parameters()}
    n_params = sum(p.numel() for p in params.values())
    matrices = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m}
    first = next(iter(params.values()))
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0) or 0)
    types = getattr(config, "layer_types", None)
    attn = sum(1 for t in types if "attention" in str(t) and "linear" not in str(t)) if types else layers
    return Dims(
        layers=layers,
        hidden=hidden,
        intermediate=int(getattr(config, "intermediate_size", 0) or 4 * hidden),
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", 0) or heads),
        head_dim=head_dim,
        vocab=int(getattr(config, "vocab_size", 0) or 0),
        n_body=n_params - sum(w.numel() for w in matrices.values()),
        dtype_bytes=first.element_size(),
        param_bytes=sum(p.numel() * p.element_size() for p in params.values()),
        attn_layers=attn,
        n_params=n_params,
    )


def forward_flops(dims: Dims, new_tokens: int, past_tokens: int = 0, logits: int = 1) -> float:
    """FLOPs to run `new_tokens` after `past_tokens` cached ones, with logits at `logits` positions (serving a
    query needs the next token's only)."""
    return dims.flops(new_tokens, logits, attended_pairs(past_tokens, new_tokens))


def train_flops(dims: Dims, tokens: float, seq_len: float, lora: bool = False) -> float:
    """FLOPs to train on `tokens` tokens in sequences of `seq_len` (logits at every position): forward + backward
    ≈ 3× the forward for full fine-tuning; 2× for LoRA, whose backward computes activation gradients but no
    base-weight gradients."""
    n = max(round(seq_len), 1)
    sequences = tokens / n
    return (2.0 if lora else 3.0) * sequences * dims.flops(n, n, attended_pairs(0, n))


# ----------------------------------------------------------------------------- the meter


class Meter:
    """Wall time and peak memory of one phase: CUDA's measured peak on a GPU; on CPU the largest estimate passed
    to `see` (0 when none was: nothing is claimed)."""

    def __init__(self, device: str = "cpu", base_bytes: int = 0):
        self.device = device
        self.cuda = device.startswith("cuda")
        self.base = base_bytes
        self.estimate = base_bytes
        self.seconds = 0.0
        self.peak = 0

    def __enter__(self) -> Meter:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start = time.perf_counter()
        return self

    def see(self, extra_bytes: int) -> None:
        """An estimate of the memory in use beyond `base_bytes` at some point of the phase."""
        self.estimate = max(self.estimate, self.base + int(extra_bytes))

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
        self.seconds = time.perf_counter() - self.start
        if self.cuda:
            import torch

            self.peak = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self.peak = self.estimate

    @property
    def peak_memory_bytes(self) -> int:
        """The measured CUDA peak, or the largest CPU estimate seen (also after the block has ended)."""
        return self.peak if self.cuda else max(self.peak, self.estimate)


@contextmanager
def metered(device: str | None = None, base_bytes: int = 0) -> Iterator[Meter]:
    """Meter a block (see `Meter`). `device` None: CUDA when torch sees a GPU, else CPU."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    with Meter(device, base_bytes) as meter:
        yield meter


# ----------------------------------------------------------------------------- deployment


# The phases `deployment_costs` estimates (a query served alone, with or without a prompt cache); every other
# phase's cost row is what the run measured.
ESTIMATED_PHASES = ("query", "cache_prefill", "query_cached")


class Deployable(Protocol):
    """What the deployment estimate needs of a model (every `LanguageModel` has it)."""

    @property
    def dims(self) -> Dims: ...

    def count_tokens(self, text: str) -> int: ...

    def render_prefix(self, context: str, *, instruction: str | None = None) -> str: ...


def deployment_costs(
    lm: Deployable, prompts: Sequence[str], contexts: Sequence[str], memory_positions: int = 0,
    answer_tokens: Sequence[int] | None = None,
) -> list[CostRow]:
    """What serving these queries costs, one at a time, estimated:

    - `query` (per query): the rendered context plus the question prefilled for every query, nothing kept between
      queries (after `memory_positions` cached positions of a trained memory, which are attended to but not run);
    - where contexts repeat (ICL), prompt caching: `cache_prefill` (kind `cache`: each distinct context's
      key/value cache computed once, and the bytes of holding them all as its memory) and `query_cached`
      (per query: only the question, attending to the cached context).

    `answer_tokens` (one per query; none by default) are the tokens a query generates (an open question's
    answer): each is one more forward step of one token after everything before it, counted in
    `tokens_processed` and `tokens_generated`.
    """
    dims = lm.dims
    prefix_tokens: dict[str, int] = {}
    tokens = reused = c_tokens = c_reused = generated = 0
    flops = c_flops = 0.0
    answers = answer_tokens if answer_tokens is not None else [0] * len(prompts)
    for prompt, ctx, g in zip(prompts, contexts, answers, strict=True):
        if ctx not in prefix_tokens:
            prefix_tokens[ctx] = lm.count_tokens(lm.render_prefix(ctx))
        p, q = prefix_tokens[ctx], lm.count_tokens(prompt)
        tokens += p + q + g
        reused += memory_positions
        flops += forward_flops(dims, p + q, memory_positions)
        c_tokens += q + g
        c_reused += p + memory_positions
        c_flops += forward_flops(dims, q, p + memory_positions)
        decode = sum(forward_flops(dims, 1, memory_positions + p + q + i) for i in range(g))
        flops += decode
        c_flops += decode
        generated += g
    plain = CostRow(phase="query", kind="per_query", tokens_processed=tokens, tokens_reused=reused,
                    tokens_generated=generated, flops=flops, queries=len(prompts))
    rows = [plain]
    if any(contexts) and len(prefix_tokens) < len(prompts):
        held = sum(dims.cache_bytes(n + memory_positions) for n in prefix_tokens.values())
        prefill = sum(forward_flops(dims, n, memory_positions, logits=0) for n in prefix_tokens.values())
        rows.append(CostRow(phase="cache_prefill", kind="cache", tokens_processed=sum(prefix_tokens.values()),
                            flops=prefill, peak_memory_bytes=held))
        rows.append(CostRow(phase="query_cached", kind="per_query", tokens_processed=c_tokens,
                            tokens_reused=c_reused, tokens_generated=generated, flops=c_flops,
                            queries=len(prompts)))
    return rows


# ----------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class TokenPrices:
    """An API's prices, dollars per million tokens: input, cached input (the server's prompt-cache hits, as its
    `usage` reports them) and output. The one price type for tokens: a served model's bill and a projection."""

    input: float = 0.0
    cached_input: float = 0.0
    output: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "output"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"prices must be numbers >= 0 (dollars per million tokens), got {name}={value!r}")

    @classmethod
    def parse(cls, text: str) -> TokenPrices:
        """`IN/CACHED/OUT` or `IN/OUT` (cached input then costs as much as input)."""
        parts = [float(p) for p in text.split("/")]
        if len(parts) == 2:
            return cls(parts[0], parts[0], parts[1])
        if len(parts) == 3:
            return cls(*parts)
        raise ValueError("prices are IN/CACHED/OUT or IN/OUT dollars per million tokens")

    def dollars(self, prompt: float, cached: float, completion: float) -> float:
        """`prompt` input tokens, `cached` of them served from the cache, and `completion` output tokens."""
        return ((prompt - cached) * self.input + cached * self.cached_input + completion * self.output) / 1e6


@dataclass
class Prices:
    """How compute becomes dollars. FLOPs are priced as GPU time (FLOPs / sustained throughput × price per hour),
    optionally projected to another model size (`params`: FLOPs scale with the parameter count); memory held
    (a prompt cache, a trained memory, an index) as the share of one GPU's memory it occupies while held.
    With API token prices, a query's input tokens are priced per token instead (cached input at its own price);
    one-off costs stay GPU time."""

    params: float | None = None  # project to this many parameters (None: the measured model)
    price_per_gpu_hour: float = 2.5  # dollars
    gpu_flops: float = 4e14  # sustained FLOP/s (≈ 40% of an H100's dense bf16 peak)
    gpu_memory_bytes: float = 80e9
    tokens: TokenPrices | None = None  # API token prices: a query's input tokens priced per token instead

    def scale(self, n_params: float) -> float:
        return self.params / n_params if self.params and n_params else 1.0

    def compute(self, flops: float, n_params: float) -> float:
        """Dollars for `flops` of the measured model (projected)."""
        return flops * self.scale(n_params) / self.gpu_flops / 3600 * self.price_per_gpu_hour

    def holding(self, nbytes: float, hours: float) -> float:
        """Dollars for keeping `nbytes` in GPU memory for `hours`. Not projected: a key/value cache grows with
        layers × key/value width, which a parameter count does not determine (grouped-query attention, dtype),
        so held memory is priced at the bytes of the measured model."""
        return nbytes / self.gpu_memory_bytes * self.price_per_gpu_hour * hours

    def query(self, flops: float, tokens: float, reused: float, n_params: float) -> float:
        """Dollars for one query: API token prices when given, else GPU time."""
        if self.tokens is None:
            return self.compute(flops, n_params)
        return self.tokens.dollars(prompt=tokens + reused, cached=reused, completion=0)


def break_even_queries(one_off_a: float, per_query_a: float, one_off_b: float, per_query_b: float) -> float:
    """Queries after which option A (e.g. fine-tuning) has cost less in total than option B (e.g. ICL).

    Returns 0 when A is never more expensive, `inf` when A never catches up."""
    extra = one_off_a - one_off_b
    saving = per_query_b - per_query_a
    if extra <= 0:
        return 0.0 if saving >= 0 else math.inf
    if saving <= 0:
        return math.inf
    return extra / saving
