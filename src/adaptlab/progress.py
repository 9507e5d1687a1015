"""Progress of long phases inside a run (fine-tuning steps and loss, generations), for whoever shows it.

The command line sets a listener for the duration of a job; library code reports through `report` and never
needs to know whether anyone listens (with no listener it costs nothing). A context variable, so that the
listener is the caller's own and never leaks into other threads' work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# (phase, done, total, detail) — e.g. ("fine-tuning", 120, 600, "loss 0.412")
Listener = Callable[[str, int, int, str], None]

_listener: ContextVar[Listener | None] = ContextVar("adaptlab_progress", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def report(phase: str, done: int, total: int, detail: str = "") -> None:
    listener = _listener.get()
    if listener is not None:
        listener(phase, done, total, detail)
