"""Pinned CPU kernels, so that the demo stores the same numbers on any x86-64 machine.

torch picks its CPU kernels by the instruction set it finds: ATen's vectorised operators (softmax, layer norm,
GELU, the optimizer's updates, reductions) by `ATEN_CPU_CAPABILITY` (default: the best the CPU has, AVX-512 or
AVX2), and MKL's matrix products by its own dispatch. Different kernels round differently; the differences are
~1e-5 nats in a forward pass, but fine-tuning at the demo's learning rate amplifies them into different weights
(tens of nats on some choices after 60 steps). Pinning both makes them the same on every machine:

- `ATEN_CPU_CAPABILITY=avx2`: ATen's AVX2 kernels (every x86-64 CPU since about 2015 has AVX2; on one without it,
  torch falls back to its own choice and the numbers may differ);
- `MKL_CBWR=COMPATIBLE`: MKL's conditional numerical reproducibility on its SSE2 branch, the one branch MKL
  promises gives the same results on Intel and non-Intel CPUs (`AVX2` is promised on Intel CPUs only).

oneDNN's instruction set (`ONEDNN_MAX_CPU_ISA`) changed nothing between AVX-512 and AVX2 (only below AVX2, on
CPUs this pin does not cover anyway), so it is left alone. The price: a demo fine-tuning run takes ~11.5 s instead
of ~6.8 s. benchmarks/kernel_pinning.py measures all of this (docs/reproducibility.md has the numbers).

A leaf module: it imports nothing from adaptlab, and never torch (the variables only work when set before
torch starts, and worker processes inherit them from the environment).
"""

from __future__ import annotations

import os

PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}


def pin_kernels() -> dict[str, str]:
    """Set `PINS` in this process's environment, each unless the user set it already (their choice is kept), and
    return the settings now in force. Call before torch is imported: torch reads them once, at start-up; worker
    processes started afterwards inherit them either way."""
    for key, value in PINS.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in PINS}
