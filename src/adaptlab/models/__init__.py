"""Language models: the interfaces (`base.LanguageModel`, `base.TrainableModel`), the prompt wording (`prompts`), a
transformers backend, a served backend for OpenAI-compatible servers (`served`), and the `load_model` registry.

Importing this package does not import torch; `load_model` does.
"""

from typing import Any

from adaptlab.threads import passive_wait

# Idle OpenMP threads should sleep rather than spin on shared CPUs; this only works if set before the OpenMP
# runtime starts (i.e. before torch runs its first parallel region), hence here, at import time.
passive_wait()

from adaptlab.models.base import ChoiceScore, GenerationStats, LanguageModel, ScoreRequest, ScoringStats  # noqa: E402


def load_model(
    spec: str, *, device: str = "auto", dtype: str | None = None, trust_remote_code: bool = False, **options: Any
) -> LanguageModel:
    """See `adaptlab.models.registry.load_model` (imported lazily: it pulls in torch and transformers)."""
    from adaptlab.models.registry import load_model as _load_model

    return _load_model(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code, **options)


__all__ = ["ChoiceScore", "GenerationStats", "LanguageModel", "ScoreRequest", "ScoringStats", "load_model"]
