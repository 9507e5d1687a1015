"""Adaptation methods by name."""

from __future__ import annotations

from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, MethodOptions, Prepared

_METHODS: dict[str, str] = {
    "pretrained": "adaptlab.methods.pretrained:Pretrained",
    "icl": "adaptlab.methods.icl:InContext",
    "rag": "adaptlab.methods.rag:Retrieved",
    "ft": "adaptlab.methods.finetuned:FineTuned",
    "ft-split": "adaptlab.methods.finetuned:FineTunedSplit",
    "aug-local-ft": "adaptlab.methods.finetuned:AugLocal",
    "aug-global-ft": "adaptlab.methods.finetuned:AugGlobal",
    "aug-ft": "adaptlab.methods.finetuned:AugBoth",
    "aug-oracle-ft": "adaptlab.methods.finetuned:AugOracle",
    "ft+rag": "adaptlab.methods.finetuned:FineTunedRag",
    "memory": "adaptlab.methods.memory:Memory",
}


def method_names() -> list[str]:
    return list(_METHODS)


def get_method(name: str, options: MethodOptions | None = None) -> Method:
    import importlib

    if name not in _METHODS:
        raise AdaptlabError(f"unknown method {name!r}; known: {', '.join(_METHODS)}")
    module, cls = _METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)(options)


__all__ = ["Method", "MethodOptions", "Prepared", "get_method", "method_names"]
