"""The key/value cache of a shared prefix: expanded to a batch of rows, and a batch of suffixes laid out after it
(used by scoring's padded route and by generation)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


def expand_cache(cache: DynamicCache, rows: int) -> DynamicCache:
    """A fresh cache holding `cache`'s keys/values for `rows` sequences. The model appends the suffix to the
    cache it is given, so every batch needs its own object; the prefix tensors themselves are shared as
    expanded views (the model's concatenation makes the only copy)."""
    if all(isinstance(layer, DynamicLayer) for layer in cache.layers):
        out = copy.copy(cache)
        out.layers = []
        for layer in cache.layers:
            new = copy.copy(layer)
            if layer.is_initialized and layer.keys is not None and layer.keys.numel():
                new.keys = layer.keys.expand(rows, -1, -1, -1)
                new.values = layer.values.expand(rows, -1, -1, -1)
            out.layers.append(new)
        return out
    # Other layer types (e.g. the short-convolution states of LFM2-style models): copy, then select the one
    # prefix row `rows` times.
    out = copy.deepcopy(cache)
    out.reorder_cache(torch.zeros(rows, dtype=torch.long))
    return out


def suffix_inputs(
    model: Any, cache: Any, n_prefix: int, suffixes: Sequence[Sequence[int]], *, left_pad: bool, pad_id: int,
    device: str,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Model inputs for a batch of suffixes after a cached prefix: padded ids, the attention mask over
    prefix + suffix, positions continuing after the prefix, and a fresh expanded cache. Right padding for
    scoring; left padding (placed between prefix and suffix) for generation, so that every row's next token
    is the last column. Returns the inputs and the per-row suffix lengths."""
    rows, width = len(suffixes), max(len(s) for s in suffixes)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, n_prefix + width), dtype=torch.long)
    mask[:, :n_prefix] = 1
    positions = torch.full((rows, width), n_prefix, dtype=torch.long)  # padding: any valid position (masked)
    for b, s in enumerate(suffixes):
        start = width - len(s) if left_pad else 0
        ids[b, start : start + len(s)] = torch.tensor(s, dtype=torch.long)
        mask[b, n_prefix + start : n_prefix + start + len(s)] = 1
        positions[b, start : start + len(s)] = torch.arange(n_prefix, n_prefix + len(s))
    inputs = {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "position_ids": positions.to(device),
        "past_key_values": expand_cache(cache, rows)
        if cache is not None
        else DynamicCache(config=model.config),
        "use_cache": True,
    }
    return inputs, torch.tensor([len(s) for s in suffixes])


class CachedPrefix(Protocol):
    """Cached positions that hold no text, before every prompt (a trained memory): `positions` of them, whose
    key/value cache `cache(rows)` builds for a batch of `rows` sequences."""

    positions: int

    def cache(self, rows: int) -> Any: ...
