"""Adaptation methods by name."""

from __future__ import annotations

from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, Prepared
from adaptlab.methods.finetuned import PRESETS, FineTuned
from adaptlab.options import MethodOptions

_METHODS: dict[str, str] = {
    "pretrained": "adaptlab.methods.pretrained:Pretrained",
    "icl": "adaptlab.methods.icl:InContext",
    "rag": "adaptlab.methods.rag:Retrieved",
    "memory": "adaptlab.methods.memory:Memory",
}
# Fine-tuning methods are presets of one class: what each trains on is a row of `PRESETS`.
FINETUNED = tuple(PRESETS)


def base_method(label: str) -> str:
    """The method of a stored method label: `ft/continue` (an update run's method and path) → `ft`."""
    return label.split("/", 1)[0]


def is_control(name: str) -> bool:
    """A control, not a method to deploy: it learns from the generator's own answers (`aug-oracle-ft`'s valid
    inferences), which a user's data does not have. `name` may carry an update path (`aug-oracle-ft/retrain`)."""
    name = base_method(name)
    return name in PRESETS and "oracle" in PRESETS[name].augment_kinds


def method_names() -> list[str]:
    return [*_METHODS, *FINETUNED]


def get_method(name: str, options: MethodOptions | None = None) -> Method:
    import importlib

    if name in PRESETS:
        return FineTuned(options, preset=name)
    if name not in _METHODS:
        raise AdaptlabError(f"unknown method {name!r}; known: {', '.join(method_names())}")
    module, cls = _METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)(options)


__all__ = ["Method", "MethodOptions", "Prepared", "base_method", "get_method", "is_control", "method_names"]
