"""Loading Hugging Face models and tokenizers: a hub id or a local folder (safetensors weights only, never pickled
`.bin` files), or a GGUF file inside a folder; the device and dtype to load onto; what adaptlab knows about a model
from its folder's `adaptlab.json`; and the context window a loaded model declares."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from adaptlab.costs import text_config
from adaptlab.errors import AdaptlabError
from adaptlab.models.aliases import alias_folder

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class _NoCudaKernelHintOnCpu(logging.Filter):
    """transformers suggests installing the CUDA `causal_conv1d` kernel whenever a short-convolution model (LFM2,
    the organism) runs without it; with no GPU there is nothing to install, so the hint is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return torch.cuda.is_available() or "causal_conv1d" not in record.getMessage()


logging.getLogger("transformers.integrations.hub_kernels").addFilter(_NoCudaKernelHintOnCpu())


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AdaptlabError(f"device {device!r} requested but CUDA is not available (use --device cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise AdaptlabError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)")
    return device


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """float32 on CPU (bfloat16 matmuls are slow there and less exact), bfloat16 on CUDA, unless asked."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise AdaptlabError(f"unknown dtype {dtype!r} ({', '.join(DTYPES)})")
    return DTYPES[dtype]


def context_window_of(model: Any, tokenizer: Any) -> int:
    config = text_config(model)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else 2048


def read_meta(source: str | Path) -> dict[str, Any] | None:
    """The facts adaptlab needs about a model (e.g. how to prompt it for augmentations), from `adaptlab.json` in
    its folder; None when there is none."""
    meta_file = Path(str(source)) / "adaptlab.json"
    return json.loads(meta_file.read_text()) if meta_file.is_file() else None


def load_pretrained(
    source: str | Path,
    *,
    gguf_file: str | None = None,
    device: str = "auto",
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any, dict[str, Any] | None]:
    """(model on its device, tokenizer, `adaptlab.json` facts or None) for a hub id or a local folder (safetensors
    weights only), or a GGUF file inside folder `source`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        common["gguf_file"] = gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(source), **common)
    weights = {} if gguf_file else {"use_safetensors": True}
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch_dtype, **weights, **common)
    model.to(device)
    return model, tokenizer, None if gguf_file else read_meta(source)


def load_tokenizer(spec: str) -> tuple[Any, dict[str, Any]]:
    """A tokenizer alone, for prompt formatting and counting (an alias, a model folder or a hub id), and the
    model's `adaptlab.json` facts ({} when there are none)."""
    from transformers import AutoTokenizer

    source: str | Path = alias_folder(spec) or spec
    meta = read_meta(source) or {}
    try:
        return AutoTokenizer.from_pretrained(str(source)), meta
    except (OSError, ValueError) as e:
        raise AdaptlabError(f"tokenizer {spec!r}: could not load ({' '.join(str(e).split())[:200]})") from None
