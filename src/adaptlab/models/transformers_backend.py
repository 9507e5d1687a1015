"""`TransformersModel`: any Hugging Face causal LM, with shared-prefix scoring.

Prompt format (`render_prefix`): an instruction-tuned model with a chat template gets the context as the user
turn, followed by a short instruction (the paper prompts its instruction-tuned model with the documents, then asks
it to use them to answer), and then the generation prompt; the question prompt and the choice are scored as the
start of the assistant's reply. With an empty context the user turn is the instruction alone, so the
model is still in the same conversational setting. A base model (no chat template) gets `context + "\\n\\n"` (nothing
for an empty context) and its tokenizer's BOS. Every question that shares a context therefore shares one prefix.

Scoring (`score`) pays for each distinct prefix once:

1. plan (`scoring_plan`): tokenize, de-duplicate identical rows, group rows by prefix;
2. per prefix: run it through the decoder body once (in chunks, to bound memory) and keep its key/value cache;
3. run the (question, choice) suffixes after that cache, in one of two ways:
   - packed (the default where it is safe): the suffixes of a pack are laid end to end in ONE sequence after the
     prefix, each with position ids that restart right after the prefix and a 4D attention mask (boolean for
     SDPA, additive for eager attention) that lets a suffix see the whole prefix and its own earlier tokens
     only. The prefix cache stays at batch size 1: nothing is copied per row, and the prefix is copied once
     (`PrefixSlots`), not once per pack: each pack writes its keys/values after it in the same buffers, where a
     plain cache would concatenate prefix and pack anew. On a CPU packing made scoring ~2× faster end to end
     than the padded route, whose cost is copying and reading rows × prefix keys/values (SmolLM2, 50 questions
     × 4 choices on a 1000-token prefix: 16 s vs 28 s). Used when the model runs SDPA or eager attention
     (which take a 4D mask as given) and has no sliding-window or chunked attention (a custom mask would
     override it), and when a check on a few tokens at load time agrees with the padded route;
   - padded (the fallback, and the route used by `generate`): a batch of suffixes, longest first and sized by
     a token budget, gets a fresh cache whose tensors are the prefix cache expanded to the batch (a view; the
     model's concatenation makes the copy), right padding, position ids continuing after the prefix and a 2D
     attention mask over prefix + suffix;
4. gather the hidden states at the positions that predict choice tokens and apply the output head there only,
   then log-softmax those rows: no [batch, sequence, vocabulary] tensor is ever built.

Step 4 needs the model to be "decoder body, then output head". That is checked once per model on a few tokens
(`head(body(x)) == model(x).logits`); a model that post-processes its logits (soft-capping, scaling) fails the
check and is scored through its own forward with `logits_to_keep` set to the needed positions instead.

`score_naive` is the reference: one full forward per (question, choice) with the prefix included and a
log-softmax over every position, as lm-evaluation-harness does. Both give the same scores (within ~3e-5 on
summed log-probabilities in float32: only the order of floating-point operations differs).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from adaptlab.costs import Dims, Meter, attended_pairs, model_dims, text_config
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import (
    ChoiceScore,
    GenerationRequest,
    GenerationStats,
    ScoreRequest,
    ScoringStats,
    TrainableModel,
)
from adaptlab.models.hf_cache import CachedPrefix, PrefixSlots, expand_cache, suffix_inputs
from adaptlab.models.hf_generate import generate_after, shared_start
from adaptlab.models.hf_load import context_window_of, load_pretrained
from adaptlab.models.prompts import render_prefix
from adaptlab.models.scoring_plan import Plan, RequestProgress, Row, make_batches, make_packs, plan_requests


class TransformersModel(TrainableModel):
    """A Hugging Face causal LM behind the `LanguageModel` interface, trainable (`TrainableModel`).

    With a `prefix` (`with_prefix`), every prompt follows that prefix's cached positions, in scoring and in
    generation: they stand in the token plan as `prefix.positions` placeholder tokens, whose cache is the prefix's
    tensors (they are never run as tokens). The weights are shared with the model it was made from."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        max_batch_tokens: int | None = None,
        max_batch_rows: int = 64,
        max_pack_tokens: int | None = None,
        prefill_chunk: int = 2048,
        packing: bool | None = None,
        meta: dict[str, Any] | None = None,
        prefix: CachedPrefix | None = None,
    ):
        # Facts about the model that adaptlab needs (from `adaptlab.json` in its folder), e.g. how to prompt it
        # for augmentations.
        self.meta: dict[str, Any] = dict(meta or {})
        self.prefix = prefix
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = str(next(model.parameters()).device)
        self._dims = model_dims(model)
        self.n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        self.context_window = context_window_of(model, tokenizer)
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        # Padded tokens (rows × (prefix + longest suffix)) per forward: bounds the key/value cache of a batch.
        # Small on a CPU, where bigger batches were measured slower (copying the expanded prefix cache dominates).
        self.max_batch_tokens = max_batch_tokens or (65536 if self.device.startswith("cuda") else 4096)
        self.max_batch_rows = max_batch_rows
        # Suffix tokens per packed forward. Every packed token also attends to the other suffixes of its pack
        # (masked out, but computed), so packs stay short next to the prefix they share.
        self.max_pack_tokens = max_pack_tokens or (2048 if self.device.startswith("cuda") else 512)
        self.prefill_chunk = prefill_chunk
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self._dtype = next(model.parameters()).dtype
        self._body, self._head = self._split_head()
        # SDPA takes a boolean mask (True: attend) and computes the same values as with the additive float mask
        # eager attention needs, ~20 % faster on a CPU for SmolLM2 (a 4× smaller mask read for every head).
        self._boolean_mask = getattr(text_config(model), "_attn_implementation", None) == "sdpa"
        # None: decide from the model (see `_packing_supported`); False forces the padded route.
        self.packing = self._packing_supported() if packing is None else packing

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str | torch.dtype | None = None,
        trust_remote_code: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> TransformersModel:
        """Load a hub id or a local folder (safetensors weights only), or a GGUF file inside folder `source`
        (see `adaptlab.models.hf_load`)."""
        model, tokenizer, meta = load_pretrained(source, gguf_file=gguf_file, device=device, dtype=dtype,
                                                 trust_remote_code=trust_remote_code)
        if meta is not None:
            kwargs.setdefault("meta", meta)
        return cls(model, tokenizer, name=name or str(source), **kwargs)

    @property
    def torch_model(self) -> Any:
        return self.model

    def with_weights(self, model: Any, *, name: str) -> TransformersModel:
        """This backend's tokenizer, metadata and batching settings around another torch module."""
        return type(self)(
            model, self.tokenizer, name=name, max_batch_tokens=self.max_batch_tokens,
            max_batch_rows=self.max_batch_rows, max_pack_tokens=self.max_pack_tokens,
            prefill_chunk=self.prefill_chunk, meta=dict(self.meta),
        )

    def with_prefix(self, prefix: CachedPrefix, *, name: str) -> TransformersModel:
        """This model, weights shared, with `prefix`'s cached positions before every prompt."""
        return type(self)(
            self.model, self.tokenizer, name=name, max_batch_tokens=self.max_batch_tokens,
            max_batch_rows=self.max_batch_rows, max_pack_tokens=self.max_pack_tokens,
            prefill_chunk=self.prefill_chunk, meta=dict(self.meta), prefix=prefix,
        )

    @property
    def reused_positions(self) -> int:
        return 0 if self.prefix is None else self.prefix.positions

    @property
    def dims(self) -> Dims:
        return self._dims

    def unknown_token_share(self, texts: Sequence[str]) -> float | None:
        unk = self.tokenizer.unk_token_id
        if unk is None:
            return None
        ids = [i for text in texts for i in self.tokenizer(text, add_special_tokens=False)["input_ids"]]
        return sum(i == unk for i in ids) / max(len(ids), 1)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the weights (names, shapes, values), so caches of this model's outputs (generations) are
        never reused for other weights that carry the same name (e.g. a retrained `organism`)."""
        h = hashlib.sha256()
        for key, tensor in self.model.state_dict().items():
            data = tensor.detach().to("cpu").contiguous()
            h.update(f"{key}:{tuple(data.shape)}:{data.dtype}".encode())
            h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
        return h.hexdigest()[:16]

    def _split_head(self) -> tuple[Any, Any]:
        """(decoder body, output head) if `head(body(x))` reproduces the model's logits, else (None, None)."""
        try:
            body, head = self.model.get_decoder(), self.model.get_output_embeddings()
        except (AttributeError, NotImplementedError, ValueError):
            return None, None
        if body is None or head is None or body is self.model:
            return None, None
        ids = torch.tensor([[self.pad_id, 1, 2, 3, 4, 5]], device=self.device) % self.dims.vocab
        with self._inference():
            try:
                want = self.model(input_ids=ids, use_cache=False).logits.float()
                got = head(body(input_ids=ids, use_cache=False).last_hidden_state).float()
            except Exception:  # any failure just means "use the model's own forward"
                return None, None
        scale = want.abs().max().clamp(min=1.0)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-3 * float(scale), rtol=1e-3):
            return None, None
        return body, head

    def _packing_supported(self) -> bool:
        """Whether suffixes may be packed into one sequence with a custom 4D mask (see the module docstring)."""
        config = text_config(self.model)
        if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
            return False
        if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
            return False
        if any(t != "full_attention" for t in getattr(config, "layer_types", None) or ()):
            return False
        if getattr(config, "attention_chunk_size", None):
            return False
        # A numeric check: two suffixes after a short prefix, packed vs padded.
        vocab = max(self.dims.vocab, 2)
        prefix = [(7 * i + 3) % vocab for i in range(6)]
        rows = [
            Row(0, tuple((11 * i + 5) % vocab for i in range(9)), 4),
            Row(0, tuple((13 * i + 1) % vocab for i in range(7)), 3),
        ]
        stats, meter = ScoringStats(), Meter("cpu", self.dims.param_bytes)
        try:
            with self._inference():
                cache = self._prefill(prefix, stats, meter)
                padded = self._score_padded(cache, len(prefix), rows, stats, meter)
                packed = self._score_packed(cache, len(prefix), rows, stats, meter)
        except Exception:  # any failure means "not supported": use the padded route
            return False
        tolerance = 1e-3 if self._dtype == torch.float32 else 3e-2
        return all(abs(a - b) <= tolerance * max(1.0, abs(a)) for a, b in zip(padded, packed, strict=True))

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """No autograd, and the model in eval mode (no dropout) for the duration only: a wrapped model that is
        being trained (e.g. probed between training steps) goes back to training mode afterwards."""
        training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.model.train(training)

    # ----------------------------------------------------------------- text

    def render_prefix(self, context: str, *, instruction: str | None = None) -> str:
        """The text before every question prompt (`adaptlab.models.prompts.render_prefix`, with this tokenizer's
        chat template if it has one)."""
        return render_prefix(context, instruction=instruction, chat=self._chat_template if self.chat else None)

    def _chat_template(self, user: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def encode_prefix(self, text: str) -> list[int]:
        """A chat prefix spells its special tokens out; a base model's prefix gets the tokenizer's own (BOS)."""
        ids = list(self.tokenizer(text, add_special_tokens=not self.chat).input_ids)
        return ids if self.prefix is None else [self.pad_id] * self.prefix.positions + ids

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def _plan(self, requests: Sequence[ScoreRequest], dedupe: bool) -> Plan:
        return plan_requests(
            requests,
            share=dedupe,
            render_prefix=self.render_prefix,
            encode_prefix=self.encode_prefix,
            encode=self.encode,
            context_window=self.context_window,
            model_name=self.name,
            dedupe=dedupe,
        )

    # ----------------------------------------------------------------- scoring

    def score(
        self,
        requests: Sequence[ScoreRequest],
        *,
        progress: Callable[[int], None] | None = None,
        naive: bool = False,
    ) -> tuple[list[list[ChoiceScore]], ScoringStats]:
        if naive:
            return self.score_naive(requests, progress=progress)
        plan = self._plan(requests, dedupe=True)
        stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))
        logprobs: list[float] = [0.0] * len(plan.rows)
        tracker = RequestProgress(plan, progress)
        with self._inference(), Meter(self.device, self.dims.param_bytes) as meter:
            for p, row_ids in plan.rows_by_prefix().items():
                prefix = plan.prefixes[p]
                cache = self._prefill(prefix, stats, meter)
                lengths = [len(plan.rows[r].suffix) for r in row_ids]
                if self.packing:
                    groups = make_packs(lengths, self.max_pack_tokens, 4 * self.max_batch_rows)
                    run = self._score_packed
                    if PrefixSlots.supports(cache):
                        cache = PrefixSlots(cache, max(sum(lengths[g] for g in group) for group in groups))
                else:
                    groups = make_batches(lengths, len(prefix), self.max_batch_tokens, self.max_batch_rows)
                    run = self._score_padded
                for group in groups:
                    rows = [row_ids[g] for g in group]
                    values = run(cache, len(prefix), [plan.rows[r] for r in rows], stats, meter)
                    for r, v in zip(rows, values, strict=True):
                        logprobs[r] = v
                    tracker.done(rows)
        stats.seconds, stats.peak_memory_bytes = meter.seconds, int(meter.peak)
        return self._collect(requests, plan, logprobs), stats

    def score_naive(
        self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[list[ChoiceScore]], ScoringStats]:
        """The reference scorer: one full forward per (request, choice), prefix included, full log-softmax."""
        if self.prefix is not None:
            raise AdaptlabError("naive scoring runs whole token sequences; a cached prefix is none")
        plan = self._plan(requests, dedupe=False)
        stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))
        logprobs: list[float] = [0.0] * len(plan.rows)
        with self._inference(), Meter(self.device, self.dims.param_bytes) as meter:
            for rows in plan.index:
                for r in rows:
                    row = plan.rows[r]
                    seq = plan.prefixes[row.prefix] + row.suffix
                    ids = torch.tensor([seq], device=self.device)
                    logits = self.model(input_ids=ids, use_cache=False).logits[0].float()
                    logp = torch.log_softmax(logits, dim=-1)
                    n, c = len(seq), row.n_target
                    targets = ids[0, n - c :]
                    logprobs[r] = float(logp[n - c - 1 : n - 1].gather(1, targets[:, None]).sum())
                    stats.tokens_prefilled += n
                    stats.flops += self.dims.flops(n, n, attended_pairs(0, n))
                    meter.see(self.dims.forward_bytes(1, 0, n, n))
                if progress:
                    progress(1)
        stats.seconds, stats.peak_memory_bytes = meter.seconds, int(meter.peak)
        return self._collect(requests, plan, logprobs), stats

    def _collect(self, requests: Sequence[ScoreRequest], plan: Plan, logprobs: list[float]) -> list[list[ChoiceScore]]:
        return [
            [
                ChoiceScore(logprob=logprobs[r], n_tokens=plan.rows[r].n_target, n_chars=len(choice))
                for r, choice in zip(rows, req.choices, strict=True)
            ]
            for req, rows in zip(requests, plan.index, strict=True)
        ]

    def _prefill(self, prefix: Sequence[int], stats: ScoringStats | GenerationStats, meter: Meter) -> Any:
        """Run the prefix once (in chunks) and return its key/value cache; None for an empty prefix. With a cached
        prefix (`with_prefix`), its placeholder positions come from its tensors and the rest is run after them."""
        if not prefix:
            return None
        skip = 0 if self.prefix is None else self.prefix.positions
        if self.prefix is None:
            cache = DynamicCache(config=self.model.config)
        else:
            with torch.no_grad():
                cache = self.prefix.cache(1)
            stats.tokens_reused += skip
        for start in range(skip, len(prefix), self.prefill_chunk):
            chunk = prefix[start : start + self.prefill_chunk]
            ids = torch.tensor([chunk], device=self.device)
            positions = torch.arange(start, start + len(chunk), device=self.device)[None]
            if self._body is not None:
                self._body(input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True)
            else:
                self.model(
                    input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1
                )
            stats.tokens_prefilled += len(chunk)
            stats.flops += self.dims.flops(
                len(chunk), 0 if self._body is not None else 1, attended_pairs(start, len(chunk))
            )
            meter.see(self.dims.forward_bytes(1, start, len(chunk), 1))
        return cache

    def _score_padded(
        self, cache: Any, n_prefix: int, rows: Sequence[Row], stats: ScoringStats, meter: Meter
    ) -> list[float]:
        """Score rows as a right-padded batch after the prefix cache expanded to the batch."""
        inputs, lengths = suffix_inputs(self.model, cache, n_prefix, [r.suffix for r in rows], left_pad=False,
                                        pad_id=self.pad_id, device=self.device)
        b_idx, t_idx = [], []
        for b, row in enumerate(rows):
            n, c = len(row.suffix), row.n_target
            b_idx += [b] * c
            t_idx += range(n - c - 1, n - 1)  # position t predicts token t + 1
        values = self._choice_logprobs(inputs, b_idx, t_idx, rows)
        n_real = int(lengths.sum())
        stats.tokens_prefilled += n_real
        stats.tokens_reused += n_prefix * len(rows)
        stats.flops += self.dims.flops(n_real, len(t_idx), sum(attended_pairs(n_prefix, int(n)) for n in lengths))
        meter.see(self.dims.forward_bytes(len(rows), n_prefix, int(lengths.max()), len(t_idx)))
        return values

    def _score_packed(
        self, cache: Any, n_prefix: int, rows: Sequence[Row], stats: ScoringStats, meter: Meter
    ) -> list[float]:
        """Score rows laid end to end in one sequence after the prefix cache (batch size 1), with a 4D additive
        mask: each suffix sees the prefix and its own earlier tokens. `cache` is the prefix's cache, or its
        `PrefixSlots` (the pack's keys/values written after the prefix in place, instead of a copy of the prefix
        per pack)."""
        lengths = [len(r.suffix) for r in rows]
        total = sum(lengths)
        segment = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor(lengths))
        local = torch.cat([torch.arange(n) for n in lengths])
        allowed = (segment[:, None] == segment[None, :]) & (local[:, None] >= local[None, :])
        if self._boolean_mask:
            mask = torch.ones((total, n_prefix + total), dtype=torch.bool)
            mask[:, n_prefix:] = allowed
        else:
            mask = torch.zeros((total, n_prefix + total), dtype=self._dtype)
            mask[:, n_prefix:].masked_fill_(~allowed, torch.finfo(self._dtype).min)
        inputs = {
            "input_ids": torch.tensor([[t for r in rows for t in r.suffix]], device=self.device),
            "attention_mask": mask[None, None].to(self.device),
            "position_ids": (local + n_prefix)[None].to(self.device),
            "past_key_values": cache.cache(total) if isinstance(cache, PrefixSlots)
            else expand_cache(cache, 1) if cache is not None
            else DynamicCache(config=self.model.config),
            "use_cache": True,
        }
        t_idx, offset = [], 0
        for row, n in zip(rows, lengths, strict=True):
            t_idx += range(offset + n - row.n_target - 1, offset + n - 1)
            offset += n
        values = self._choice_logprobs(inputs, [0] * len(t_idx), t_idx, rows)
        stats.tokens_prefilled += total
        stats.tokens_reused += n_prefix * len(rows)
        # Counted as useful work: each suffix token attends to the prefix and its own suffix. The masked-out
        # pairs between suffixes of one pack are computed too but are overhead, not part of the estimate.
        stats.flops += self.dims.flops(total, len(t_idx), sum(attended_pairs(n_prefix, n) for n in lengths))
        meter.see(self.dims.forward_bytes(1, n_prefix, total, len(t_idx)) + mask.numel() * mask.element_size())
        return values

    def _choice_logprobs(
        self, inputs: dict[str, Any], b_idx: list[int], t_idx: list[int], rows: Sequence[Row]
    ) -> list[float]:
        """Run the forward, take the hidden states at (b_idx, t_idx) — the positions that predict the choice
        tokens, in row order — apply the output head there only, and sum each row's target log-probabilities."""
        b_t = torch.tensor(b_idx, device=self.device)
        t_t = torch.tensor(t_idx, device=self.device)
        if self._body is not None:
            hidden = self._body(**inputs).last_hidden_state
            logits = self._head(hidden[b_t, t_t])
        else:
            keep = sorted(set(t_idx))
            where = {t: k for k, t in enumerate(keep)}
            out = self.model(**inputs, logits_to_keep=torch.tensor(keep, device=self.device))
            logits = out.logits[b_t, torch.tensor([where[t] for t in t_idx], device=self.device)]
        targets = torch.tensor(
            [t for row in rows for t in row.suffix[len(row.suffix) - row.n_target :]], device=self.device
        )
        picked = torch.log_softmax(logits.float(), dim=-1).gather(1, targets[:, None]).squeeze(1)
        owner = torch.repeat_interleave(
            torch.arange(len(rows), device=self.device), torch.tensor([r.n_target for r in rows], device=self.device)
        )
        sums = torch.zeros(len(rows), dtype=torch.float64, device=self.device)
        return sums.index_add_(0, owner, picked.double()).tolist()

    # ----------------------------------------------------------------- generation

    def generate_with_stats(
        self,
        prompts: Sequence[str],
        *,
        context: str = "",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
        instruction: str | None = None,
    ) -> tuple[list[str], GenerationStats]:
        """`generate`, plus what it consumed. The prefix `render_prefix(context)` is prefilled once and its cache
        shared by every prompt (as in scoring); prompts are batched longest first with left padding between
        prefix and prompt. Generation stops at an end-of-sequence token, when every row contains a stop string,
        or after `max_new_tokens` (fewer if the context window is reached)."""
        prefix = self.encode_prefix(self.render_prefix(context, instruction=instruction))
        # The prefix's last token goes with each prompt, so every row has at least one token to run.
        return generate_after(self, prefix[:-1], [prefix[-1:] + self.encode(p) for p in prompts], max_new_tokens,
                              temperature, seed, stop)

    def generate_requests(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> tuple[list[str], GenerationStats]:
        """Requests with different contexts in shared batches: the tokens every request starts with (a chat
        template, few-shot examples, a corpus) are prefilled once, and the rest of each request is a row of a
        left-padded batch. The token sequences are those `generate_with_stats` runs, split elsewhere."""
        if not requests:
            return [], GenerationStats()
        sequences = [self.encode_prefix(self.render_prefix(r.context, instruction=r.instruction))
                     + self.encode(r.prompt) for r in requests]
        n = shared_start(sequences)  # every row keeps at least one token to run
        return generate_after(self, sequences[0][:n], [s[n:] for s in sequences], max_new_tokens, temperature, seed,
                              stop)
