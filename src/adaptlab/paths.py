"""Output folders checked before any work is done: a command that would fail to write its result says so at once,
as one line, instead of after minutes of computing (and losing) it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from adaptlab.errors import AdaptlabError


def writable_dir(path: Path | str, what: str = "output folder") -> Path:
    """`path` as a folder that exists and can be written: created (with its parents) if missing. A path that is
    a file, lies under a file, or cannot be created or written is an AdaptlabError naming it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AdaptlabError(f"{path}: {what} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AdaptlabError(f"{path}: cannot create {what} (a part of the path is a file)") from None
    except NotADirectoryError:
        raise AdaptlabError(f"{path}: cannot create {what} (a part of the path is a file)") from None
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot create {what} ({e.strerror})") from None
    # os.access answers for the permission bits only; a probe file also catches read-only file systems.
    try:
        fd, probe = tempfile.mkstemp(prefix=".adaptlab-write-check-", dir=path)
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot write to {what} ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def cache_dir() -> Path:
    """The folder for built and converted models and cached server answers: `$ADAPTLAB_CACHE`, default
    `~/.cache/adaptlab`."""
    path = Path(os.environ.get("ADAPTLAB_CACHE") or Path.home() / ".cache" / "adaptlab")
    if path.exists() and not path.is_dir():
        raise AdaptlabError(f"{path}: the cache folder (ADAPTLAB_CACHE) is a file")
    return path
