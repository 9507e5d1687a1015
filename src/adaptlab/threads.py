"""How many CPU threads torch and OpenMP use: physical cores, one for a small model, and sleeping idle threads.

A leaf module: it imports nothing from adaptlab, and torch only inside `configure_threads`."""

from __future__ import annotations

import os
from pathlib import Path

ONE_THREAD_BELOW = 5_000_000  # parameters


def passive_wait() -> None:
    """Make idle OpenMP threads sleep instead of spin (`OMP_WAIT_POLICY=PASSIVE`, unless set), so that processes
    sharing a small machine do not slow each other down. Only takes effect before the OpenMP runtime starts (before
    torch runs its first parallel region): `adaptlab.models` calls it on import for that reason."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads do not help matrix products)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    try:
        text = Path("/proc/cpuinfo").read_text()
        pairs, physical = set(), "0"
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "physical id":
                physical = value.strip()
            elif key.strip() == "core id":
                pairs.add((physical, value.strip()))
        cores = len(pairs) or available
    except OSError:
        cores = available
    return max(1, min(cores, available))


def configure_threads(n_params: int | None = None) -> int:
    """Set torch's intra-op threads from `OMP_NUM_THREADS`, else the number of physical cores — or one for a model
    of fewer than `ONE_THREAD_BELOW` parameters, whose matrix products are too small to share (the organism's demo
    took 6 min 38 s on 2 threads, 3 min 34 s on one) — and make idle OpenMP threads sleep (`passive_wait`).
    Returns the thread count.

    OMP_WAIT_POLICY only takes effect if set before the OpenMP runtime starts; `adaptlab.models` sets it on
    import for that reason, and it is set here too for callers that import this module first."""
    import torch

    passive_wait()
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        threads = int(value)
    else:
        threads = 1 if n_params is not None and n_params < ONE_THREAD_BELOW else physical_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
