"""Generation for the transformers backend: a shared prefix prefilled once, then rows continued after it.

`generate_after` prefills the tokens every row starts with once (through the model's `_prefill`, so a backend that
prefills otherwise, e.g. with a trained memory, generates with it too) and continues each row's own tokens after
that cache, in batches longest first with left padding between prefix and row, greedy or sampled."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from adaptlab.costs import Dims, Meter, attended_pairs
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import GenerationStats
from adaptlab.models.hf_cache import suffix_inputs
from adaptlab.models.scoring_plan import make_batches


class PrefixCacheModel(Protocol):
    """What generation needs of a backend (`TransformersModel` is one): the model and tokenizer, its limits and
    batching settings, and its prefill and inference-mode steps."""

    name: str
    device: str
    context_window: int
    max_batch_tokens: int
    max_batch_rows: int
    pad_id: int
    dims: Dims
    model: Any
    tokenizer: Any
    _body: Any
    _head: Any

    def _inference(self) -> AbstractContextManager[None]: ...

    def _prefill(self, prefix: Sequence[int], stats: GenerationStats, meter: Meter) -> Any: ...


def shared_start(sequences: Sequence[Sequence[int]]) -> int:
    """How many tokens every sequence starts with, leaving every sequence at least one token of its own."""
    n = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for s in sequences[1:]:
        n = next((i for i in range(n) if s[i] != first[i]), n)
    return n


def generate_after(
    lm: PrefixCacheModel,
    shared: list[int],
    suffixes: list[list[int]],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    stop: Sequence[str],
) -> tuple[list[str], GenerationStats]:
    """Prefill `shared` once, then continue each suffix after it, in batches longest first with left padding
    between prefix and suffix. Generation stops at an end-of-sequence token, when every row contains a stop
    string, or after `max_new_tokens` (fewer if the context window is reached). A model with layers other than
    attention (the short convolutions of an LFM2) would mix padding into its state, so its batches hold suffixes
    of one length."""
    if temperature < 0:
        raise AdaptlabError(f"temperature must be >= 0, got {temperature}")
    for i, s in enumerate(suffixes):
        if not s:
            raise AdaptlabError(f"generate: prompt {i} and the context are both empty")
        if len(shared) + len(s) >= lm.context_window:
            raise AdaptlabError(
                f"generate: prompt {i}: {len(shared) + len(s)} tokens with its context leave no room in the "
                f"context window of {lm.name} ({lm.context_window} tokens)"
            )
    stats = GenerationStats(prompts=len(suffixes))
    out: list[str] = [""] * len(suffixes)
    generator = torch.Generator(device=lm.device).manual_seed(seed)
    lengths = [len(s) for s in suffixes]
    width = len(shared) + max_new_tokens  # what each row's cache grows to, at most
    if attention_only(lm.model):
        batches = make_batches(lengths, width, lm.max_batch_tokens, lm.max_batch_rows)
    else:
        by_length: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            by_length.setdefault(n, []).append(i)
        batches = [[rows[i] for i in b] for rows in by_length.values()
                   for b in make_batches([lengths[r] for r in rows], width, lm.max_batch_tokens,
                                         lm.max_batch_rows)]
    with lm._inference(), Meter(lm.device, lm.dims.param_bytes) as meter:
        cache = lm._prefill(shared, stats, meter)
        for batch in batches:
            texts = _generate_batch(
                lm, cache, len(shared), [suffixes[i] for i in batch], max_new_tokens, temperature, generator, stop,
                stats, meter,
            )
            for i, text in zip(batch, texts, strict=True):
                out[i] = text
    stats.seconds, stats.peak_memory_bytes = meter.seconds, int(meter.peak)
    return out, stats


def attention_only(model: Any) -> bool:
    """Every layer attends (padding is masked); false for models with convolution or recurrent layers."""
    types = getattr(model.config, "layer_types", None)
    return not types or all("attention" in t for t in types)


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens that end a generation: the tokenizer's end of sequence, and the model's generation config's."""
    ids = {tokenizer.eos_token_id}
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    return {int(i) for i in ids if i is not None}


def _generate_batch(
    lm: PrefixCacheModel,
    cache: Any,
    n_prefix: int,
    suffixes: list[list[int]],
    max_new_tokens: int,
    temperature: float,
    generator: torch.Generator,
    stop: Sequence[str],
    stats: GenerationStats,
    meter: Meter,
) -> list[str]:
    rows = len(suffixes)
    inputs, lengths = suffix_inputs(lm.model, cache, n_prefix, suffixes, left_pad=True, pad_id=lm.pad_id,
                                    device=lm.device)
    width = int(lengths.max())
    steps = min(max_new_tokens, lm.context_window - n_prefix - width)
    mask, positions = inputs["attention_mask"], inputs["position_ids"][:, -1:]
    new_tokens: list[list[int]] = [[] for _ in range(rows)]
    active = [True] * rows
    eos = eos_ids(lm.model, lm.tokenizer)
    stats.tokens_prefilled += int(lengths.sum())
    stats.tokens_reused += n_prefix * rows
    stats.flops += lm.dims.flops(int(lengths.sum()), rows, sum(attended_pairs(n_prefix, int(n)) for n in lengths))
    meter.see(lm.dims.forward_bytes(rows, n_prefix, width + steps, rows))
    past = n_prefix + width
    for step in range(steps):
        logits = _last_logits(lm, inputs)
        if temperature > 0:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            next_ids = logits.float().argmax(dim=-1)
        for b, t in enumerate(next_ids.tolist()):
            if not active[b]:
                continue
            if t in eos:
                active[b] = False
                continue
            new_tokens[b].append(t)
            stats.tokens_generated += 1
            if stop and any(s in lm.tokenizer.decode(new_tokens[b]) for s in stop):
                active[b] = False
        if not any(active) or step == steps - 1:
            break
        next_ids = torch.where(torch.tensor(active, device=lm.device), next_ids, lm.pad_id)
        mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=mask.device)], dim=1)
        positions = positions + 1
        inputs = {
            "input_ids": next_ids[:, None],
            "attention_mask": mask,
            "position_ids": positions,
            "past_key_values": inputs["past_key_values"],
            "use_cache": True,
        }
        stats.flops += lm.dims.flops(rows, rows, rows * (past + 1))
        past += 1
    texts = []
    for tokens in new_tokens:
        text = lm.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((text.find(s) for s in stop if s and s in text), default=len(text))
        texts.append(text[:cut])
    return texts


def _last_logits(lm: PrefixCacheModel, inputs: dict[str, Any]) -> torch.Tensor:
    if lm._body is not None:
        return lm._head(lm._body(**inputs).last_hidden_state[:, -1])
    return lm.model(**inputs, logits_to_keep=1).logits[:, -1]
