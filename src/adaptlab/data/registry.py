"""Dataset names → generator modules, imported only when used.

A generator module defines `NAME`, `VERSION`, `DESCRIPTION` and
`generate(seed: int, track=identity, **params) -> Generated`. `track(iterable, description)` wraps long loops
so the CLI can show a progress bar; params are sizes and options with defaults (documented in the module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from adaptlab.data.io import write_dataset
from adaptlab.data.records import Manifest
from adaptlab.errors import AdaptlabError

T = TypeVar("T")

GENERATORS: dict[str, str] = {
    "simple-reversals": "adaptlab.data.simple_reversals",
    "simple-syllogisms": "adaptlab.data.simple_syllogisms",
    "semantic": "adaptlab.data.semantic",
    "reversal-curse": "adaptlab.data.reversal_curse",
    "celebrities": "adaptlab.data.celebrities",
    "process": "adaptlab.data.process",
}


def identity_track(items: Iterable[T], description: str = "") -> Iterable[T]:
    return items


def generator(name: str) -> ModuleType:
    if name not in GENERATORS:
        raise AdaptlabError(f"unknown dataset {name!r}; known: {', '.join(GENERATORS)}")
    return importlib.import_module(GENERATORS[name])


def make_dataset(
    name: str,
    seed: int,
    out: Path,
    params: dict[str, Any] | None = None,
    track: Callable[[Iterable[Any], str], Iterable[Any]] = identity_track,
) -> Manifest:
    """Generate dataset `name` with `seed` and write it to `out`."""
    module = generator(name)
    try:
        generated = module.generate(seed, track=track, **(params or {}))
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise AdaptlabError(f"{name}: {e}".replace("generate() ", "")) from None
        raise
    return write_dataset(out, module.NAME, module.VERSION, seed, generated, module.DESCRIPTION)
