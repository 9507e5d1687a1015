"""A served model's spec, `openai:URL#NAME` or `openai:URL#key=value,...`: its options and how each is read.
Each value is parsed here (a word that is not a number, a yes/no option with another word: one line); ranges are
checked by `ServedModel` itself, so the Python API and the spec are held to the same rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaptlab.costs import TokenPrices
from adaptlab.errors import AdaptlabError

SPEC_PREFIX = "openai:"


def _switch(value: str) -> bool:
    """A yes/no option: on/off, yes/no, true/false, 1/0; anything else is refused, never read as off."""
    word = value.lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected on or off")


OPTIONS: dict[str, Callable[[str], Any]] = {
    "model": str,
    "tokenizer": str,
    "key_env": str,
    "context_window": int,
    "n_params": lambda v: int(float(v)),
    "concurrency": int,
    "timeout": float,
    "retries": int,
    "backoff": float,
    "max_wait": float,
    "prices": TokenPrices.parse,
    "protocol": str,
    "api": str,
    "cache": _switch,
    "check": _switch,
    "chat": _switch,
    "scoring": str,
}


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """`openai:URL#NAME` or `openai:URL#key=value,...` → (base URL, options)."""
    body = spec.removeprefix(SPEC_PREFIX)
    url, _, tail = body.partition("#")
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise AdaptlabError(f"model {spec!r}: expected openai:http(s)://HOST:PORT/v1#MODEL_NAME")
    options: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in tail.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            key, value = "model", item
        key = key.strip()
        if key not in OPTIONS:
            raise AdaptlabError(f"model {url}: unknown option {key!r} (known: {', '.join(OPTIONS)})")
        try:
            options[key] = OPTIONS[key](value.strip())
        except ValueError as e:
            raise AdaptlabError(f"model {url}: option {key}={value!r}: {e}") from None
    return url, options
