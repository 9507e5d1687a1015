"""Dataset names → generator modules, imported only when used.

A generator module defines `NAME`, `VERSION`, `DESCRIPTION` and
`generate(seed: int, track=identity, **params) -> Generated`. `track(iterable, description)` wraps long loops
so the CLI can show a progress bar; params are keyword-only sizes and options with defaults (documented in the
module). The defaults declare each parameter's type: `check_params` holds every `--set` and run-config `params`
to them before anything is generated.
"""

from __future__ import annotations

import importlib
import inspect
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


def parameters(name: str) -> dict[str, Any]:
    """The generator's parameters and their defaults (whose types are the parameters' types)."""
    signature = inspect.signature(generator(name).generate)
    return {p.name: p.default for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _convert(name: str, key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        ok = isinstance(value, bool)
    elif kind is int:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise AdaptlabError(f"{name}: parameter {key} must be {_TYPE_NAMES.get(kind, kind.__name__)}, got {value!r}")
    return value


def check_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` checked against the generator's declared parameters: unknown names and values of the wrong type
    are one-line errors. Text values (from `--set KEY=VALUE`) are converted to the parameter's type."""
    declared = parameters(name)
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if key not in declared:
            known = ", ".join(declared) or "none"
            raise AdaptlabError(f"{name}: unknown parameter {key!r}; known: {known}")
        checked[key] = _convert(name, key, value, declared[key])
    return checked


def parse_params(name: str, items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (`--set`) as the generator's typed parameters."""
    raw: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise AdaptlabError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        raw[key.strip().replace("-", "_")] = value
    return check_params(name, raw)


def make_dataset(
    name: str,
    seed: int,
    out: Path,
    params: dict[str, Any] | None = None,
    track: Callable[[Iterable[Any], str], Iterable[Any]] = identity_track,
) -> Manifest:
    """Generate dataset `name` with `seed` and write it to `out`."""
    module = generator(name)
    generated = module.generate(seed, track=track, **check_params(name, params or {}))
    return write_dataset(out, module.NAME, module.VERSION, seed, generated, module.DESCRIPTION)
