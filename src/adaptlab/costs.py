"""Cost accounting: FLOPs estimates, timing and peak memory of a phase, and break-even arithmetic.

FLOPs follow the usual dense-transformer estimates (Kaplan et al. 2020): a forward pass costs 2·N FLOPs per token
for the weights (N = non-embedding-dominated parameter count; we use all parameters, a small overestimate) plus
the attention term 4·L·d per token per position attended (L layers, width d); training costs 3× the forward
(forward + backward ≈ 6·N per token). These are estimates for comparing options, not measurements.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    n_params: int
    n_layers: int = 0
    d_model: int = 0


def forward_flops(shape: ModelShape, new_tokens: int, past_tokens: int = 0) -> float:
    """FLOPs to run `new_tokens` tokens after `past_tokens` cached ones (causal attention)."""
    dense = 2.0 * shape.n_params * new_tokens
    # each new token i attends to past_tokens + i positions; sum = new*past + new*(new+1)/2
    attended = new_tokens * past_tokens + new_tokens * (new_tokens + 1) / 2
    return dense + 4.0 * shape.n_layers * shape.d_model * attended


def train_flops(shape: ModelShape, tokens: float, seq_len: float, lora: bool = False) -> float:
    """FLOPs to train on `tokens` tokens in sequences of `seq_len`: forward + backward ≈ 3× the forward for full
    fine-tuning; 2× for LoRA, whose backward computes activation gradients but no base-weight gradients."""
    sequences = tokens / max(seq_len, 1)
    return (2.0 if lora else 3.0) * sequences * forward_flops(shape, round(seq_len))


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class Meter:
    seconds: float = 0.0
    peak_memory_bytes: int = 0


@contextmanager
def metered() -> Iterator[Meter]:
    """Time a block and record peak memory: CUDA peak allocated when a GPU is used, else the process peak RSS."""
    import torch

    meter = Meter()
    cuda = torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "x") != ""
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        yield meter
    finally:
        meter.seconds = time.perf_counter() - start
        meter.peak_memory_bytes = torch.cuda.max_memory_allocated() if cuda else peak_rss_bytes()


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
