"""The key/value cache of a shared prefix: expanded to a batch of rows, and a batch of suffixes laid out after it
(used by scoring's padded route and by generation); or held at the front of preallocated buffers that each packed
forward writes its own keys/values after (`PrefixSlots`, scoring's packed route)."""

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


class _SlotLayer(DynamicLayer):
    """A `DynamicLayer` whose keys/values are views of the front of a preallocated buffer holding the prefix:
    `update` writes the new states right after the prefix, in place, where `DynamicLayer` would concatenate
    (copying the whole prefix for every forward). The tensors attention sees hold the same values in the same order
    as after a concatenation."""

    def __init__(self, layer: DynamicLayer, capacity: int):
        super().__init__()
        keys, values = layer.keys, layer.values
        assert keys is not None and values is not None
        self.n_prefix = keys.shape[-2]
        self.capacity = capacity
        self._keys = keys.new_empty((*keys.shape[:-2], capacity, keys.shape[-1]))
        self._values = values.new_empty((*values.shape[:-2], capacity, values.shape[-1]))
        self._keys[..., : self.n_prefix, :] = keys
        self._values[..., : self.n_prefix, :] = values
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        self.rewind()

    def rewind(self) -> None:
        """Back to the prefix alone (what a previous forward appended is dropped)."""
        self.keys = self._keys[..., : self.n_prefix, :]
        self.values = self._values[..., : self.n_prefix, :]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.keys is not None and self.values is not None
        start = self.keys.shape[-2]
        end = start + key_states.shape[-2]
        if end > self.capacity:  # more than was planned for: concatenate, as `DynamicLayer` does
            return super().update(key_states, value_states, *args, **kwargs)
        self._keys[..., start:end, :] = key_states
        self._values[..., start:end, :] = value_states
        self.keys = self._keys[..., :end, :]
        self.values = self._values[..., :end, :]
        return self.keys, self.values


class PrefixSlots:
    """A prefix's key/value cache, copied once into buffers with room for `room` more positions, from which
    `cache()` makes the cache of one forward at batch size 1 (scoring's packed route). One copy of the prefix per
    prefix instead of one per forward; the forwards must run one after another (each reuses the same buffers)."""

    def __init__(self, cache: DynamicCache, room: int):
        self.base = cache
        self.n_prefix = cache.get_seq_length()
        self.layers = [_SlotLayer(layer, self.n_prefix + room) for layer in cache.layers]

    @staticmethod
    def supports(cache: Any) -> bool:
        """Only plain `DynamicLayer`s at batch size 1 (not e.g. convolution states, whose update is no append)."""
        return isinstance(cache, DynamicCache) and all(
            type(layer) is DynamicLayer and layer.is_initialized and layer.keys is not None
            and layer.keys.numel() > 0 and layer.keys.shape[0] == 1
            for layer in cache.layers
        )

    def cache(self, room: int) -> DynamicCache:
        """A cache holding the prefix, for a forward that appends `room` positions (buffers grown if needed)."""
        if self.n_prefix + room > self.layers[0].capacity:
            self.layers = [_SlotLayer(layer, self.n_prefix + room) for layer in self.base.layers]
        out = copy.copy(self.base)
        for layer in self.layers:
            layer.rewind()
        out.layers = list(self.layers)
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
