"""`load_model(spec)`: an alias, a local folder, a .gguf file, a Hugging Face hub id, or a served model
(`openai:http://HOST:PORT/v1#NAME`, see `adaptlab.models.served`) → a `LanguageModel`.

Aliases (`organism`, `tiny`, `smollm2`) are defined in `adaptlab.models.aliases`.

Weights are only ever read from safetensors or GGUF (never pickled `.bin` files), and model code from the hub
only runs with `trust_remote_code=True`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from adaptlab.errors import AdaptlabError
from adaptlab.models.aliases import ALIASES, alias_folder, alias_weights
from adaptlab.models.base import LanguageModel
from adaptlab.threads import configure_threads

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)


def _offline() -> bool:
    return any(
        os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _check_folder(folder: Path) -> str | None:
    """The GGUF file name to load from `folder` if that is what it holds; raise if it holds no usable model."""
    if (folder / "config.json").is_file() and any(folder.glob("*.safetensors")):
        return None
    ggufs = sorted(p.name for p in folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0]
    if len(ggufs) > 1:
        raise AdaptlabError(f"model folder {folder} holds several .gguf files ({', '.join(ggufs)}): name one")
    missing = [
        n
        for n, ok in (
            ("config.json", (folder / "config.json").is_file()),
            ("*.safetensors weights", any(folder.glob("*.safetensors"))),
        )
        if not ok
    ]
    extra = " (pickled .bin weights are not loaded)" if any(folder.glob("*.bin")) else ""
    raise AdaptlabError(f"model folder {folder} has no {' or '.join(missing)}{extra}")


WEIGHT_FILES = ("*.safetensors", "*.gguf", "config.json", "tokenizer.json", "adaptlab.json")
WHOLE_FILE_BELOW = 256 << 20  # bytes; larger files are fingerprinted by their size and first and last 16 MiB


def model_fingerprint(spec: str) -> str:
    """A digest of the weights a model spec names, so that a stored result is tied to the weights that produced
    it (an alias or folder whose weights change, e.g. a retrained organism, gives new run ids). Hub ids not in the
    local cache, and specs that are no files (served models), are fingerprinted by the spec itself."""
    source = alias_weights(spec)
    if source is None:
        path = Path(spec).expanduser()
        source = path if path.exists() else _hub_snapshot(spec)
    if source is None:
        return hashlib.sha256(spec.encode()).hexdigest()[:16]
    files = [source] if source.is_file() else sorted({f for pat in WEIGHT_FILES for f in source.glob(pat)})
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + _file_digest(f.resolve(), f.stat().st_size).encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        if size <= WHOLE_FILE_BELOW:
            h.update(f.read())
        else:
            h.update(f.read(16 << 20))
            f.seek(-(16 << 20), os.SEEK_END)
            h.update(f.read())
    return h.hexdigest()


def _hub_snapshot(spec: str) -> Path | None:
    if not HUB_ID.match(spec):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(spec, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def load_model(
    spec: str,
    *,
    device: str = "auto",
    dtype: str | None = None,
    trust_remote_code: bool = False,
    **options: Any,
) -> LanguageModel:
    """Load a model by alias (`tiny`, `smollm2`), local folder, `.gguf` file, hub id or `openai:` spec (whose
    options are in the spec; `device`, `dtype` and `options` do not apply to it). `options` go to
    `TransformersModel` (e.g. `max_batch_tokens`). Threads: see `configure_threads` (one for a small model)."""
    if spec.startswith("openai:"):  # a served model: nothing runs in this process
        from adaptlab.models.served import ServedModel

        return ServedModel.from_spec(spec)
    configure_threads()
    kwargs: dict[str, Any] = {"device": device, "dtype": dtype, "trust_remote_code": trust_remote_code, **options}
    lm = _load_spec(spec, kwargs)
    configure_threads(getattr(lm, "n_params", None))
    return lm


def _load_spec(spec: str, kwargs: dict[str, Any]) -> LanguageModel:
    from adaptlab.models.transformers_backend import TransformersModel

    source, gguf_file = resolve(spec)
    return _load(TransformersModel, source, gguf_file, spec, kwargs)


def resolve(spec: str) -> tuple[Path | str, str | None]:
    """Where a local model spec's weights are — (folder or hub id, GGUF file name or None) — without loading them;
    an unknown or unusable spec is the one-line error loading would give."""
    folder = alias_folder(spec)
    if folder is not None:
        return folder, None
    path = Path(spec).expanduser()
    if path.is_dir():
        return path, _check_folder(path)
    if path.is_file():
        if path.suffix != ".gguf":
            raise AdaptlabError(f"model file {spec!r} is not a .gguf file (give a model folder or a .gguf file)")
        return path.parent, path.name
    if spec.endswith(".gguf") or spec.startswith((".", "/", "~")):
        raise AdaptlabError(f"model {spec!r}: no such file or folder")
    offline = _offline()
    if HUB_ID.match(spec) and (_in_hf_cache(spec) or (not offline and _hub_reachable())):
        return spec, None
    why = " (offline: HF_HUB_OFFLINE is set)" if offline else ", and the hub cannot be reached"
    close = difflib.get_close_matches(spec, ALIASES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise AdaptlabError(
        f"unknown model {spec!r}: not an alias ({', '.join(ALIASES)}), not a local folder, not a .gguf file, "
        f"not in the Hugging Face cache{why}{hint}"
    )


def check_model(spec: str) -> None:
    """Stop now, with the one line loading would give, if `spec` names no model: before any work is done for it
    (datasets drawn, a config written). Nothing is loaded; a served spec's options are checked, not its server."""
    if spec.startswith("openai:"):
        from adaptlab.models.served_spec import parse_spec

        parse_spec(spec)
    elif spec in ALIASES:
        alias_weights(spec)  # its package or checkpoint is there (nothing is built or converted)
    else:
        resolve(spec)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (or the HTTPS proxy in front of it) answers a TCP connection within `timeout`
    seconds. Without a network, transformers would retry for about a minute before failing; this takes at most
    `timeout`, and when it says no, the hub is not tried at all (HF_HUB_OFFLINE is set for this process)."""
    import socket
    import threading
    from urllib.parse import urlsplit

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    endpoint = urlsplit(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)
    if not host:
        return False
    answered: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answered.append(True)
        except OSError:
            answered.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout of its own
    thread.start()
    thread.join(timeout)
    if answered == [True]:
        return True
    os.environ["HF_HUB_OFFLINE"] = "1"
    return False


def _load(cls: Any, source: Path | str, gguf_file: str | None, name: str, kwargs: dict[str, Any]) -> LanguageModel:
    try:
        return cls.from_pretrained(source, gguf_file=gguf_file, name=name, **kwargs)
    except AdaptlabError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, ImportError, SafetensorError) as exc:  # corrupt files too
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if len(detail) > 300:
            detail = detail[:299] + "…"
        raise AdaptlabError(f"could not load model {name!r} from {source}: {detail}") from exc
